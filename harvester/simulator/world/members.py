"""The member endpoints: member/info, get, awards, award_instances, chart_data,
participation_credits and profile.

Every figure about races comes from the member's finished official races (the same entries
results/get shows), so a chart point is a race's `newi_rating`.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID, LICENSE_GROUPS
from .docs import member_awards, member_get, member_info
from .model import DAY, iso_seconds, quarter_bounds, quarter_of
from .refs import helmet, license_doc
from .state import Handler, State
from .types import Doc, bad_request

# category_id of the request -> the series categories it covers (2, road, is sports + formula)
COVERS = {1: (1,), 2: (5, 6), 3: (3,), 4: (4,), 5: (5,), 6: (6,)}
_CHART_TYPES = (1, 2, 3)  # iRating, TT rating, license/SR


def info(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(member_info(st.model))


def get(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(member_get(st.model, p["cust_ids"], p.get("include_licenses", False)))


def awards(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    awards = member_awards(st.model, d)
    cust_id = st.model.cust(d)
    summary = {"success": True, "cust_id": cust_id, "award_count": len(awards)}
    return Doc(awards, type_name="member_awards", summary=summary)


def award_instances(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
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
        for row in member_awards(st.model, d)
        if row["award_id"] == p["award_id"] and row["award_count"]
    ]
    summary = {"success": True, "cust_id": st.model.cust(d), "award_id": p["award_id"]}
    return Doc(rows, type_name="member_award_instances", summary=summary)


def chart_data(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    category, kind = p["category_id"], p["chart_type"]
    if category not in COVERS:
        raise bad_request("category_id must be 1..6")
    if kind not in _CHART_TYPES:
        raise bad_request("chart_type must be 1, 2 or 3")
    points: dict[str, int] = {}
    if kind != 2:  # no time trials are simulated: the TT chart is empty
        for _slot, split, entry in st.races(d, st.history_start, now, COVERS[category]):
            day = iso_seconds(split.end)[:10]
            points[day] = entry.newi if kind == 1 else entry.license_level * 1000 + entry.new_sub
    body = {
        "blackout": False,
        "category_id": category,
        "chart_type": kind,
        "data": [{"when": day, "value": value} for day, value in points.items()],
        "success": True,
        "cust_id": st.model.cust(d),
    }
    return Doc(body)


def participation_credits(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    year, quarter = quarter_of(now)
    start, _ = quarter_bounds(year, quarter)
    weeks: dict[int, set[int]] = {}
    for slot, _split, _entry in st.races(0, start, now):
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


def profile(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    d = st.member_of(p)
    drv = m.driver(d)
    recent = list(st.races(d, now - 30 * DAY, now))
    before = list(st.races(d, now - 60 * DAY, now - 30 * DAY))
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


HANDLERS: dict[str, Handler] = {
    "member/info": info,
    "member/get": get,
    "member/awards": awards,
    "member/award_instances": award_instances,
    "member/chart_data": chart_data,
    "member/participation_credits": participation_credits,
    "member/profile": profile,
}
