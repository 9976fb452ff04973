"""Seasons and schedules: series/seasons, past_seasons, season_list, season_schedule,
stats_series, season/list, race_guide, spectator_subsessionids(_detail) and
results/season_results.

A season is a calendar quarter of a series (`season_id` encodes lane and quarter, see `model`);
its races are the series lane's slots in that quarter, the same ones the searches list.
"""

from __future__ import annotations

import math
from typing import Any

from .data import CATEGORIES, EVENT_TYPES
from .model import (
    DAY,
    MAX_DURATION,
    iso_seconds,
    quarter_bounds,
    quarter_of,
)
from .params import parse_time, valid_quarter
from .season_docs import (
    SUPER_SESSION_EVERY,
    WEEKS,
    allowed_licenses,
    past_season,
    schedule,
    search_filters,
    season_doc,
    season_list_entry,
    season_list_row,
    series_get,
)
from .state import Handler, State
from .types import Doc, bad_request, not_found

_RACE = 5
_GUIDE_HOURS = 3


def quarters(st: State, now: float) -> list[tuple[int, int]]:
    """Every season quarter of the world, oldest first, up to the current one."""
    year, quarter = quarter_of(st.config.origin - st.config.history_days * DAY)
    last, found = quarter_of(now), []
    while (year, quarter) <= last:
        found.append((year, quarter))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return found


def _series_row(st: State, lane: int, now: float) -> dict[str, Any]:
    series = st.model.series[lane]
    seasons = [past_season(st.model, series, y, q, now) for y, q in quarters(st, now)]
    row: dict[str, Any] = {
        "series_id": series.series_id,
        "series_name": series.name,
        "series_short_name": series.short_name,
        "category_id": series.category,
        "category": CATEGORIES[series.category][0],
        "active": True,
        "official": True,
        "fixed_setup": lane % 2 == 1,
        "logo": f"series-{series.series_id}.png",
        "license_group": series.min_license_group,
        "license_group_types": [{"license_group_type": series.min_license_group}],
        "allowed_licenses": allowed_licenses(series, parent=True),
        "search_filters": search_filters(series),
        "seasons": seasons,
    }
    return row


def past_seasons(st: State, p: dict[str, Any], now: float) -> Doc:
    lanes = [s.lane for s in st.model.series if s.series_id == p["series_id"]]
    if not lanes:
        raise not_found(f"no series {p['series_id']}")
    body = {"success": True, "series": _series_row(st, lanes[0], now), "series_id": p["series_id"]}
    return Doc(body)


