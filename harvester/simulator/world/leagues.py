"""Leagues: league/*.

A league has a roster (its first member owns it), one season per quarter, a points system, and
its sessions on the hosted lane; its standings are computed from the finishing orders of the
season's finished sessions, so each counted session's subsession is in results/get.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID, LEAGUE_CARS
from .joinable import LEAGUE_WITHOUT, joinable_session, shown
from .model import DAY, Model, Slot, Split, iso_seconds, mix, quarter_bounds, quarter_of
from .refs import helmet, license_doc, member_ref
from .rows import league_session
from .state import Handler, State
from .types import Doc, bad_request, not_found

POINTS_SYSTEM_BASE = 9_000
_SORTS = ("relevance", "leaguename", "displayname", "rostercount")


def _league(st: State, league_id: int) -> int:
    league = st.model.league_of_id(league_id)
    if league is None:
        raise not_found(f"no league {league_id}")
    return league


def _owner(m: Model, league: int) -> int:
    return m.league_rosters[league - 1][0]


def car_number(m: Model, league: int, d: int) -> str | None:
    """The number a league member races with; about one member in four has none."""
    roster = m.league_rosters[league - 1]
    if d not in roster or mix(m.seed, 27, league, d) % 4 == 0:
        return None
    return str(roster.index(d) + 1)


def _member(m: Model, league: int, d: int) -> dict[str, Any]:
    """A league member: reference, car number (or null) and nick name."""
    return {
        **member_ref(m, d),
        "car_number": car_number(m, league, d),
        "nick_name": m.driver(d).first_name,
    }


def _roster_row(
    m: Model, league: int, d: int, i: int, licenses: bool, now: float
) -> dict[str, Any]:
    row = {
        **_member(m, league, d),
        "owner": i == 0,
        "admin": i < 2,
        "league_mail_opt_out": False,
        "league_pm_opt_out": False,
        "league_member_since": iso_seconds(m.config.origin - (400 - 3 * i) * DAY)[:10],
    }
    if licenses:
        row["licenses"] = [
            license_doc(m, d, cat, seq, now) for seq, cat in enumerate((1, 5, 6, 3, 4))
        ]
    return row


def league_doc(
    st: State, league: int, now: float, licenses: bool = False, roster: bool = True
) -> dict[str, Any]:
    m = st.model
    members = m.league_rosters[league - 1]
    me_in = 0 in members
    owner = _owner(m, league)
    doc: dict[str, Any] = {
        "league_id": m.league_id(league),
        "owner_id": m.cust(owner),
        "league_name": m.league_name(league),
        "created": iso_seconds(m.config.origin - 500 * DAY),
        "hidden": False,
        "message": "Welcome! Read the rules before your first race.",
        "about": f"{m.league_name(league)}: weekly races, clean and fair.",
        "url": f"https://league{league}.example.org/",
        "recruiting": league % 2 == 1,
        "private_wall": False,
        "private_roster": False,
        "private_schedule": False,
        "private_results": False,
        "is_owner": owner == 0,
        "is_admin": me_in and members.index(0) < 2,
        "roster_count": len(members),
        "owner": _member(m, league, owner),
        "image": {"small_logo": f"league-{league}-small.png", "large_logo": None},
        "tags": {"categorized": [], "not_categorized": []},
        "league_applications": [],
        "pending_requests": [],
        "is_member": me_in,
        "is_applicant": False,
        "is_invite": False,
        "is_ignored": False,
    }
    if roster:
        doc["roster"] = [_roster_row(m, league, d, i, licenses, now) for i, d in enumerate(members)]
    return doc


def league_get(st: State, p: dict[str, Any], now: float) -> Doc:
    league = _league(st, p["league_id"])
    return Doc(league_doc(st, league, now, p.get("include_licenses", False)))


def league_roster(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    league = _league(st, p["league_id"])
    members = m.league_rosters[league - 1]
    licenses = p.get("include_licenses", False)
    roster = [_roster_row(m, league, d, i, licenses, now) for i, d in enumerate(members)]
    summary = {
        "subscribed": True,
        "success": True,
        "roster_count": len(roster),
        "league_id": p["league_id"],
    }
    return Doc(
        {"private_roster": False, "roster": roster}, type_name="league_roster", summary=summary
    )


def league_membership(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    d = st.member_of(p)
    rows = []
    for league in range(1, m.config.league_count + 1):
        members = m.league_rosters[league - 1]
        if d not in members:
            continue
        i = members.index(d)
        row = {
            "league_id": m.league_id(league),
            "league_name": m.league_name(league),
            "owner": i == 0,
            "admin": i < 2,
            "league_mail_opt_out": False,
            "league_pm_opt_out": False,
            "car_number": car_number(m, league, d),
            "nick_name": m.driver(d).first_name,
        }
        if p.get("include_league"):
            row["league"] = league_doc(st, league, now, roster=False)
        rows.append(row)
    return Doc(rows)


def league_directory(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    sort, order = p.get("sort", "relevance"), p.get("order", "asc")
    if sort not in _SORTS or order not in ("asc", "desc"):
        raise bad_request("sort or order is not one of the known values")
    term = p.get("search", "").lower()
    docs = []
    for league in range(1, m.config.league_count + 1):
        doc = league_doc(st, league, now, roster=False)
        size = doc["roster_count"]
        if (
            (term and term not in (doc["league_name"] + " " + doc["about"]).lower())
            or (p.get("restrict_to_member") and not doc["is_member"])
            or (p.get("restrict_to_recruiting") and not doc["recruiting"])
            or p.get("restrict_to_friends")  # the simulated member has no friends listed
            or p.get("restrict_to_watched")
            or size < p.get("minimum_roster_count", 0)
            or size > p.get("maximum_roster_count", size)
        ):
            continue
        docs.append(
            {k: doc[k] for k in ("league_id", "owner_id", "league_name", "created", "about")}
            | {
                "url": doc["url"],
                "roster_count": size,
                "recruiting": doc["recruiting"],
                "is_admin": doc["is_admin"],
                "is_member": doc["is_member"],
                "pending_application": False,
                "pending_invitation": False,
                "owner": doc["owner"],
            }
        )
    key = {
        "leaguename": lambda r: r["league_name"],
        "displayname": lambda r: r["owner"]["display_name"],
        "rostercount": lambda r: r["roster_count"],
    }.get(sort, lambda r: r["league_id"])
    docs.sort(key=key, reverse=order == "desc")
    lower = max(1, p.get("lowerbound", 1))
    upper = p.get("upperbound", lower + 39)
    return Doc(
        {
            "results_page": docs[lower - 1 : upper],
            "success": True,
            "lowerbound": lower,
            "upperbound": upper,
            "row_count": len(docs),
        }
    )


def _points_system(m: Model, league: int) -> dict[str, Any]:
    return {
        "points_system_id": POINTS_SYSTEM_BASE + league,
        "name": "League Points",
        "description": "40 for a win, two fewer for each place after; none for a retirement.",
        "league_id": m.league_id(league),
        "retired": False,
        "iracing_system": False,
    }


_IRACING_SYSTEMS = (
    (2, "iRacing Standard", "Points from the strength of field, as official races score."),
    (3, "Formula One (2010+)", "25-18-15-12-10-8-6-4-2-1."),
)


def get_points_systems(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    league = _league(st, p["league_id"])
    systems = [
        {
            "points_system_id": sid,
            "name": name,
            "description": text,
            "league_id": 0,
            "retired": False,
            "iracing_system": True,
        }
        for sid, name, text in _IRACING_SYSTEMS
    ]
    systems.append(_points_system(m, league))
    body: dict[str, Any] = {
        "subscribed": True,
        "success": True,
        "points_systems": systems,
        "league_id": p["league_id"],
    }
    if "season_id" in p:
        body["season_id"] = p["season_id"]
    return Doc(body)


def league_seasons_of(m: Model, league: int, now: float) -> list[tuple[int, int]]:
    """(year, quarter) of every season of a league, oldest first, up to the current one."""
    year, quarter = quarter_of(m.config.origin - m.config.history_days * DAY)
    last = quarter_of(now)
    found = []
    while (year, quarter) <= last:
        found.append((year, quarter))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return found


def _season_row(m: Model, league: int, year: int, quarter: int, now: float) -> dict[str, Any]:
    system = _points_system(m, league)
    cars = LEAGUE_CARS[(league - 1) % len(LEAGUE_CARS)]
    return {
        "league_id": m.league_id(league),
        "season_id": m.league_season_id(league, year, quarter),
        "points_system_id": system["points_system_id"],
        "season_name": f"{year} Season {quarter}",
        "active": quarter_of(now) == (year, quarter),
        "hidden": False,
        "num_drops": 0,
        "no_drops_on_or_after_race_num": -1,
        "points_cars": [{"car_id": c, "car_name": CARS_BY_ID[c].name} for c in cars],
        "driver_points_car_classes": [],
        "team_points_car_classes": [],
        "points_system_name": system["name"],
        "points_system_desc": system["description"],
    }


def league_seasons(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    league = _league(st, p["league_id"])
    rows = [_season_row(m, league, y, q, now) for y, q in league_seasons_of(m, league, now)]
    if not p.get("retired"):
        rows = [r for r in rows if r["active"]]
    body = {
        "subscribed": True,
        "retired": p.get("retired", False),
        "league_id": p["league_id"],
        "seasons": rows,
        "success": True,
    }
    return Doc(body)


def league_points(position: int, running: bool) -> int:
    return max(0, 40 - 2 * position) if running else 0


def season_standings(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    league = _league(st, p["league_id"])
    season = m.league_season_of_id(p["season_id"])
    if season is None or season[0] != league:
        raise not_found(f"no season {p['season_id']} in league {p['league_id']}")
    start, end = quarter_bounds(season[1], season[2])
    totals: dict[int, dict[str, Any]] = {}
    for k, lane in m.slots_starting(start, min(end, now), [m.hosted_lane]):
        if m.hosted_league(k) != league:
            continue
        split = m.slot(k, lane).splits[0]
        if split.end > now:
            continue
        for pos, d in enumerate(split.order):
            car = split.cars[pos]
            if ("car_id" in p and p["car_id"] != car) or (
                "car_class_id" in p and p["car_class_id"] != CARS_BY_ID[car].class_id
            ):
                continue
            t = totals.setdefault(d, {"starts": 0, "wins": 0, "points": 0, "finish": 0})
            t["starts"] += 1
            t["wins"] += pos == 0
            t["finish"] += pos + 1
            t["points"] += league_points(pos, split.laps[pos] == m.config.laps_per_race)
    ranked = sorted(totals.items(), key=lambda item: (-item[1]["points"], m.cust(item[0])))
    rows = []
    for rank, (d, t) in enumerate(ranked, start=1):
        rows.append(
            {
                "rownum": rank,
                "position": rank,
                "driver": {
                    "cust_id": m.cust(d),
                    "display_name": m.driver(d).display_name,
                    "helmet": helmet(m, d),
                },
                "car_number": car_number(m, league, d) or "",
                "driver_nickname": m.driver(d).first_name,
                "wins": t["wins"],
                "average_start": 0,
                "average_finish": round(t["finish"] / t["starts"]),
                "base_points": t["points"],
                "negative_adjustments": 0,
                "positive_adjustments": 0,
                "total_adjustments": 0,
                "total_points": t["points"],
            }
        )
    body = {
        "car_class_id": p.get("car_class_id", 0),
        "success": True,
        "season_id": p["season_id"],
        "car_id": p.get("car_id", 0),
        "standings": {
            "driver_standings": rows,
            "team_standings": [],
            "driver_standings_csv_url": _standings_csv(p, "driver"),
            "team_standings_csv_url": _standings_csv(p, "team"),
        },
        "league_id": p["league_id"],
    }
    return Doc(body)


def cust_league_sessions(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    mine = {j for j in range(1, m.config.league_count + 1) if 0 in m.league_rosters[j - 1]}
    sessions = []
    for k, lane in m.slots_starting(now - 3 * 3600, now + 7 * DAY, [m.hosted_lane]):
        league = m.hosted_league(k)
        if not league or (p.get("mine") and league not in mine):
            continue
        slot = m.slot(k, lane)
        split = slot.splits[0]
        if split.end <= now or (
            "package_id" in p and p["package_id"] != 2000 + slot.track.track_id
        ):
            continue
        sessions.append(_league_joinable(st, slot, split, now))
    body: dict[str, Any] = {
        "mine": p.get("mine", False),
        "subscribed": True,
        "sequence": int(now // 60),
        "sessions": sessions,
        "success": True,
    }
    if "package_id" in p:
        body["package_id"] = p["package_id"]
    return Doc(body)


def _league_joinable(st: State, slot: Slot, split: Split, now: float) -> dict[str, Any]:
    """A league session to join, with its league and the member's standing in it."""
    m = st.model
    hosted = slot.hosted
    assert hosted is not None
    max_drivers = max(len(split.order), st.config.drivers_per_split)
    session = shown(joinable_session(m, slot, split, now, max_drivers), LEAGUE_WITHOUT)
    roster = m.league_rosters[hosted.league - 1]
    rank = roster.index(0) if 0 in roster else -1
    session.update(
        league_name=m.league_name(hosted.league),
        league_season_name=f"{slot.season_year} Season {slot.season_quarter}",
        image={"small_logo": f"league-{hosted.league}-small.png", "large_logo": None},
        owner=rank == 0,
        admin=0 <= rank < 2,
        race_length_type=1,
    )
    weather = session["weather"]
    del weather["weather_var_initial"], weather["weather_var_ongoing"]
    for car in session["cars"]:  # a league session's cars run in one class, as hosted ones do
        car.update(car_class_id=0, car_class_name="Hosted All Cars Class")
    session["count_by_car_class_id"] = {"0": session["num_drivers"]}
    return session


