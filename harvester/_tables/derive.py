"""From a stored result to table rows (pure): which mapping reads which endpoint, and the
coercion and provenance every row gets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import map_members, map_reference, map_results, map_sessions
from .coerce import RowMaker
from .schema import SPECS, TABLE_NAMES
from .source import Mapper, Source

MAPPERS: dict[str, Mapper] = {
    "results/get": map_results.results_get,
    "results/search_series": map_results.search_rows,
    "results/search_hosted": map_results.search_rows,
    "league/season_sessions": map_results.league_sessions,
    "results/lap_data": map_sessions.lap_data,
    "results/event_log": map_sessions.event_log,
    "member/info": map_members.member_info,
    "member/get": map_members.member_get,
    "lookup/drivers": map_members.lookup_drivers,
    "member/chart_data": map_members.chart_data,
    "series/get": map_reference.series_get,
    "series/seasons": map_reference.series_seasons,
    "season/list": map_reference.season_list,
    "series/season_list": map_reference.season_list,
    "car/get": map_reference.car_get,
    "track/get": map_reference.track_get,
}

# the endpoints that feed each table (what `harvester tables` shows, what a rebuild reads)
FEEDS: dict[str, tuple[str, ...]] = {name: SPECS[name].feeds for name in TABLE_NAMES}
_MAKERS = {name: RowMaker(spec) for name, spec in SPECS.items()}


def endpoints_for(tables: tuple[str, ...]) -> tuple[str, ...]:
    """The endpoints whose documents feed any of these tables."""
    return tuple(sorted({e for t in tables for e in FEEDS[t]}))


@dataclass
class Batch:
    """Rows for one table from one document: coerced, with their provenance."""

    table: str
    rank: int
    rows: list[dict[str, Any]]


@dataclass
class Derivation:
    """The rows of one result, table by table, as they are read (chunks stream through)."""

    source: Source
    result_id: int
    tables: frozenset[str] = frozenset(TABLE_NAMES)
    dropped: dict[str, int] = field(default_factory=dict)  # rows without their key, per table

    def __iter__(self) -> Iterator[Batch]:
        mapper = MAPPERS.get(self.source.endpoint)
        if mapper is None:
            return
        endpoint = self.source.endpoint
        for table, rank, values in mapper(self.source):
            if table not in self.tables:
                continue
            make = _MAKERS[table]
            rows = []
            for value in values:
                row = make(value)
                if not make.keyed(row):
                    self.dropped[table] = self.dropped.get(table, 0) + 1
                    continue
                row["result_id"] = self.result_id
                if make.spec.entity:
                    row["source"] = endpoint
                    row["source_rank"] = rank
                rows.append(row)
            if rows:
                yield Batch(table, rank, rows)

    def problem(self) -> str | None:
        """What could not be taken, in one line (None when everything was)."""
        if not self.dropped:
            return None
        parts = [f"{n} {table} row(s)" for table, n in sorted(self.dropped.items())]
        keys = {t: "/".join(SPECS[t].key) for t in self.dropped}
        named = ", ".join(
            f"{p} without {keys[t]}" for p, t in zip(parts, sorted(self.dropped), strict=True)
        )
        return f"{self.source.endpoint}: {named}"


def derived_endpoints() -> tuple[str, ...]:
    return tuple(sorted(MAPPERS))


def rows_of(source: Source, result_id: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Every row a document gives, by table (for tests and for reading a mapping's output)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for batch in Derivation(source, result_id):
        out.setdefault(batch.table, []).extend(batch.rows)
    return out
