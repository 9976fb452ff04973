"""Season standings and results of official series: stats/season_* (link to a header with
`chunk_info`, then the rows in chunks).

Driver standings are computed from the race entries of the season's finished subsessions, the
same entries results/get shows (points are the races' champ points). The simulated world runs
no team races, time trials or super sessions: those standings answer the real header with no
rows. Qualifying results come from the races' qualifying sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_COLORS
from .docs import world_record_rows
from .model import Model, Slot, Split, iso_seconds, quarter_bounds
from .race import Entry
from .refs import helmet, license_doc
from .state import Handler, State
from .types import Doc

_CSV_BASE = (
    "https://scorpio-assets.s3.amazonaws.com/members/messaging-services/long_lived/standings"
)


def _sessions(
    st: State, p: dict[str, Any], now: float, number: int
) -> Iterator[tuple[Slot, Split, tuple[Entry, ...]]]:
    """The finished subsessions of the request's season (and week), with simsession `number`."""
    m = st.model
    lane, year, quarter = st.season_or_404(p["season_id"])
    begin, end = quarter_bounds(year, quarter)
    week = p.get("race_week_num", -1)
    for k, ln in m.slots_starting(begin, min(end, now), [lane]):
        slot = m.slot(k, ln)
        if week >= 0 and slot.race_week != week:
            continue
        for split in slot.splits:
            if split.end <= now:
                session = st.detail(split.subsession_id).session(number)
                assert session is not None
                yield slot, split, session.entries


def _in_class(p: dict[str, Any], entry: Entry) -> bool:
    if CARS_BY_ID[entry.car_id].class_id != p["car_class_id"]:
        return False
    return p.get("division") is None or entry.d % 10 == p["division"]


def _header(st: State, p: dict[str, Any], kind: str, now: float) -> dict[str, Any]:
    m = st.model
    lane, year, quarter = st.season_or_404(p["season_id"])
    series = m.series[lane]
    short = f"{year} Season {quarter}"
    return {
        "success": True,
        "season_id": p["season_id"],
        "season_name": f"{series.name} - {short}",
        "season_short_name": short,
        "series_id": series.series_id,
        "series_name": series.name,
        "car_class_id": p["car_class_id"],
        "race_week_num": p.get("race_week_num", -1),
        "division": p.get("division", -1),
        "club_id": -1,
        "customer_rank": -1,
        "last_updated": iso_seconds(now // 3600 * 3600),
        "csv_url": f"{_CSV_BASE}/{kind}/season/{p['season_id']}/{p['car_class_id']}/all/export.csv",
    }


def _driver_part(m: Model, d: int, category: int) -> dict[str, Any]:
    drv = m.driver(d)
    lic = license_doc(m, d, category, 1)
    return {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "division": d % 10,
        "country_code": drv.country[0],
        "country": drv.country[2],
        "club_id": drv.country[4],
        "club_name": drv.country[5],
        "license": {
            "category_id": category,
            "category": CATEGORIES[category][1],
            "license_level": lic["license_level"],
            "safety_rating": lic["safety_rating"],
            "irating": lic["irating"],
            "color": LICENSE_COLORS[lic["group_id"]],
            "group_name": lic["group_name"],
            "group_id": lic["group_id"],
        },
        "helmet": helmet(m, d),
    }


def driver_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    totals: dict[int, dict[str, Any]] = {}
    category = 0
    for slot, _split, entries in _sessions(st, p, now, 0):
        category = slot.category
        n = len(entries)
        for e in entries:
            if not _in_class(p, e):
                continue
            t = totals.setdefault(e.d, {"weeks": set(), "rows": []})
            t["weeks"].add(slot.race_week)
            t["rows"].append((e, n))
    rows = []
    for d, t in totals.items():
        races = t["rows"]
        starts = len(races)
        points = sum(e.champ_points for e, _ in races)
        rows.append(
            {
                "rank": 0,
                **_driver_part(m, d, category),
                "weeks_counted": len(t["weeks"]),
                "starts": starts,
                "wins": sum(e.position == 0 for e, _ in races),
                "top5": sum(e.position < 5 for e, _ in races),
                "top25_percent": sum(e.position < n / 4 for e, n in races),
                "poles": sum(e.start_position == 0 for e, _ in races),
                "avg_start_position": round(
                    sum(e.start_position + 1 for e, _ in races) / starts, 1
                ),
                "avg_finish_position": round(sum(e.position + 1 for e, _ in races) / starts, 1),
                "avg_field_size": round(sum(n for _, n in races) / starts, 1),
                "laps": sum(e.laps_complete for e, _ in races),
                "laps_led": sum(e.laps_lead for e, _ in races),
                "incidents": sum(e.incidents for e, _ in races),
                "points": points,
                "raw_points": float(points),
                "week_dropped": False,
            }
        )
    rows.sort(key=lambda r: (-r["points"], r["cust_id"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    header = _header(st, p, "season-driver", now)
    me = next((r["rank"] for r in rows if r["cust_id"] == m.me), -1)
    header["customer_rank"] = me
    return Doc(header, rows=rows)


def qualify_results(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    best: dict[int, tuple[Entry, Slot, Split]] = {}
    category = 0
    for slot, split, entries in _sessions(st, p, now, -1):
        category = slot.category
        for e in entries:
            if e.best > 0 and _in_class(p, e) and (e.d not in best or e.best < best[e.d][0].best):
                best[e.d] = (e, slot, split)
    ranked = sorted(best.items(), key=lambda item: (item[1][0].best, m.cust(item[0])))
    rows = [
        {
            "rank": rank,
            **_driver_part(m, d, category),
            "best_qual_lap_time": e.best,
            "subsession_id": split.subsession_id,
            "race_week_num": slot.race_week,
            "car_id": e.car_id,
        }
        for rank, (d, (e, slot, split)) in enumerate(ranked, start=1)
    ]
    return Doc(_header(st, p, "season-qualify", now), rows=rows)


def _empty(kind: str) -> Any:
    """A standings kind the simulated world has no races for: the real header, no rows."""

    def answer(st: State, p: dict[str, Any], now: float) -> Doc:
        st.season_or_404(p["season_id"])
        return Doc(_header(st, p, kind, now), rows=[])

    return answer


def world_records(st: State, p: dict[str, Any], now: float) -> Doc:
    year = p.get("season_year")
    quarter = p.get("season_quarter") if year is not None else None
    rows = world_record_rows(st.model, p["car_id"], p["track_id"], year, quarter)
    body = {
        "success": True,
        "car_id": p["car_id"],
        "track_id": p["track_id"],
        "last_updated": iso_seconds(now // 3600 * 3600),
    }
    return Doc(body, rows=rows, type_name="stats_world_records")


HANDLERS: dict[str, Handler] = {
    "stats/world_records": world_records,
    "stats/season_driver_standings": driver_standings,
    "stats/season_qualify_results": qualify_results,
    "stats/season_supersession_standings": _empty("season-supersession"),
    "stats/season_team_standings": _empty("season-team"),
    "stats/season_tt_standings": _empty("season-tt"),
    "stats/season_tt_results": _empty("season-tt-results"),
}
