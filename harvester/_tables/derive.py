"""From a stored result to table rows (pure): which mapping reads which endpoint, and the
coercion and provenance every row gets."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import map_members, map_reference, map_results, map_sessions
from .coerce import ESCAPED, RowMaker
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


BATCH_ROWS = 1000  # rows of one table held at once: a large document's rows stream through


@dataclass
class Batch:
    """Rows for one table from one document (at most BATCH_ROWS of them: a document gives
    several batches of a table when it has more): coerced, with their provenance."""

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
    # values no column could hold, by (table, column): (how many, what was wrong)
    refused: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    batches: int = 0  # batches given so far (each at most BATCH_ROWS rows)

    def __iter__(self) -> Iterator[Batch]:
        mapper = MAPPERS.get(self.source.endpoint)
        if mapper is None:
            return
        endpoint = self.source.endpoint
        for table, rank, values in mapper(self.source):
            if table not in self.tables:
                if not isinstance(values, (list, tuple)):
                    deque(values, maxlen=0)  # a lazy mapping gathers what later tables name
                continue
            make = _MAKERS[table]

            def note(column: str, why: str, table: str = table) -> None:
                count, _ = self.refused.get((table, column), (0, why))
                self.refused[(table, column)] = (count + 1, why)

            dropped = [0]
            for rows in make.batches(
                values, note, self.result_id, endpoint, rank, dropped, BATCH_ROWS
            ):
                self.batches += 1  # a large document streams through in batches
                yield Batch(table, rank, rows)
            if dropped[0]:
                self.dropped[table] = self.dropped.get(table, 0) + dropped[0]

    def problem(self) -> str | None:
        """What could not be taken, in one line (None when everything was): the mapping's notes
        (a list sent as something else), rows without their key, and each column that got a
        value no column could hold (NULL, or text kept escaped)."""
        said = list(dict.fromkeys(self.source.notes))
        for table, n in sorted(self.dropped.items()):
            said.append(f"{n} {table} row(s) without {'/'.join(SPECS[table].key)}")
        for (table, column), (n, why) in sorted(self.refused.items()):
            outcome = "kept escaped" if why == ESCAPED else f"NULL ({why})"
            said.append(f"{table}.{column}: {n} value(s) {outcome}")
        if not said:
            return None
        return f"{self.source.endpoint}: {'; '.join(said)}"


def derived_endpoints() -> tuple[str, ...]:
    return tuple(sorted(MAPPERS))


def rows_of(source: Source, result_id: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Every row a document gives, by table (for tests and for reading a mapping's output)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for batch in Derivation(source, result_id):
        out.setdefault(batch.table, []).extend(batch.rows)
    return out
