"""The result searches: results/search_series (official races) and results/search_hosted (hosted
and league sessions), in chunks ordered by subsession_id.

A row is written from the same `Split` results/get expands, so every figure of a search row
agrees with the subsession's documents.
"""

from __future__ import annotations

from typing import Any

from .data import ACTIVE_CATEGORIES, EVENT_TYPES
from .model import MAX_DURATION, Slot, Split, quarter_bounds, race_week
from .params import valid_quarter, windows
from .ratings import drove
from .rows import search_hosted_row, search_series_row
from .state import Handler, State
from .types import Doc, bad_request


def search_series(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    has_season = "season_year" in p or "season_quarter" in p
    if has_season and not ("season_year" in p and "season_quarter" in p):
        raise bad_request("season_year and season_quarter must be given together")
    if not (has_season or "start_range_begin" in p or "finish_range_begin" in p):
        raise bad_request(
            "requires season_year and season_quarter, start_range_begin or finish_range_begin"
        )
    starts, ends, echo = windows(p, now)
    if has_season:
        q_start, q_end = quarter_bounds(p["season_year"], valid_quarter(p["season_quarter"]))
        starts = (max(starts[0], q_start), min(starts[1], q_end))
    lanes = m.official_lanes()
    if "series_id" in p:
        lanes = [s.lane for s in m.series if s.series_id == p["series_id"]]
    category_ids = p.get("category_ids", list(ACTIVE_CATEGORIES))
    lanes = [lane for lane in lanes if m.series[lane].category in category_ids]
    event_types = p.get("event_types", [e for _, e in EVENT_TYPES])
    if 5 not in event_types:
        lanes = []  # races only: no practice, qualifying or time trial sessions are searched
    week = p.get("race_week_num")
    rows = [
        search_series_row(m, slot, split)
        for slot, split in _matches(
            st, lanes, starts, ends, now, p.get("cust_id"), week, p.get("team_id")
        )
    ]
    echo = {**p, **echo, "category_ids": category_ids, "event_types": event_types}
    body = {"success": True, "params": echo}
    return Doc(body, rows=rows, type_name="search_series_results")


def search_hosted(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    if "start_range_begin" not in p and "finish_range_begin" not in p:
        raise bad_request("requires start_range_begin or finish_range_begin")
    if not any(name in p for name in ("cust_id", "team_id", "host_cust_id", "session_name")):
        raise bad_request("requires one of cust_id, team_id, host_cust_id, session_name")
    starts, ends, echo = windows(p, now)
    lanes = [] if "team_id" in p else [m.hosted_lane]
    category_ids = p.get("category_ids", [1, 2, 3, 4])
    host = m.index_of(p["host_cust_id"]) if "host_cust_id" in p else None
    name = p.get("session_name", "").lower()
    rows = []
    for slot, split in _matches(st, lanes, starts, ends, now, p.get("cust_id"), None):
        hosted = slot.hosted
        assert hosted is not None
        if (
            ("host_cust_id" in p and hosted.host != host)
            or name not in hosted.session_name.lower()
            or p.get("league_id", hosted.league_id) != hosted.league_id
            or p.get("league_season_id", hosted.league_season_id) != hosted.league_season_id
            or ("car_id" in p and p["car_id"] not in split.cars)
            or p.get("track_id", slot.track.track_id) != slot.track.track_id
            or slot.track.category not in category_ids
        ):
            continue
        rows.append(search_hosted_row(m, slot, split))
    echo = {**p, **echo, "category_ids": category_ids}
    body = {"success": True, "params": echo}
    return Doc(body, rows=rows, type_name="search_hosted_results")


def _matches(
    st: State,
    lanes: list[int],
    starts: tuple[float, float],
    ends: tuple[float, float],
    now: float,
    cust_id: int | None,
    week: int | None,
    team_id: int | None = None,
) -> list[tuple[Slot, Split]]:
    """Finished subsessions on `lanes` with start in `starts` and end in `ends`, id order; with
    `team_id` those of a team (it wins over `cust_id`), with `cust_id` those of a driver."""
    m = st.model
    team = m.team_of_id(team_id) if team_id is not None else None
    if team_id is not None:
        if team is None:
            return []
        lanes, cust_id = [lane for lane in lanes if m.series[lane].team], None
    d = m.index_of(cust_id) if cust_id is not None else None
    if cust_id is not None and d is None:
        return []
    lo = max(starts[0], ends[0] - MAX_DURATION)
    hi = min(starts[1], ends[1], now)
    if not lanes or hi <= lo:
        return []
    found = []
    for k, lane in m.slots_starting(lo, hi, lanes):
        start = m.slot_start(k, lane)
        if week is not None and race_week(start) != week:
            continue
        if d is not None and not m.is_entrant(k, lane, d):
            continue
        if team is not None and not m.enters(k, lane, team):
            continue
        wanted = [
            j
            for j in range(m.nsplits(k, lane))
            if ends[0] <= (end := m.split_end(k, lane, j, start)) < ends[1] and end <= now
        ]
        if not wanted:
            continue
        slot = m.slot(k, lane)
        for j in wanted:
            split = slot.splits[j]
            entrant = team if team is not None else m.entrant_of(lane, d) if d is not None else None
            if entrant is None or (
                entrant in split.order
                and (d is None or d in drove(m, split, split.order.index(entrant)))
            ):
                found.append((slot, split))
    return found


HANDLERS: dict[str, Handler] = {
    "results/search_series": search_series,
    "results/search_hosted": search_hosted,
}
