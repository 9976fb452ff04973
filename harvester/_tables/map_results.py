"""Subsessions and their results: results/get (full), and the partial subsessions of
results/search_series, results/search_hosted and league/season_sessions (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .source import (
    FULL,
    PARTIAL,
    PARTIAL_MENTION,
    Emit,
    NotDerivable,
    Source,
    Values,
    items,
    listed,
    need_list,
    need_object,
    obj,
    positive,
    unique,
)

# fields a subsession row takes under its own name, in results/get and search rows alike
_SAME = (
    "subsession_id",
    "session_id",
    "series_id",
    "series_name",
    "series_short_name",
    "season_id",
    "season_name",
    "season_short_name",
    "season_year",
    "season_quarter",
    "race_week_num",
    "event_type",
    "event_type_name",
    "official_session",
    "license_category_id",
    "license_category",
    "start_time",
    "end_time",
    "num_drivers",
    "num_cautions",
    "num_caution_laps",
    "num_lead_changes",
    "event_laps_complete",
    "event_average_lap",
    "event_best_lap_time",
    "caution_type",
    "driver_changes",
    "max_team_drivers",
    "private_session_id",
    "session_name",
    "league_id",
    "league_season_id",
)


def _subsession(d: dict[str, Any], complete: bool) -> dict[str, Any]:
    track = obj(d.get("track"))
    host = obj(d.get("host"))
    values = {name: d.get(name) for name in _SAME}
    values.update(
        strength_of_field=d.get("event_strength_of_field"),
        track_id=track.get("track_id"),
        track_name=track.get("track_name"),
        track_config=track.get("config_name"),
        host_cust_id=host.get("cust_id", d.get("host_id")),
        host_display_name=host.get("display_name"),
        complete=complete,
    )
    return values


def _track(d: dict[str, Any]) -> dict[str, Any] | None:
    track = obj(d.get("track"))
    return track if track.get("track_id") is not None else None


def _series_and_season(rows: list[dict[str, Any]]) -> Iterator[Emit]:
    """The series and seasons named in result or search rows (partial mentions)."""
    series = [r for r in unique(rows, "series_id") if positive(r.get("series_id"))]
    seasons = [r for r in unique(rows, "season_id") if positive(r.get("season_id"))]
    if series:
        yield "series", PARTIAL_MENTION, series
    if seasons:
        yield "seasons", PARTIAL_MENTION, seasons


def results_get(source: Source) -> Iterator[Emit]:
    """The subsession, its results (streamed: never all held at once) and the drivers, cars,
    track, series and season they name."""
    d = need_object(source)
    if d.get("subsession_id") is None:
        raise NotDerivable(f"{source.endpoint}: the document has no subsession_id")
    subsession_id = d.get("subsession_id")
    yield "subsessions", FULL, [_subsession(d, True)]
    members: dict[Any, dict[str, Any]] = {}  # the first row of each driver and car
    cars: dict[Any, Values] = {}
    start = d.get("start_time")

    def rows() -> Iterator[Values]:
        for r in _result_rows(source, listed(source, d, "session_results"), subsession_id):
            cust, car = r.get("cust_id"), r.get("car_id")
            if cust is not None and cust not in members:
                members[cust] = {
                    "cust_id": cust,
                    "display_name": r.get("display_name"),
                    "club_id": r.get("club_id"),
                    "club_name": r.get("club_name"),
                    "flair_id": r.get("flair_id"),
                    "flair_name": r.get("flair_name"),
                    "country_code": r.get("country_code"),
                    "last_seen": start,
                    "ai": r.get("ai"),
                }
            if car is not None and car not in cars:
                cars[car] = r
            yield r

    yield "session_results", 0, rows()  # consumed whole before the next is asked for
    yield "members", PARTIAL_MENTION, list(members.values())
    yield "cars", PARTIAL_MENTION, list(cars.values())
    track = _track(d)
    if track is not None:
        yield "tracks", PARTIAL_MENTION, [track]
    yield from _series_and_season([d])


def _result_rows(
    source: Source, sessions: list[dict[str, Any]], subsession_id: Any
) -> Iterator[Values]:
    for session in sessions:
        simsession = {
            "subsession_id": subsession_id,
            "simsession_number": session.get("simsession_number"),
            "simsession_type": session.get("simsession_type"),
            "simsession_type_name": session.get("simsession_type_name"),
            "simsession_name": session.get("simsession_name"),
        }
        for entry in listed(source, session, "results"):
            drivers = entry.get("driver_results")
            if isinstance(drivers, list):  # a team: each driver's row, with the team
                team = {k: v for k, v in entry.items() if k != "driver_results"}
                for driver in items(drivers):
                    yield {
                        **team,
                        **driver,
                        **simsession,
                        "team_id": driver.get("team_id", entry.get("team_id")),
                        "team_name": entry.get("display_name"),
                    }
            else:
                yield {**entry, **simsession, "team_id": None, "team_name": None}


def search_rows(source: Source) -> Iterator[Emit]:
    """results/search_series and results/search_hosted: chunks of partial subsessions."""
    for chunk in source.chunks:
        rows = need_list(source, chunk, "a chunk")
        yield "subsessions", PARTIAL, [_subsession(r, False) for r in rows]
        tracks = unique([t for r in rows if (t := _track(r)) is not None], "track_id")
        if tracks:
            yield "tracks", PARTIAL_MENTION, tracks
        yield from _series_and_season(rows)


def league_sessions(source: Source) -> Iterator[Emit]:
    d = need_object(source)
    sessions = [s for s in listed(source, d, "sessions") if positive(s.get("subsession_id"))]
    rows = []
    for s in sessions:
        values = _subsession(s, False)
        values.update(
            start_time=s.get("launch_at", s.get("start_time")),
            league_id=s.get("league_id", d.get("league_id")),
            league_season_id=s.get("league_season_id", d.get("season_id")),
        )
        rows.append(values)
    yield "subsessions", PARTIAL, rows
    tracks = unique([t for s in sessions if (t := _track(s)) is not None], "track_id")
    if tracks:
        yield "tracks", PARTIAL_MENTION, tracks
    cars = unique([c for s in sessions for c in items(s.get("cars"))], "car_id")
    if cars:
        yield "cars", PARTIAL_MENTION, cars
