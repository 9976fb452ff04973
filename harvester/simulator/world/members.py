"""A member's own documents beyond core's: award instances, iRating charts, participation credits,
the profile and the career, yearly, recap, bests and division statistics.

Every figure comes from the member's finished official races (the same entries results/get
shows), so a chart point is a race's `newi_rating` and a career's starts are the races listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from harvester.simulator.world.data import CARS_BY_ID, CATEGORIES, LICENSE_GROUPS
from harvester.simulator.world.docs import license_doc, member_awards
from harvester.simulator.world.model import (
    DAY,
    Slot,
    Split,
    iso_seconds,
    quarter_bounds,
    quarter_of,
)
from harvester.simulator.world.race import Entry
from harvester.simulator.world.results import helmet
from harvester.simulator.world.seasons import season_of
from harvester.simulator.world.types import Doc, bad_request, not_found

if TYPE_CHECKING:
    from harvester.simulator.world.core import World

# category_id of the request -> the series categories it covers (2, road, is sports + formula)
_COVERS = {1: (1,), 2: (5, 6), 3: (3,), 4: (4,), 5: (5,), 6: (6,)}
_CHART_TYPES = (1, 2, 3)  # iRating, TT rating, license/SR


def races(
    w: World, d: int, begin: float, now: float, categories: tuple[int, ...] | None = None
) -> Iterator[tuple[Slot, Split, Entry]]:
    """The member's finished official races starting in [begin, now), oldest first."""
    m = w.model
    lanes = [
        lane
        for lane in m.lanes_of(d)
        if categories is None or m.series[lane].category in categories
    ]
    for k in range(max(m.k_min, m.k_at(begin)), m.k_at(now) + 1):
        for lane in lanes:
            found = w.raced(k, lane, d, now)
            if found is None or found[1].start < begin:
                continue
            slot, split = found
            yield slot, split, w.race_entry(split.subsession_id, d)


def _history_start(w: World) -> float:
    return w.config.origin - w.config.history_days * DAY


