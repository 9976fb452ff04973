"""A feed of jobs.yaml as a value: which rows (a table or a query, a key, a filter), how they
are told (a template, one message per row or a digest per run) and to whom (Apprise URLs).

`_config.feeds` reads jobs.yaml into these; the outbox, the renderer and the sender read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_PER_MINUTE = 20  # messages per minute per target: under Discord's 30 per webhook
DEFAULT_DIGEST_ROWS = 20  # lines a digest shows before "… and N more"


@dataclass(frozen=True)
class Target:
    """One Apprise URL. The URL carries the target's key (a webhook token, a bot token, a
    password): only `id` (a hash) and `label` (the scheme and its place in the list) are ever
    stored, logged or shown."""

    url: str = field(repr=False)
    index: int  # 1-based, in the feed's list

    @property
    def id(self) -> str:
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower() or "?"

    @property
    def label(self) -> str:
        return f"{self.scheme}:// (target {self.index})"


@dataclass(frozen=True)
class FeedSpec:
    name: str
    key: tuple[str, ...]
    template: str
    targets: tuple[Target, ...]
    table: str | None = None  # one of the analysis tables, or
    query: str | None = None  # a read-only SELECT over them (with a `result_id` column)
    where: str | None = None  # an SQL condition on the rows' columns
    digest: bool = False  # one message per run, not one per row
    per_minute: int = DEFAULT_PER_MINUTE
    digest_rows: int = DEFAULT_DIGEST_ROWS
    since: str | None = None  # post what the archive stored since then (default: from now)
    enabled: bool = True
    columns: tuple[str, ...] = ()  # the row's columns, as validated
    line: int = field(default=0, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def source(self) -> str:
        """The SELECT whose rows the feed tells (the table, or the query)."""
        if self.query is not None:
            return self.query.strip().rstrip(";")
        return f"SELECT * FROM {self.table}"

    @property
    def fingerprint(self) -> str:
        """What decides which rows are this feed's: when it changes, the feed starts again
        from "now" (a new `where` does not post the history it now matches)."""
        text = "\n".join((self.source, ",".join(self.key), self.where or ""))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
