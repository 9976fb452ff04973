"""What a run did: one `RunCounts` per run, updated by the fetch path (requests, bytes, the rate
budget left) and by the archive (documents, results, rows); the run's row records it on close."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class RunCounts:
    """What a run did; counters grow as the run goes (one object per run, one thread)."""

    requests: int = 0
    bytes: int = 0
    documents_new: int = 0
    documents_dup: int = 0
    results: int = 0
    ratelimit_remaining: int | None = None
    rows_new: int = 0  # cursor jobs: rows whose key was not seen before
    rows_dup: int = 0
    items_ok: int = 0  # fan-out jobs: items fetched
    items_skipped: int = 0  # fan-out jobs: items answered 403/404 (remembered)

    @contextmanager
    def taken_back_on_failure(self) -> Iterator[None]:
        """What the archive counts in the block (documents, results, rows) stands only if it
        ends well: around a transaction, what one that rolled back wrote was never stored.
        (The fetch's counts are left alone: chunk fetches may add to them meanwhile.)"""
        before = [getattr(self, name) for name in STORED_COUNTS]
        try:
            yield
        except BaseException:
            for name, value in zip(STORED_COUNTS, before, strict=True):
                setattr(self, name, value)
            raise


# what the archive counts as a transaction writes it (see `taken_back_on_failure`)
STORED_COUNTS = ("documents_new", "documents_dup", "results", "rows_new", "rows_dup")
