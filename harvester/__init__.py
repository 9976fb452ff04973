"""harvester: a scheduled harvester of iRacing's /data API into a SQLite archive."""

__version__ = "0.1.0"
