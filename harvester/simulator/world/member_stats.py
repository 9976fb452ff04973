"""A member's statistics: stats/member_recent_races, summary, career, yearly, recap, bests and
division, and the driver_stats_by_category CSV files.

They count the member's finished races, the same entries results/get shows, so a career's
starts are the races listed.
"""

from __future__ import annotations

import math
from typing import Any

from .data import CARS_BY_ID, CATEGORIES
from .figures import Summary, best_lap
from .model import Slot, Split, iso_seconds, quarter_bounds, quarter_of
from .params import WINDOW
from .rows import recent_race_row
from .state import Handler, State, entry_of
from .types import Doc, bad_request, not_found


def recent_races(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    m = st.model
    races: list[dict[str, Any]] = []
    k = m.k_at(now)
    stop = max(m.k_min, k - math.ceil(WINDOW / m.interval))
    lanes = sorted(m.lanes_of(d), reverse=True)
    while k >= stop and len(races) < 10:
        for lane in lanes:
            found = st.raced(k, lane, d, now)
            if found is not None:
                slot, split = found
                entry = entry_of(st.detail(split.subsession_id), 0, d)
                assert entry is not None
                races.append(recent_race_row(m, slot, split, entry))
        k -= 1
    return Doc({"races": races[:10], "cust_id": m.cust(d)})


def member_summary(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    m = st.model
    year_start, _ = quarter_bounds(quarter_of(now)[0], 1)
    counts = {"official": 0, "official_wins": 0, "league": 0, "league_wins": 0}
    in_league = any(d in roster for roster in m.league_rosters[: m.config.league_count])
    for k in range(max(m.k_min, m.k_at(year_start)), m.k_at(now) + 1):
        lanes = list(m.lanes_of(d))
        if in_league and m.is_slot(k, m.hosted_lane) and m.hosted_league(k):
            lanes.append(m.hosted_lane)
        for lane in lanes:
            found = st.raced(k, lane, d, now)
            if found is None or found[1].start < year_start:
                continue
            kind = "official" if lane != m.hosted_lane else "league"
            counts[kind] += 1
            counts[f"{kind}_wins"] += found[1].order[0] == m.entrant_of(lane, d)
    this_year = {
        "num_official_sessions": counts["official"],
        "num_league_sessions": counts["league"],
        "num_official_wins": counts["official_wins"],
        "num_league_wins": counts["league_wins"],
    }
    return Doc({"this_year": this_year, "cust_id": m.cust(d)})


def _stats(rows: list[tuple[Slot, Split, Summary]]) -> dict[str, Any]:
    starts = len(rows)
    wins = sum(e.position == 0 for _, _, e in rows)
    top5 = sum(e.position < 5 for _, _, e in rows)
    poles = sum(e.start_position == 0 for _, _, e in rows)
    laps = sum(e.laps_complete for _, _, e in rows)
    led = sum(e.laps_lead for _, _, e in rows)

    def avg(total: float) -> float:
        return round(total / starts, 2) if starts else 0.0

    def mean(total: int) -> int:  # positions and points: iRacing sends whole numbers
        return round(total / starts) if starts else 0

    def pct(part: int, whole: int) -> float:
        return round(100 * part / whole, 2) if whole else 0.0

    return {
        "starts": starts,
        "wins": wins,
        "top5": top5,
        "poles": poles,
        "avg_start_position": mean(sum(e.start_position + 1 for _, _, e in rows)),
        "avg_finish_position": mean(sum(e.position + 1 for _, _, e in rows)),
        "laps": laps,
        "laps_led": led,
        "avg_incidents": avg(sum(e.incidents for _, _, e in rows)),
        "avg_points": mean(sum(e.champ_points for _, _, e in rows)),
        "win_percentage": pct(wins, starts),
        "top5_percentage": pct(top5, starts),
        "laps_led_percentage": pct(led, laps),
        "poles_percentage": pct(poles, starts),
        "total_club_points": sum(e.club_points for _, _, e in rows),
    }


def _by_category(rows: list[tuple[Slot, Split, Summary]]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0].category, []).append(row)
    return grouped


def career(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    grouped = _by_category(list(st.summaries(d, st.history_start, now)))
    stats = [
        {"category_id": cat, "category": CATEGORIES[cat][1], **_stats(grouped.get(cat, []))}
        for cat in (1, 5, 6, 3, 4)
    ]
    return Doc({"cust_id": st.model.cust(d), "stats": stats})


def yearly(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    by_year: dict[int, list[Any]] = {}
    for row in st.summaries(d, st.history_start, now):
        by_year.setdefault(int(iso_seconds(row[1].start)[:4]), []).append(row)
    stats = []
    for year, rows in sorted(by_year.items(), reverse=True):
        for cat, group in sorted(_by_category(rows).items()):
            stats.append(
                {"category_id": cat, "category": CATEGORIES[cat][1], **_stats(group), "year": year}
            )
    return Doc({"stats": stats, "cust_id": st.model.cust(d)})


def recap(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    year = p.get("year", quarter_of(now)[0])
    season = p.get("season")
    if season is not None and not 1 <= season <= 4:
        raise bad_request("season must be 1, 2, 3 or 4")
    if season is None:
        begin, end = quarter_bounds(year, 1)[0], quarter_bounds(year, 4)[1]
    else:
        begin, end = quarter_bounds(year, season)
    rows = list(st.summaries(d, begin, min(end, now)))
    stats = _stats(rows)
    cars: dict[int, int] = {}
    tracks: dict[int, tuple[int, Any]] = {}
    for slot, _split, entry in rows:
        cars[entry.car_id] = cars.get(entry.car_id, 0) + 1
        count = tracks.get(slot.track.track_id, (0, slot.track))[0]
        tracks[slot.track.track_id] = (count + 1, slot.track)
    favorite_car = favorite_track = None
    if cars:
        car = CARS_BY_ID[max(cars, key=lambda c: (cars[c], -c))]
        favorite_car = {
            "car_id": car.car_id,
            "car_name": car.name,
            "car_image": f"{car.car_id}.jpg",
        }
        _, track = max(tracks.values(), key=lambda t: (t[0], -t[1].track_id))
        favorite_track = {
            "config_name": track.config,
            "track_id": track.track_id,
            "track_logo": f"{track.track_id}-logo.png",
            "track_name": track.name,
        }
    recap = {
        k: stats[k]
        for k in (
            "avg_finish_position",
            "avg_start_position",
            "laps",
            "laps_led",
            "starts",
            "top5",
            "wins",
        )
    }
    recap.update(favorite_car=favorite_car, favorite_track=favorite_track)
    body = {
        "year": year,
        "stats": recap,
        "success": True,
        "season": season,
        "cust_id": st.model.cust(d),
    }
    return Doc(body)


def bests(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    rows = list(st.summaries(d, st.history_start, now))
    driven = sorted({e.car_id for _, _, e in rows})
    car_id = p.get("car_id", rows[-1][2].car_id if rows else None)
    if car_id is not None and "car_id" in p and car_id not in CARS_BY_ID:
        raise not_found(f"no car {car_id}")
    best: dict[int, tuple[Slot, Split, int]] = {}
    for slot, split, race in rows:
        if race.car_id != car_id:
            continue
        lap = best_lap(st.model, split, race.position, d)
        known = best.get(slot.track.track_id)
        if lap > 0 and (known is None or lap < known[2]):
            best[slot.track.track_id] = (slot, split, lap)
    bests = [
        {
            "track": {
                "config_name": s.track.config,
                "track_id": s.track.track_id,
                "track_name": s.track.name,
            },
            "event_type": "Race",
            "best_lap_time": lap,
            "subsession_id": sp.subsession_id,
            "end_time": iso_seconds(sp.end),
            "season_year": s.season_year,
            "season_quarter": s.season_quarter,
        }
        for s, sp, lap in best.values()
    ]
    body = {
        "cars_driven": [{"car_id": c, "car_name": CARS_BY_ID[c].name} for c in driven],
        "bests": bests,
        "cust_id": st.model.cust(d),
        "car_id": car_id or 0,
    }
    return Doc(body)


def division(st: State, p: dict[str, Any], now: float) -> Doc:
    if p["event_type"] not in (2, 3, 4, 5):
        raise bad_request("event_type must be 2, 3, 4 or 5")
    found = st.model.season_of_id(p["season_id"])
    if found is None:
        raise not_found(f"no season {p['season_id']}")
    lane, year, quarter = found
    begin, end = quarter_bounds(year, quarter)
    raced = any(s.lane == lane for s, _, _ in st.summaries(0, begin, min(end, now)))
    body = {
        "division": 0 if raced and p["event_type"] == 5 else 10,  # 0 is Division 1, 10 Rookie
        "projected": not raced,
        "event_type": p["event_type"],
        "success": True,
        "season_id": p["season_id"],
    }
    return Doc(body)


def _stats_csv(category: int) -> Handler:
    return lambda st, p, now: Doc(None, csv=st.stats_csv(category))


_STATS_CATEGORIES = {
    "oval": 1,
    "sports_car": 5,
    "formula_car": 6,
    "road": 2,
    "dirt_oval": 3,
    "dirt_road": 4,
}

HANDLERS: dict[str, Handler] = {
    "stats/member_recent_races": recent_races,
    "stats/member_summary": member_summary,
    "stats/member_career": career,
    "stats/member_yearly": yearly,
    "stats/member_recap": recap,
    "stats/member_bests": bests,
    "stats/member_division": division,
    **{f"driver_stats_by_category/{name}": _stats_csv(c) for name, c in _STATS_CATEGORIES.items()},
}
