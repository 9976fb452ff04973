"""Which process a run belongs to: its pid and when that process started, so a later process
that reuses the pid (a container's service is pid 1 every time) is not taken for it.

POSIX: liveness is `os.kill(pid, 0)`; start times come from Linux's /proc, and where there is
none the pid alone decides, as before. The host is an argument so that runs recorded on another
machine (a shared PostgreSQL archive) are never judged from this one.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# start times read from /proc are exact to a clock tick; the boot time to a second
SAME_START_SECONDS = 2.0


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    started_at: float | None  # epoch seconds; None where the system does not say

    def is_(self, pid: int | None, started_at: float | None) -> bool:
        """True if (pid, started_at) names this process (by pid alone when a time is missing)."""
        if pid != self.pid:
            return False
        if started_at is None or self.started_at is None:
            return True
        return abs(started_at - self.started_at) < SAME_START_SECONDS


def current() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(pid, process_start_time(pid))


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if unknown or not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, after the command name
    except (OSError, IndexError, ValueError):
        return None
    boot = _boot_time()
    if boot is None:
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


@cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def still_running(pid: int | None, started_at: float | None, host: str | None = None) -> bool:
    """True unless the process that recorded (pid, started_at) on `host` is known to be gone.

    A run recorded on another host cannot be judged here: it counts as running. No pid means a
    row from before pids were recorded: gone."""
    if host is not None and host != socket.gethostname():
        return True
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    if started_at is None:
        return True
    now_started = process_start_time(pid)
    return now_started is None or abs(now_started - started_at) < SAME_START_SECONDS
