"""The small JSONPath that fan-out jobs use to pick values from their parent's documents (pure):
`$`, `.name`, `['name']`, `[n]` and `[*]`, e.g. `$[*].subsession_id` or `$.races[*].subsession_id`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\*\]|\[(-?\d+)\]|\[['"]([^'"]+)['"]\]""")

Step = str | int | None  # a key, an index, or None for "every element"


def compile_path(path: str) -> list[Step]:
    """Parse a path; ValueError naming the first thing that is not understood."""
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError(f"{path!r} must start with $ (e.g. $[*].subsession_id)")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ValueError(f"{path!r}: cannot read {text[position:]!r} (use .name, [n] or [*])")
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif quoted is not None:
            steps.append(quoted)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(None)
        position = match.end()
    return steps


def extract(document: Any, steps: list[Step]) -> Iterator[Any]:
    """Every value the path reaches in a document (missing keys simply match nothing)."""
    if not steps:
        yield document
        return
    step, rest = steps[0], steps[1:]
    if step is None:
        if isinstance(document, list):
            for item in document:
                yield from extract(item, rest)
        elif isinstance(document, dict):
            for item in document.values():
                yield from extract(item, rest)
    elif isinstance(step, int):
        if isinstance(document, list) and -len(document) <= step < len(document):
            yield from extract(document[step], rest)
    elif isinstance(document, dict) and step in document:
        yield from extract(document[step], rest)
