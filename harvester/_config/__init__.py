"""What the user configured: settings, jobs.yaml (its model, parser and loader), schedules as
triggers, parameter templates, and the /data catalogue the jobs are checked against."""
