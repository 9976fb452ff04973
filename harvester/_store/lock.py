"""One active `harvester start` per database.

On SQLite: an exclusive lock on a file beside it. The kernel releases a flock when its process
dies, however it dies, so a crash never leaves a stale lock behind; the file also holds the
holder's pid, for the error the second start prints. A second start on the same file stops.
A flock belongs to a file, not to its name, so a lock counts only while the path still names
the file locked: a start that locked a file deleted meanwhile tries the new one, and the holder
looks at the path every second (`still_held`): if the file was deleted or replaced it locks the
one now at the path at once, or, when another start was quicker, lets go (the service steps
down), so at most one service goes on.

On PostgreSQL: a lease (`_store.lease`), renewed by the active service and taken over by a
standby when it lapses or its holder's connection is gone. Several services on several hosts
may share the database; the one holding the lease is active, the others wait as standby.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from .._core.errors import ConfigError
from .db import is_postgres, sqlite_path
from .lease import DEFAULT_TTL, LeaseLock

if os.name == "posix":  # elsewhere harvester stops at start-up (harvester.posix)
    import fcntl

ATTEMPTS = 5


class ServiceLock(Protocol):
    """What the service needs of its lock, on either database."""

    supports_standby: bool

    def acquire(self) -> None: ...
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...
    def holder(self) -> int | None: ...


class InstanceLock:
    supports_standby = False  # one host: a second start is a mistake, not a standby

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.acquire()  # raises, naming the holder, when another process has it
        return True

    def still_held(self) -> bool:
        """True while the lock is ours: the path names the file locked, or named it no longer
        (deleted, replaced) and the file now there could be locked again at once."""
        if self._fd is None:
            return False
        if _names(self.path, self._fd):
            return True
        try:
            fd = self._take()
        except OSError:  # the folder takes no new file now: nobody else can make one either
            return True
        if fd is None:  # another process locked the file at the path first: it is active now
            return False
        os.close(self._fd)
        self._fd = fd
        return True

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd: int | None = None
        for attempt in range(ATTEMPTS):
            try:
                fd = self._take()
            except OSError as exc:
                raise ConfigError(f"cannot take the lock {self.path}: {exc.strerror}") from None
            if fd is not None:
                break
            # `holder()` (harvester status) holds a shared lock for an instant: look again
            if attempt < ATTEMPTS - 1:
                time.sleep(0.05)
        if fd is None:
            holder = self.holder()
            who = f"pid {holder}" if holder else "another process"
            raise ConfigError(
                f"harvester is already running on this database ({who}, lock {self.path}); "
                "stop it first, or point HARVESTER_DATABASE_URL elsewhere"
            )
        self._fd = fd

    def _take(self) -> int | None:
        """Lock the file at the path (made if missing) and write our pid in it: its fd, or None
        when another process holds it. A file deleted or replaced between the open and the
        flock is let go and the one now at the path tried: a lock on a file that no path names
        any more guards nothing."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            if _names(self.path, fd):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        return fd

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
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # (a FIFO put there never blocks)
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


def _names(path: Path, fd: int) -> bool:
    """True if `path` is the file open as `fd` (not deleted, not replaced)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def service_lock(
    engine: Engine, database_url: str, lease_seconds: float = DEFAULT_TTL
) -> ServiceLock:
    """The lock that makes one `harvester start` the active one: a file lock beside a SQLite
    file (one host), a lease on PostgreSQL (any number of hosts: `_store.lease`)."""
    if is_postgres(engine):
        return LeaseLock(engine, lease_seconds)
    return InstanceLock(lock_path_for(database_url))


def lock_path_for(database_url: str) -> Path:
    """`harvester.db.lock` beside a SQLite file; in the working directory otherwise."""
    database = sqlite_path(database_url)
    if database is None:
        return Path("harvester.lock")
    return database.with_name(database.name + ".lock")
