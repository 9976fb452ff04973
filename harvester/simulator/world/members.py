"""The member endpoints: member/info, get, awards, award_instances, chart_data,
participation_credits and profile.

Every figure about races comes from the member's finished official races (the same entries
results/get shows), so a chart point is a race's `newi_rating`.
"""

from __future__ import annotations

from typing import Any

from . import ratings
from .data import CARS_BY_ID, LICENSE_GROUPS
from .docs import member_awards, member_get, member_info
from .figures import best_lap
from .model import DAY, Model, iso_seconds, quarter_bounds, quarter_of
from .race import license_level
from .refs import helmet, license_doc
from .state import Handler, State
from .types import Doc, bad_request, not_found

# category_id of the request -> the series categories it covers (2, road, is sports + formula)
COVERS = {1: (1,), 2: (5, 6), 3: (3,), 4: (4,), 5: (5,), 6: (6,)}
_CHART_TYPES = (1, 2, 3)  # iRating, TT rating, license/SR


def info(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(member_info(st.model, now))


def get(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(member_get(st.model, p["cust_ids"], p.get("include_licenses", False), now))


def awards(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    awards = member_awards(st.model, d)
    cust_id = st.model.cust(d)
    summary = {"success": True, "cust_id": cust_id, "award_count": len(awards)}
    return Doc(awards, type_name="member_awards", summary=summary)


def award_instances(st: State, p: dict[str, Any], now: float) -> Doc:
    """One award of a member: its template and every time the member earned it."""
    d = st.member_of(p)
    template = next(
        (row for row in member_awards(st.model, d) if row["award_id"] == p["award_id"]), None
    )
    if template is None:
        raise not_found(f"no award {p['award_id']}")
    instances = [{k: template[k] for k in _INSTANCE_KEYS} for _ in range(template["award_count"])]
    body = {
        "cust_id": st.model.cust(d),
        "award_id": template["award_id"],
        "achievement": template["achievement"],
        "award_count": template["award_count"],
        "awards": instances,
        **{k: template[k] for k in _TEMPLATE_KEYS},
    }
    summary = {
        "success": True,
        "cust_id": st.model.cust(d),
        "award_id": p["award_id"],
        "award_count": template["award_count"],
    }
    return Doc(body, type_name="member_award_instances", summary=summary)


_INSTANCE_KEYS = (
    "member_award_id",
    "award_id",
    "achievement",
    "award_count",
    "award_date",
    "award_order",
    "awarded_description",
    "display_date",
    "subsession_id",
    "viewed",
)
_TEMPLATE_KEYS = (
    "description",
    "group_name",
    "has_pdf",
    "icon_background_color",
    "icon_url_large",
    "icon_url_small",
    "icon_url_unawarded",
    "name",
    "weight",
)


def chart_data(st: State, p: dict[str, Any], now: float) -> Doc:
    d = st.member_of(p)
    category, kind = p["category_id"], p["chart_type"]
    if category not in COVERS:
        raise bad_request("category_id must be 1..6")
    if kind not in _CHART_TYPES:
        raise bad_request("chart_type must be 1, 2 or 3")
    points: dict[str, int] = {}
    m = st.model
    if kind != 2:  # a point a day: the rating after the day's last race, as results/get has it
        for slot, split in st.race_slots(d, st.history_start, now, COVERS[category]):
            ir, sub = ratings.after(m, d, slot.category, slot.k, slot.lane)
            level = license_level(m, d, slot.category)
            points[iso_seconds(split.end)[:10]] = ir if kind == 1 else level * 1000 + sub
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
    recent = list(st.summaries(d, now - 30 * DAY, now))
    before = list(st.summaries(d, now - 60 * DAY, now - 30 * DAY))
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
            "best_lap_time": best_lap(m, sp, e.position, d),
            "percent_rank": round(100 * (len(sp.order) - e.position) / len(sp.order), 1),
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
    earned = [a for a in member_awards(m, d) if a["award_count"]][:5]
    season_start = quarter_bounds(*quarter_of(now))[0]  # the history: as the season began
    recent_awards = [{k: a[k] for k in _RECENT_AWARD_KEYS if k in a} for a in earned]
    country = drv.country
    member_info = {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "helmet": helmet(m, d),
        "last_login": iso_seconds(now - DAY),
        "member_since": drv.member_since,
        "ai": False,
        "licenses": [
            license_doc(m, d, cat, seq, now) for seq, cat in enumerate((1, 5, 6, 3, 4), start=1)
        ],
        "country": country[2],
        "country_code": country[0],
        "flair_id": country[1],
        "flair_name": country[2],
        "flair_shortname": country[3],
    }
    body = {
        "recent_awards": recent_awards,
        "profile": [
            {k: f[k] for k in ("field_id", "name", "value", "editable", "label")}
            for f in _profile_fields(m, d)
        ],
        "field_defs": _profile_fields(m, d),
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
        "license_history": [
            {
                k: v
                for k, v in license_doc(m, d, cat, seq, season_start).items()
                if k in _HISTORY_KEYS
            }
            for seq, cat in enumerate((1, 5, 6, 3, 4), start=1)
        ],
        "recent_events": events,
        "cust_id": drv.cust_id,
        "is_generic_image": True,
        "follow_counts": {"followers": d % 17, "follows": d % 11},
    }
    return Doc(body)


_RECENT_AWARD_KEYS = (
    "member_award_id",
    "cust_id",
    "award_id",
    "award_date",
    "description",
    "awarded_description",
    "viewed",
    "name",
    "group_name",
    "icon_url_small",
    "icon_url_large",
    "icon_url_unawarded",
    "weight",
    "award_count",
    "award_order",
    "achievement",
    "subsession_id",
    "has_pdf",
    "progress",
    "progress_label",
    "threshold",
)
_HISTORY_KEYS = (
    "category_id",
    "category",
    "license_level",
    "safety_rating",
    "cpi",
    "irating",
    "tt_rating",
    "color",
    "group_name",
    "group_id",
    "category_name",
    "seq",
)
# the profile's fields: (id, name, label, section, row, column, lines)
_FIELDS = (
    (1, "location", "Location", "about", 1, 1, 1),
    (2, "rig", "Rig", "about", 2, 1, 1),
    (3, "favorite_track", "Favorite Track", "racing", 1, 2, 1),
    (4, "about_me", "About Me", "about", 3, 1, 4),
)


def _profile_fields(m: Model, d: int) -> list[dict[str, Any]]:
    """The free-text fields of a member's profile, as field_defs lists them."""
    drv = m.driver(d)
    values = {
        "location": drv.country[2],
        "rig": ("Wheel and pedals", "Direct drive wheel, load cell pedals")[d % 2],
        "favorite_track": m.track_for(m.series[m.lanes_of(d)[0]], d % 13).name,
        "about_me": f"{drv.first_name} races since {drv.member_since[:4]}.",
    }
    return [
        {
            "field_id": fid,
            "name": name,
            "value": values[name],
            "editable": d == 0,
            "label": label,
            "section": section,
            "row_order": row,
            "column": column,
            "number_of_lines": lines,
        }
        for fid, name, label, section, row, column, lines in _FIELDS
    ]


HANDLERS: dict[str, Handler] = {
    "member/info": info,
    "member/get": get,
    "member/awards": awards,
    "member/award_instances": award_instances,
    "member/chart_data": chart_data,
    "member/participation_credits": participation_credits,
    "member/profile": profile,
}