def _standings_csv(p: dict[str, Any], kind: str) -> str:
    return (
        "https://scorpio-assets.s3.amazonaws.com/members/messaging-services/long_lived/"
        f"league/{p['league_id']}/season/{p['season_id']}/{kind}_standings.csv"
    )


def season_sessions(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    league = m.league_of_id(p["league_id"])
    season = m.league_season_of_id(p["season_id"])
    if league is None or season is None or season[0] != league:
        raise not_found(f"no season {p['season_id']} in league {p['league_id']}")
    q_start, q_end = quarter_bounds(season[1], season[2])
    horizon = min(q_end, now + 7 * DAY)  # sessions are scheduled a week ahead
    sessions = []
    for k, lane in m.slots_starting(q_start, horizon, [m.hosted_lane]):
        if m.hosted_league(k) != league:
            continue
        slot = m.slot(k, lane)
        split = slot.splits[0]
        if p.get("results_only") and split.end > now:
            continue
        sessions.append(league_session(m, slot, split, now))
    body = {
        "sessions": sessions,
        "success": True,
        "season_id": p["season_id"],
        "league_id": p["league_id"],
        "subscribed": True,
    }
    return Doc(body)


HANDLERS: dict[str, Handler] = {
    "league/get": league_get,
    "league/roster": league_roster,
    "league/membership": league_membership,
    "league/directory": league_directory,
    "league/get_points_systems": get_points_systems,
    "league/seasons": league_seasons,
    "league/season_standings": season_standings,
    "league/cust_league_sessions": cust_league_sessions,
    "league/season_sessions": season_sessions,
}