def stats_series(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc([_series_row(st, s.lane, now) for s in st.model.series])


def season_list(st: State, p: dict[str, Any], now: float) -> Doc:
    if ("season_year" in p) != ("season_quarter" in p):
        raise bad_request("season_year and season_quarter go together")
    year, quarter = (
        (p["season_year"], p["season_quarter"]) if "season_year" in p else quarter_of(now)
    )
    if not 1 <= quarter <= 4:
        raise bad_request("season_quarter must be 1, 2, 3 or 4")
    seasons = []
    for s in st.model.series:
        row = season_list_entry(st.model, s, year, quarter, now)
        if p.get("include_series"):
            row["series"] = series_get(st.model)[s.lane]
        seasons.append(row)
    return Doc({"seasons": seasons})


def season_schedule(st: State, p: dict[str, Any], now: float) -> Doc:
    lane, year, quarter = st.season_or_404(p["season_id"])
    series = st.model.series[lane]
    schedules = [schedule(st.model, series, year, quarter, week) for week in range(WEEKS)]
    return Doc({"success": True, "season_id": p["season_id"], "schedules": schedules})


def race_guide(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    begin = parse_time("from", p["from"]) if "from" in p else now
    end = begin + _GUIDE_HOURS * 3600
    lo = begin - MAX_DURATION if p.get("include_end_after_from") else begin
    sessions = []
    for k, lane in m.slots_starting(lo, end, m.official_lanes()):
        start = m.slot_start(k, lane)
        last_end = max(m.split_end(k, lane, j, start) for j in range(m.nsplits(k, lane)))
        if start < begin and last_end <= begin:
            continue
        year, quarter = quarter_of(start)
        sessions.append(
            {
                "season_id": m.season_id(lane, year, quarter),
                "start_time": iso_seconds(start),
                "super_session": m.series[lane].supersessions and k % SUPER_SESSION_EVERY == 0,
                "series_id": m.series[lane].series_id,
                "race_week_num": m.slot(k, lane).race_week,
                "end_time": iso_seconds(start + MAX_DURATION),
                "session_id": m.session_id(k, lane),
                "entry_count": m.slot_shape(k, lane)[1] if start <= now else 0,
            }
        )
    body = {
        "subscribed": True,
        "sessions": sessions,
        "block_begin_time": iso_seconds(begin),
        "block_end_time": iso_seconds(end),
        "success": True,
    }
    return Doc(body)


def spectator_detail(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    event_types = p.get("event_types", [e for _, e in EVENT_TYPES])
    season_ids = p.get("season_ids")
    rows = []
    if _RACE in event_types:
        after = math.nextafter(now, math.inf)
        for k, lane in m.slots_starting(now - MAX_DURATION, after, m.official_lanes()):
            start = m.slot_start(k, lane)
            year, quarter = quarter_of(start)
            season_id = m.season_id(lane, year, quarter)
            if season_ids is not None and season_id not in season_ids:
                continue
            for j in range(m.nsplits(k, lane)):
                if start <= now < m.split_end(k, lane, j, start):
                    rows.append(
                        {
                            "subsession_id": m.subsession_id(k, lane, j),
                            "season_id": season_id,
                            "session_id": m.session_id(k, lane),
                            "race_week_num": m.slot(k, lane).race_week,
                            "event_type": _RACE,
                            "start_time": iso_seconds(start),
                        }
                    )
    body: dict[str, Any] = {"success": True, "event_types": event_types, "subsessions": rows}
    body["season_ids"] = season_ids or []
    return Doc(body)


def season_results(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    lane, year, quarter = st.season_or_404(p["season_id"])
    event_type = p.get("event_type", _RACE)
    week = p.get("race_week_num")
    begin, end = quarter_bounds(year, quarter)
    rows = []
    if event_type == _RACE:
        for k, ln in m.slots_starting(begin, min(end, now), [lane]):
            slot = m.slot(k, ln)
            if week is not None and slot.race_week != week:
                continue
            for split in slot.splits:
                if split.end > now:
                    continue
                rows.append(
                    {
                        "race_week_num": slot.race_week,
                        "event_type": _RACE,
                        "event_type_name": "Race",
                        "start_time": iso_seconds(split.start),
                        "session_id": slot.session_id,
                        "subsession_id": split.subsession_id,
                        "official_session": True,
                        "event_strength_of_field": split.sof,
                        "event_best_lap_time": split.event_best,
                        "num_cautions": split.cautions,
                        "num_caution_laps": split.caution_laps,
                        "num_lead_changes": split.lead_changes,
                        "num_drivers": len(split.order),
                        "track": {
                            "track_id": slot.track.track_id,
                            "track_name": slot.track.name,
                            "config_name": slot.track.config,
                        },
                    }
                )
    body: dict[str, Any] = {
        "results_list": rows,
        "event_type": event_type,
        "success": True,
        "season_id": p["season_id"],
        "race_week_num": -1 if week is None else week,
    }
    return Doc(body)


def series_seasons(st: State, p: dict[str, Any], now: float) -> Doc:
    if "season_year" in p and "season_quarter" in p:
        year, quarter = p["season_year"], valid_quarter(p["season_quarter"])
    else:
        year, quarter = quarter_of(now)
    return Doc([season_doc(st.model, s, year, quarter, now) for s in st.model.series])


def season_list_of_quarter(st: State, p: dict[str, Any], now: float) -> Doc:
    year, quarter = p["season_year"], valid_quarter(p["season_quarter"])
    seasons = [season_list_row(st.model, s, year, quarter) for s in st.model.series]
    return Doc({"season_quarter": quarter, "seasons": seasons, "season_year": year})


def spectator_subsessionids(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    event_types = p.get("event_types", [e for _, e in EVENT_TYPES])
    ids = []
    if 5 in event_types:
        after = math.nextafter(now, math.inf)
        for k, lane in m.slots_starting(now - MAX_DURATION, after, m.official_lanes()):
            start = m.slot_start(k, lane)
            for j in range(m.nsplits(k, lane)):
                if start <= now < m.split_end(k, lane, j, start):
                    ids.append(m.subsession_id(k, lane, j))
    return Doc({"event_types": event_types, "success": True, "subsession_ids": ids})


HANDLERS: dict[str, Handler] = {
    "series/seasons": series_seasons,
    "season/list": season_list_of_quarter,
    "season/spectator_subsessionids": spectator_subsessionids,
    "series/past_seasons": past_seasons,
    "series/stats_series": stats_series,
    "series/season_list": season_list,
    "series/season_schedule": season_schedule,
    "season/race_guide": race_guide,
    "season/spectator_subsessionids_detail": spectator_detail,
    "results/season_results": season_results,
}
