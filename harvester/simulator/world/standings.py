"""Season standings and results of official series: stats/season_* (a link to a header with
`chunk_info`, then the rows in chunks), and stats/world_records.

They are computed from the season's finished races, the same entries results/get shows
(points are the races' champ points): driver standings count every driver (in the team series,
each driver of a team's car), team standings the team series' teams with their drivers, super
session standings the super sessions only (a series with them runs one a day), qualifying the
races' qualifying sessions. Time trial results and standings count the weeks' time trials of
a series with them (`time_trials`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_COLORS
from .docs import world_record_rows
from .figures import CarFigures, Summary, qualifying
from .model import Model, Slot, Split, iso_seconds, quarter_bounds
from .refs import helmet, license_doc
from .season_docs import SUPER_SESSION_EVERY
from .state import Handler, State
from .time_trials import tt_points, week_runs
from .types import Doc

_CSV_BASE = (
    "https://scorpio-assets.s3.amazonaws.com/members/messaging-services/long_lived/standings"
)
Race = tuple[Summary, int]  # a driver's (or car's) figures in a race, and the field's size


def _races(
    st: State, p: dict[str, Any], now: float, supersessions: bool = False
) -> Iterator[tuple[Slot, Split]]:
    """The finished subsessions of the request's season (and week)."""
    m = st.model
    lane, year, quarter = st.season_or_404(p["season_id"])
    begin, end = quarter_bounds(year, quarter)
    week = p.get("race_week_num", -1)
    for k, ln in m.slots_starting(begin, min(end, now), [lane]):
        if supersessions and k % SUPER_SESSION_EVERY:
            continue
        slot = m.slot(k, ln)
        if week >= 0 and slot.race_week != week:
            continue
        for split in slot.splits:
            if split.end <= now:
                yield slot, split


def _in_class(m: Model, p: dict[str, Any], split: Split, car: CarFigures) -> bool:
    """Whether a car is of the request's class (and its first driver of its division)."""
    if CARS_BY_ID[car.car.car_id].class_id != p["car_class_id"]:
        return False
    lead = m.drivers_of(split, car.entrant)[0]
    return p.get("division") is None or lead % 10 == p["division"]


