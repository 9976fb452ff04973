"""Teams: team/get and team/membership.

A team is three drivers of the team series (see `Model.teams`): it enters that series' races
as one car, so every team a roster or a result names is one team/get answers, and the
authenticated member's team (team/membership) has races of its own.
"""

from __future__ import annotations

from typing import Any

from .model import DAY, iso_seconds
from .refs import license_doc, member_ref
from .state import Handler, State
from .types import Doc, not_found


def team_get(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    team = m.team_of_id(p["team_id"])
    if team is None:
        raise not_found(f"no team {p['team_id']}")
    members = m.teams[team - 1]
    licenses = p.get("include_licenses", False)
    roster = []
    for i, d in enumerate(members):
        row = {**member_ref(m, d), "owner": i == 0, "admin": i < 2}
        if licenses:
            row["licenses"] = [
                license_doc(m, d, c, s, now) for s, c in enumerate((1, 5, 6, 3, 4), start=1)
            ]
        roster.append(row)
    owner = members[0]
    name = m.team_name(team)
    body = {
        "team_id": p["team_id"],
        "owner_id": m.cust(owner),
        "team_name": name,
        "created": iso_seconds(m.config.origin - (300 + team % 200) * DAY),
        "hidden": False,
        "about": f"{name}: endurance races in the {m.series[m.team_lane or 0].name}.",
        "url": f"https://team{team}.example.org/",
        "roster_count": len(roster),
        "recruiting": team % 2 == 0,
        "private_wall": False,
        "is_default": False,
        "is_owner": owner == 0,
        "is_admin": 0 in members[:2],
        "suit": {"pattern": team % 40, "color1": "ffffff", "color2": "0153db", "color3": "000000"},
        "owner": {k: roster[0][k] for k in ("cust_id", "display_name", "helmet", "owner", "admin")},
        "is_member": 0 in members,
        "is_applicant": False,
        "is_invite": False,
        "is_ignored": False,
        "roster": roster,
    }
    return Doc(body)


def team_membership(st: State, p: dict[str, Any], now: float) -> Doc:
    """The authenticated member's teams."""
    m = st.model
    team = m.team_of_driver.get(0)
    if team is None:
        return Doc([])
    members = m.teams[team - 1]
    row = {
        "team_id": m.team_id(team),
        "team_name": m.team_name(team),
        "owner": members[0] == 0,
        "admin": 0 in members[:2],
        "default_team": False,
    }
    return Doc([row])


HANDLERS: dict[str, Handler] = {
    "team/get": team_get,
    "team/membership": team_membership,
}
