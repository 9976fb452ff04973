"""The one table of the world: every endpoint path -> the function that answers it.

Each family module defines its handlers as plain functions over a `State` and lists them in its
`HANDLERS`; this table joins them, refusing a path two families claim, and `World` checks it
against the endpoint table (`table.ENDPOINTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import (
    assets,
    leagues,
    member_stats,
    members,
    results,
    searches,
    seasons,
    sessions,
    standings,
    teams,
)
from .state import Handler

FAMILIES = (
    assets,
    members,
    member_stats,
    results,
    searches,
    seasons,
    standings,
    leagues,
    teams,
    sessions,
)


def _joined() -> Mapping[str, Handler]:
    table: dict[str, Handler] = {}
    for family in FAMILIES:
        for path, handler in family.HANDLERS.items():
            if path in table:
                raise ValueError(f"{path} is answered by two families")
            table[path] = handler
    return MappingProxyType(table)


HANDLERS: Mapping[str, Handler] = _joined()
