"""What a mapping reads and what it gives back (pure types and small helpers).

A mapping turns one stored result into rows: `Source` is the result (part 0 parsed, the chunks
parsed lazily, the request's parameters), and the mapping yields `(table, rank, values)` with
`values` the raw field values by column name; coercion and provenance are added after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# how complete a source is, for entity tables: the fuller source wins, whatever its age
PARTIAL_MENTION = 0  # an entity named inside another document (a car in a result)
PARTIAL = 1  # a list row that a fuller document will replace (a search row, a lookup)
FULL = 2  # the entity's own endpoint
FULLEST = 3  # a fuller variant of it (series/seasons over season/list)

Values = Mapping[str, Any]
Emit = tuple[str, int, Iterable[Values]]


class NotDerivable(ValueError):
    """The document's shape is not what the mapping understands; the reason names it."""


@dataclass
class Source:
    endpoint: str
    params: Mapping[str, str]
    header: Any  # part 0, parsed
    chunks: Iterable[Any] = field(default_factory=list)  # each chunk, parsed, in order
    notes: list[str] = field(default_factory=list)  # what a mapping could not take, one line each

    def chunk_rows(self) -> Iterator[Any]:
        for chunk in self.chunks:
            if isinstance(chunk, list):
                yield from chunk

    def param_int(self, name: str) -> int | None:
        value = self.params.get(name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None


Mapper = Callable[[Source], Iterator[Emit]]


def obj(value: Any) -> dict[str, Any]:
    """A dict, or an empty one for anything else (a missing or retyped nested object)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[dict[str, Any]]:
    """The dicts of a list (anything else is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def listed(source: Source, document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The dicts of a list field; a field present but not a list is noted (the rest of the
    document is still taken)."""
    value = document.get(name)
    if value is not None and not isinstance(value, list):
        source.notes.append(f"{name} is {_a(value)}, not a list")
    return items(value)


def _a(value: Any) -> str:
    kind = {dict: "an object", str: "a string", bool: "a boolean"}.get(type(value))
    return kind or ("a number" if isinstance(value, (int, float)) else type(value).__name__)


def positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def need_object(source: Source, where: Any = None) -> dict[str, Any]:
    document = source.header if where is None else where
    if not isinstance(document, dict):
        raise NotDerivable(f"{source.endpoint}: expected an object, got {type(document).__name__}")
    return document


def need_list(source: Source, document: Any, what: str = "the document") -> list[dict[str, Any]]:
    if not isinstance(document, list):
        raise NotDerivable(
            f"{source.endpoint}: expected {what} to be a list, got {type(document).__name__}"
        )
    return items(document)


def unique(rows: Iterable[Values], key: str) -> list[Values]:
    """The first row of each key value (an entity named many times in one document)."""
    seen: dict[Any, Values] = {}
    for row in rows:
        value = row.get(key)
        if value is not None and value not in seen:
            seen[value] = row
    return list(seen.values())
