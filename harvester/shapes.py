"""Pure recognition of /data's response shapes (reference §2.2) and of chunk_info (§2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import IncompleteResult


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


def indirection(document: Any) -> Link | DataUrl | None:
    """Where the real document is, when this one only points at it."""
    if not isinstance(document, dict):
        return None
    link = document.get("link")
    if isinstance(link, str) and link.startswith(("http://", "https://")) and len(document) <= 3:
        expires = document.get("expires")
        return Link(link, expires if isinstance(expires, str) else None)
    data_url = document.get("data_url")
    if isinstance(data_url, str) and data_url.startswith(("http://", "https://")):
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
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise IncompleteResult("chunk_info.chunk_file_names is not a list of file names")
    if names and not (isinstance(base, str) and base.startswith(("http://", "https://"))):
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
