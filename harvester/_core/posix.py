"""harvester runs on POSIX systems only (Linux, macOS, the BSDs): the service's instance lock is
an fcntl lock, SIGHUP reloads jobs.yaml, and a run's process is checked with `os.kill(pid, 0)`
(which on Windows would end that process). Start-up says so in one line instead of failing
somewhere deeper."""

from __future__ import annotations

import os
import platform

from .errors import ConfigError


class UnsupportedPlatform(ConfigError):
    """harvester was started on a system without POSIX locks, signals and process checks."""


def is_posix() -> bool:
    return os.name == "posix"


def require_posix() -> None:
    """Stop with one line on a platform harvester cannot run on."""
    if not is_posix():
        raise UnsupportedPlatform(
            "harvester runs on POSIX systems only (Linux, macOS, BSD): it needs fcntl locks, "
            f"SIGHUP and os.kill(pid, 0), which {platform.system() or os.name} does not have"
        )
