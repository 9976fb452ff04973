"""Pure recognition of /data's response shapes (reference §2.2) and of chunk_info (§2.3), and
the `Part` a resolved answer is made of (what the fetch path yields and the archive stores)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import IncompleteResult
from .text import storable


@dataclass(frozen=True)
class Part:
    """One document as received: `text` is the exact body, decoded as UTF-8."""

    index: int
    text: str
    content_type: str
    url: str | None = None  # where it came from, without the query string
    link_expires: str | None = None
    rows: int | None = None  # chunks: the number of rows in it
    envelope: str | None = None  # shape C: the members-ng answer that pointed at the document


@dataclass(frozen=True)
class Link:
    """Shape B (and the CSV one): `{link, expires}`; the document is behind the link."""

    url: str
    expires: str | None


@dataclass(frozen=True)
class DataUrl:
    """Shape C: `{type, data, data_url}`; the document is behind data_url."""

    url: str


@dataclass(frozen=True)
class ChunkInfo:
    base_download_url: str
    chunk_file_names: tuple[str, ...]
    rows: int | None

    def urls(self) -> list[str]:
        """Chunk URL = base_download_url + file name (plain concatenation)."""
        return [self.base_download_url + name for name in self.chunk_file_names]


def _text(value: Any) -> str | None:
    """A JSON string that can be sent and stored: not a lone surrogate (a `\\ud800` escape)."""
    return value if isinstance(value, str) and storable(value) else None


def _url(value: Any) -> str | None:
    """A string that is a URL, whatever its scheme: which ones may be followed is the link
    policy's call, so a `file:` link is refused there, not taken for the document itself."""
    text = _text(value)
    return text if text is not None and _SCHEME.match(text) else None


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def indirection(document: Any) -> Link | DataUrl | None:
    """Where the real document is, when this one only points at it."""
    if not isinstance(document, dict):
        return None
    link = _url(document.get("link"))
    # shape B always has both keys; /data/doc entries have a `link` (to /data) but no `expires`
    if link is not None and "expires" in document and len(document) <= 3:
        return Link(link, _text(document.get("expires")))
    data_url = _url(document.get("data_url"))
    if data_url is not None:
        return DataUrl(data_url)
    return None


def find_chunk_info(document: Any) -> ChunkInfo | None:
    """chunk_info at the top level (shape D) or under `data` (shape E); None when absent/null.

    A chunk_info that is present but malformed is an error: guessing would lose rows.
    """
    if not isinstance(document, dict):
        return None
    info = document.get("chunk_info")
    if info is None and isinstance(document.get("data"), dict):
        info = document["data"].get("chunk_info")
    if info is None:
        return None
    if not isinstance(info, dict):
        raise IncompleteResult("chunk_info is not an object")
    names = info.get("chunk_file_names") or []
    base = info.get("base_download_url") or ""
    rows = info.get("rows")
    if not isinstance(names, list) or not all(_text(n) is not None for n in names):
        raise IncompleteResult("chunk_info.chunk_file_names is not a list of file names")
    if names and _url(base) is None:
        raise IncompleteResult("chunk_info.base_download_url is missing or not a URL")
    if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
        raise IncompleteResult("chunk_info.rows is not a row count")
    num_chunks = info.get("num_chunks")
    if isinstance(num_chunks, int) and num_chunks != len(names):
        raise IncompleteResult(
            f"chunk_info lists {len(names)} chunk file(s) but num_chunks says {num_chunks}"
        )
    return ChunkInfo(str(base), tuple(names), rows)


def without_query(url: str) -> str:
    """A URL without its query string (the signature), as it may be stored and logged."""
    return url.split("?", 1)[0]


def normalise_endpoint(endpoint: str) -> str:
    """`/data/results/get`, `results/get/` and `results/get` all mean `results/get`."""
    path = endpoint.strip().strip("/")
    return path[len("data/") :] if path.startswith("data/") else path
