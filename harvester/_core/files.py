"""Reading a file named by a user without blocking or growing without bound: the jobs file and
the key file are opened non-blocking, checked to be regular files (a FIFO would hang the read, a
symlink to /dev/zero would never end), then read up to a limit."""

from __future__ import annotations

import os
import stat


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, for a one-line refusal."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from `fd` (fewer at its end): ask for limit + 1 to tell a file that
    is too large, or one that grew while it was read."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