def award_instances(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    rows = [
        {
            "award_id": row["award_id"],
            "achievement": row["achievement"],
            "award_count": row["award_count"],
            "award_date": row["award_date"],
            "award_order": row["award_order"],
            "member_award_id": row["member_award_id"],
            "subsession_id": None,
            "viewed": True,
        }
        for row in member_awards(w.model, d)
        if row["award_id"] == p["award_id"] and row["award_count"]
    ]
    summary = {"success": True, "cust_id": w.model.cust(d), "award_id": p["award_id"]}
    return Doc(rows, type_name="member_award_instances", summary=summary)


def chart_data(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    category, kind = p["category_id"], p["chart_type"]
    if category not in _COVERS:
        raise bad_request("category_id must be 1..6")
    if kind not in _CHART_TYPES:
        raise bad_request("chart_type must be 1, 2 or 3")
    points: dict[str, int] = {}
    if kind != 2:  # no time trials are simulated: the TT chart is empty
        for _slot, split, entry in races(w, d, _history_start(w), now, _COVERS[category]):
            day = iso_seconds(split.end)[:10]
            points[day] = entry.newi if kind == 1 else entry.license_level * 1000 + entry.new_sub
    body = {
        "blackout": False,
        "category_id": category,
        "chart_type": kind,
        "data": [{"when": day, "value": value} for day, value in points.items()],
        "success": True,
        "cust_id": w.model.cust(d),
    }
    return Doc(body)


def participation_credits(w: World, p: dict[str, Any], now: float) -> Doc:
    m = w.model
    year, quarter = quarter_of(now)
    start, _ = quarter_bounds(year, quarter)
    weeks: dict[int, set[int]] = {}
    for slot, _split, _entry in races(w, 0, start, now):
        weeks.setdefault(slot.lane, set()).add(slot.race_week)
    rows = []
    for lane, raced in sorted(weeks.items()):
        s = m.series[lane]
        group = LICENSE_GROUPS[s.min_license_group - 1]
        earned = len(raced) >= 4
        rows.append(
            {
                "cust_id": m.me,
                "season_id": m.season_id(lane, year, quarter),
                "series_id": s.series_id,
                "series_name": s.name,
                "license_group": group[0],
                "license_group_name": group[1],
                "participation_credits": 2,
                "min_weeks": 4,
                "weeks": len(raced),
                "earned_credits": 2 if earned else 0,
                "total_credits": 2 if earned else 0,
            }
        )
    return Doc(rows)


def _stats(rows: list[tuple[Slot, Split, Entry]]) -> dict[str, Any]:
    starts = len(rows)
    wins = sum(e.position == 0 for _, _, e in rows)
    top5 = sum(e.position < 5 for _, _, e in rows)
    poles = sum(e.start_position == 0 for _, _, e in rows)
    laps = sum(e.laps_complete for _, _, e in rows)
    led = sum(e.laps_lead for _, _, e in rows)

    def avg(total: float) -> float:
        return round(total / starts, 2) if starts else 0.0

    def pct(part: int, whole: int) -> float:
        return round(100 * part / whole, 2) if whole else 0.0

    return {
        "starts": starts,
        "wins": wins,
        "top5": top5,
        "poles": poles,
        "avg_start_position": avg(sum(e.start_position + 1 for _, _, e in rows)),
        "avg_finish_position": avg(sum(e.position + 1 for _, _, e in rows)),
        "laps": laps,
        "laps_led": led,
        "avg_incidents": avg(sum(e.incidents for _, _, e in rows)),
        "avg_points": avg(sum(e.champ_points for _, _, e in rows)),
        "win_percentage": pct(wins, starts),
        "top5_percentage": pct(top5, starts),
        "laps_led_percentage": pct(led, laps),
        "poles_percentage": pct(poles, starts),
        "total_club_points": sum(e.club_points for _, _, e in rows),
    }


def _by_category(rows: list[tuple[Slot, Split, Entry]]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0].category, []).append(row)
    return grouped


def member_career(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    grouped = _by_category(list(races(w, d, _history_start(w), now)))
    stats = [
        {"category_id": cat, "category": CATEGORIES[cat][1], **_stats(grouped.get(cat, []))}
        for cat in (1, 5, 6, 3, 4)
    ]
    return Doc({"cust_id": w.model.cust(d), "stats": stats})


def member_yearly(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    by_year: dict[int, list[Any]] = {}
    for row in races(w, d, _history_start(w), now):
        by_year.setdefault(int(iso_seconds(row[1].start)[:4]), []).append(row)
    stats = []
    for year, rows in sorted(by_year.items(), reverse=True):
        for cat, group in sorted(_by_category(rows).items()):
            stats.append(
                {"category_id": cat, "category": CATEGORIES[cat][1], **_stats(group), "year": year}
            )
    return Doc({"stats": stats, "cust_id": w.model.cust(d)})


def member_recap(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    year = p.get("year", quarter_of(now)[0])
    season = p.get("season")
    if season is not None and not 1 <= season <= 4:
        raise bad_request("season must be 1, 2, 3 or 4")
    if season is None:
        begin, end = quarter_bounds(year, 1)[0], quarter_bounds(year, 4)[1]
    else:
        begin, end = quarter_bounds(year, season)
    rows = list(races(w, d, begin, min(end, now)))
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
        "cust_id": w.model.cust(d),
    }
    return Doc(body)


def member_bests(w: World, p: dict[str, Any], now: float) -> Doc:
    d = w.member_of(p)
    rows = list(races(w, d, _history_start(w), now))
    driven = sorted({e.car_id for _, _, e in rows})
    car_id = p.get("car_id", rows[-1][2].car_id if rows else None)
    if car_id is not None and "car_id" in p and car_id not in CARS_BY_ID:
        raise not_found(f"no car {car_id}")
    best: dict[int, tuple[Slot, Split, Entry]] = {}
    for row in rows:
        slot, _split, entry = row
        if entry.car_id != car_id or entry.best <= 0:
            continue
        known = best.get(slot.track.track_id)
        if known is None or entry.best < known[2].best:
            best[slot.track.track_id] = row
    bests = [
        {
            "track": {
                "config_name": s.track.config,
                "track_id": s.track.track_id,
                "track_name": s.track.name,
            },
            "event_type": "Race",
            "best_lap_time": e.best,
            "subsession_id": sp.subsession_id,
            "end_time": iso_seconds(sp.end),
            "season_year": s.season_year,
            "season_quarter": s.season_quarter,
        }
        for s, sp, e in best.values()
    ]
    body = {
        "cars_driven": [{"car_id": c, "car_name": CARS_BY_ID[c].name} for c in driven],
        "bests": bests,
        "cust_id": w.model.cust(d),
        "car_id": car_id or 0,
    }
    return Doc(body)


def member_division(w: World, p: dict[str, Any], now: float) -> Doc:
    if p["event_type"] not in (2, 3, 4, 5):
        raise bad_request("event_type must be 2, 3, 4 or 5")
    found = season_of(w.model, p["season_id"])
    if found is None:
        raise not_found(f"no season {p['season_id']}")
    lane, year, quarter = found
    begin, end = quarter_bounds(year, quarter)
    raced = any(s.lane == lane for s, _, _ in races(w, 0, begin, min(end, now)))
    body = {
        "division": 0 if raced and p["event_type"] == 5 else 10,  # 0 is Division 1, 10 Rookie
        "projected": not raced,
        "event_type": p["event_type"],
        "success": True,
        "season_id": p["season_id"],
        "cust_id": w.model.me,
    }
    return Doc(body)


def member_profile(w: World, p: dict[str, Any], now: float) -> Doc:
    m = w.model
    d = w.member_of(p)
    drv = m.driver(d)
    recent = list(races(w, d, now - 30 * DAY, now))
    before = list(races(w, d, now - 60 * DAY, now - 30 * DAY))
    weeks = {(s.season_year, s.season_quarter, s.race_week) for s, _, _ in recent}
    events = [
        {
            "event_type": "RACE",
            "subsession_id": sp.subsession_id,
            "start_time": iso_seconds(sp.start),
            "event_id": s.season_id,
            "event_name": s.series.name if s.series else "",
            "simsession_type": 6,
            "starting_position": e.start_position,
            "finish_position": e.position,
            "best_lap_time": e.best,
            "percent_rank": round(100 * (len(sp.order) - e.position) / len(sp.order)),
            "car_id": e.car_id,
            "car_name": CARS_BY_ID[e.car_id].name,
            "logo_url": None,
            "track": {
                "config_name": s.track.config,
                "track_id": s.track.track_id,
                "track_name": s.track.name,
            },
        }
        for s, sp, e in reversed(recent[-10:])
    ]
    awards = [a for a in member_awards(m, d) if a["award_count"]][:5]
    country = drv.country
    member_info = {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "helmet": helmet(m, d),
        "last_login": iso_seconds(now - DAY),
        "member_since": drv.member_since,
        "club_id": country[4],
        "club_name": country[5],
        "ai": False,
        "licenses": [
            license_doc(m, d, cat, seq) for seq, cat in enumerate((1, 5, 6, 3, 4), start=1)
        ],
        "country": country[2],
        "country_code": country[0],
        "flair_id": country[1],
        "flair_name": country[2],
        "flair_shortname": country[3],
    }
    body = {
        "recent_awards": awards,
        "activity": {
            "recent_30days_count": len(recent),
            "prev_30days_count": len(before),
            "consecutive_weeks": min(len(weeks), 4),
            "most_consecutive_weeks": max(len(weeks), 4),
        },
        "success": True,
        "image_url": f"https://ir-core-sites.iracing.com/members/member_images/{drv.cust_id}.jpg",
        "member_info": member_info,
        "disabled": False,
        "license_history": [],
        "recent_events": events,
        "cust_id": drv.cust_id,
        "is_generic_image": True,
        "follow_counts": {"followers": d % 17, "follows": d % 11},
    }
    return Doc(body)


HANDLERS = {
    "member/award_instances": award_instances,
    "member/chart_data": chart_data,
    "member/participation_credits": participation_credits,
    "member/profile": member_profile,
    "stats/member_career": member_career,
    "stats/member_yearly": member_yearly,
    "stats/member_recap": member_recap,
    "stats/member_bests": member_bests,
    "stats/member_division": member_division,
}