def _header(
    st: State, p: dict[str, Any], kind: str, now: float, full: bool = True
) -> dict[str, Any]:
    """A standings header; `full` adds the division, club, member's rank and CSV export."""
    m = st.model
    lane, year, quarter = st.season_or_404(p["season_id"])
    series = m.series[lane]
    short = f"{year} Season {quarter}"
    header = {
        "success": True,
        "season_id": p["season_id"],
        "season_name": f"{series.name} - {short}",
        "season_short_name": short,
        "series_id": series.series_id,
        "series_name": series.name,
        "car_class_id": p["car_class_id"],
        "race_week_num": p.get("race_week_num", -1),
        "last_updated": iso_seconds(now // 3600 * 3600),
    }
    if full:
        header.update(
            {
                "division": p.get("division", -1),
                "club_id": -1,
                "customer_rank": -1,
                "csv_url": (
                    f"{_CSV_BASE}/{kind}/season/{p['season_id']}/{p['car_class_id']}/all/export.csv"
                ),
            }
        )
    return header


def _license(m: Model, d: int, category: int, now: float) -> dict[str, Any]:
    lic = license_doc(m, d, category, 1, now)
    return {
        "category_id": category,
        "category": CATEGORIES[category][1],
        "category_name": CATEGORIES[category][1],
        "license_level": lic["license_level"],
        "safety_rating": lic["safety_rating"],
        "irating": lic["irating"],
        "tt_rating": lic["tt_rating"],
        "color": LICENSE_COLORS[lic["group_id"]],
        "group_name": lic["group_name"],
        "group_id": lic["group_id"],
    }


def _driver_part(m: Model, d: int, category: int, now: float) -> dict[str, Any]:
    drv = m.driver(d)
    return {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "division": d % 10,
        "country_code": drv.country[0],
        "country": drv.country[2],
        "club_id": drv.country[4],
        "club_name": drv.country[5],
        "license": _license(m, d, category, now),
        "helmet": helmet(m, d),
    }


def _figures(races: list[Race], weeks: int, whole: bool = False) -> dict[str, Any]:
    """What a standings row adds up over a driver's (or a team's) races; `whole`: averages as
    integers (team standings)."""
    starts = len(races)
    points = sum(e.champ_points for e, _ in races)

    def mean(total: int) -> float:
        value = total / starts if starts else 0.0
        return round(value) if whole else round(value, 1)

    return {
        "weeks_counted": weeks,
        "starts": starts,
        "wins": sum(e.position == 0 for e, _ in races),
        "top5": sum(e.position < 5 for e, _ in races),
        "top25_percent": sum(e.position < n / 4 for e, n in races),
        "poles": sum(e.start_position == 0 for e, _ in races),
        "avg_start_position": mean(sum(e.start_position + 1 for e, _ in races)),
        "avg_finish_position": mean(sum(e.position + 1 for e, _ in races)),
        "avg_field_size": mean(sum(n for _, n in races)),
        "laps": sum(e.laps_complete for e, _ in races),
        "laps_led": sum(e.laps_lead for e, _ in races),
        "incidents": sum(e.incidents for e, _ in races),
        "points": points,
        "raw_points": float(points),
        "week_dropped": False,
    }


def _ranked(rows: list[dict[str, Any]], key: str = "points") -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (-r[key], r["cust_id"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _driver_rows(
    st: State, p: dict[str, Any], now: float, supersessions: bool = False
) -> list[dict[str, Any]]:
    """Every driver's standing over the season's races (each driver of a team's car)."""
    totals: dict[int, tuple[set[int], list[Race]]] = {}
    category = 0
    for slot, split in _races(st, p, now, supersessions):
        category = slot.category
        cars = st.figures(split.subsession_id)
        for car in cars:
            if not _in_class(st.model, p, split, car):
                continue
            for d, figures in car.drivers:
                weeks, races = totals.setdefault(d, (set(), []))
                weeks.add(slot.race_week)
                races.append((figures, len(cars)))
    rows = [
        {"rank": 0, **_driver_part(st.model, d, category, now), **_figures(races, len(weeks))}
        for d, (weeks, races) in totals.items()
    ]
    return _ranked(rows)


def _with_rank(st: State, p: dict[str, Any], kind: str, now: float, rows: list[Any]) -> Doc:
    header = _header(st, p, kind, now)
    header["customer_rank"] = next((r["rank"] for r in rows if r["cust_id"] == st.model.me), -1)
    return Doc(header, rows=rows)


def driver_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    return _with_rank(st, p, "season-driver", now, _driver_rows(st, p, now))


def supersession_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    """The standings of the season's super sessions (none in a series without them)."""
    lane, _, _ = st.season_or_404(p["season_id"])
    rows = []
    if st.model.series[lane].supersessions:
        rows = _driver_rows(st, p, now, supersessions=True)
        for row in rows:
            del row["club_id"], row["club_name"]
    doc = _with_rank(st, p, "season-supersession", now, rows)
    del doc.body["club_id"]
    return doc


def team_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    """The team series' teams, each with its cars and its drivers' own standings."""
    m = st.model
    cars: dict[int, list[Race]] = {}
    weeks: dict[int, set[int]] = {}
    drivers: dict[int, list[Race]] = {}
    category = 0
    for slot, split in _races(st, p, now):
        if not split.team:
            continue
        category = slot.category
        field = st.figures(split.subsession_id)
        for car in field:
            if _in_class(m, p, split, car):
                cars.setdefault(car.entrant, []).append((car.car, len(field)))
                weeks.setdefault(car.entrant, set()).add(slot.race_week)
                for d, own in car.drivers:
                    drivers.setdefault(d, []).append((own, len(field)))
    rows = []
    for team, races in cars.items():
        lead = m.teams[team - 1][0]
        members = []
        for d in m.teams[team - 1]:
            if d in drivers:
                counted = _figures(drivers[d], len(weeks[team]), whole=True)
                del counted["raw_points"]
                members.append(
                    {
                        "rank": 0,
                        "cust_id": m.cust(d),
                        "display_name": m.driver(d).display_name,
                        "license": _license(m, d, category, now),
                        **counted,
                    }
                )
        totals = _figures(races, len(weeks[team]), whole=True)
        del totals["raw_points"]
        rows.append(
            {
                "rank": 0,
                "cust_id": m.cust(lead),
                "display_name": m.team_name(team),
                **totals,
                "team_id": m.team_id(team),
                "cars": [
                    {"carclassid": CARS_BY_ID[c].class_id, "carid": c}
                    for c in sorted({e.car_id for e, _ in races})
                ],
                "drivers": _ranked(members),
            }
        )
    return Doc(_header(st, p, "season-team", now, full=False), rows=_ranked(rows))


def qualify_results(st: State, p: dict[str, Any], now: float) -> Doc:
    """Every driver's qualifying over the season's races: positions are qualifying's."""
    m = st.model
    totals: dict[int, tuple[set[int], list[Race]]] = {}
    category = 0
    for slot, split in _races(st, p, now):
        category = slot.category
        field = st.figures(split.subsession_id)
        cars = {car.entrant: car for car in field}
        for position, (entrant, _best, _avg, laps) in enumerate(qualifying(m, split)):
            if laps and _in_class(m, p, split, cars[entrant]):
                d = m.drivers_of(split, entrant)[0]  # a team's car qualifies with its first
                weeks, runs = totals.setdefault(d, (set(), []))
                weeks.add(slot.race_week)
                run = Summary(cars[entrant].car.car_id, position, position, laps, 0, 0, 0, 0)
                runs.append((run, len(field)))
    rows = []
    for d, (weeks, runs) in totals.items():
        part = _driver_part(m, d, category, now)
        for key in ("club_id", "club_name", "helmet"):
            del part[key]
        figures = _figures(runs, len(weeks), whole=True)
        del figures["raw_points"]
        rows.append({"rank": 0, **part, **figures})
    return Doc(_header(st, p, "season-qualify", now, full=False), rows=_ranked(rows))


def _tt_weeks(st: State, p: dict[str, Any], now: float) -> Iterator[tuple[int, list[Any]]]:
    """(week, time trials run by `now`) of the request's season (and week)."""
    lane, year, quarter = st.season_or_404(p["season_id"])
    series = st.model.series[lane]
    asked = p.get("race_week_num", -1)
    for week in range(13):
        if asked >= 0 and week != asked:
            continue
        runs = [r for r in week_runs(st.model, series, year, quarter, week) if r.at <= now]
        car = series.cars[0]
        if runs and CARS_BY_ID[car].class_id == p["car_class_id"]:
            yield week, [r for r in runs if p.get("division") in (None, r.d % 10)]


def _tt_part(m: Model, d: int, category: int, now: float) -> dict[str, Any]:
    part = _driver_part(m, d, category, now)
    country = m.driver(d).country
    del part["club_id"], part["club_name"]
    return {**part, "flair_id": country[1], "flair_name": country[2], "flair_shortname": country[3]}


def tt_results(st: State, p: dict[str, Any], now: float) -> Doc:
    """A week's time trials, fastest first, with their points."""
    m = st.model
    lane, _, _ = st.season_or_404(p["season_id"])
    category = m.series[lane].category
    rows = []
    for week, runs in _tt_weeks(st, p, now):
        for rank, run in enumerate(runs, start=1):
            points = tt_points(rank, len(runs))
            rows.append(
                {
                    "rank": rank,
                    **_tt_part(m, run.d, category, now),
                    "best_nlaps_time": run.best,
                    "starts": run.starts,
                    "points": round(points),
                    "raw_points": points,
                    "week": week,
                }
            )
    return Doc(_header(st, p, "season-tt-results", now, full=False), rows=rows)


def tt_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    """The season's time trials added up per driver (the weeks he ran)."""
    m = st.model
    lane, _, _ = st.season_or_404(p["season_id"])
    category = m.series[lane].category
    totals: dict[int, list[tuple[int, int, int]]] = {}  # d -> (rank, field, starts) per week
    for _week, runs in _tt_weeks(st, p, now):
        for rank, run in enumerate(runs, start=1):
            totals.setdefault(run.d, []).append((rank, len(runs), run.starts))
    rows = []
    for d, weeks in totals.items():
        points = sum(tt_points(rank, field) for rank, field, _ in weeks)
        rows.append(
            {
                "rank": 0,
                **_tt_part(m, d, category, now),
                "weeks_counted": len(weeks),
                "starts": sum(starts for _, _, starts in weeks),
                "wins": sum(rank == 1 for rank, _, _ in weeks),
                "top5": sum(rank <= 5 for rank, _, _ in weeks),
                "top25_percent": sum(rank <= field / 4 for rank, field, _ in weeks),
                "poles": 0,
                "avg_start_position": 0.0,
                "avg_finish_position": round(sum(r for r, _, _ in weeks) / len(weeks), 1),
                "avg_field_size": round(sum(f for _, f, _ in weeks) / len(weeks), 1),
                "laps": sum(3 * starts for _, _, starts in weeks),
                "laps_led": 0,
                "incidents": 0,
                "points": round(points),
                "raw_points": round(points, 2),
                "week_dropped": False,
            }
        )
    return Doc(_header(st, p, "season-tt", now, full=False), rows=_ranked(rows))


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
    "stats/season_supersession_standings": supersession_standings,
    "stats/season_team_standings": team_standings,
    "stats/season_tt_standings": tt_standings,
    "stats/season_tt_results": tt_results,
}
