"""The statuses a run can have: one name per status, and the text stored in `runs.status`."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run's status. The value is the stored text (and what logs and `harvester runs` show),
    and a member equals its text, so rows read back as plain strings compare alike."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    MAINTENANCE = "maintenance"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


FINAL_STATUSES = tuple(status for status in RunStatus if status is not RunStatus.RUNNING)
