"""One `harvester start` per database: an exclusive lock on a file beside it.

The kernel releases a flock when its process dies, however it dies, so a crash never leaves a
stale lock behind; the file also holds the holder's pid, for the error the second start prints.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import ConfigError

ATTEMPTS = 5


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for attempt in range(ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # `holder()` (harvester status) holds a shared lock for an instant: look again
                if attempt < ATTEMPTS - 1:
                    time.sleep(0.05)
        else:
            os.close(fd)
            holder = self.holder()
            who = f"pid {holder}" if holder else "another process"
            raise ConfigError(
                f"harvester is already running on this database ({who}, lock {self.path}); "
                "stop it first, or point HARVESTER_DATABASE_URL elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid written by the holder, if the lock is held; None if nobody holds it."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = self.path.read_text().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def lock_path_for(database_url: str) -> Path:
    """`harvester.db.lock` beside a SQLite file; in the working directory otherwise."""
    from .db import sqlite_path

    database = sqlite_path(database_url)
    if database is None:
        return Path("harvester.lock")
    return database.with_name(database.name + ".lock")
