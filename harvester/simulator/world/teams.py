"""Teams: team/get and team/membership.

Teams are small fixed rosters drawn from the driver pool; the authenticated member is in the
first two.
"""

from __future__ import annotations

from typing import Any

from .model import DAY, Model, iso_seconds
from .refs import license_doc, member_ref
from .state import Handler, State
from .types import Doc, not_found

TEAM_ID_BASE = 310_000
TEAM_NAMES = (
    "Apex Hunters",
    "Late Brakers Racing",
    "Blue Flag Motorsport",
    "Pit Lane Pirates",
    "Slipstream Collective",
    "Full Send Racing",
)
TEAM_SIZE = 6


def team_roster(m: Model, team: int) -> tuple[int, ...]:
    """Driver indices of team 1..len(TEAM_NAMES); the member (index 0) is in teams 1 and 2."""
    members = [(team * 211 + i * 389) % m.pool for i in range(TEAM_SIZE)]
    if team <= 2 and 0 not in members:
        members[-1] = 0
    return tuple(dict.fromkeys(members))


def team_of_id(team_id: int) -> int | None:
    team = team_id - TEAM_ID_BASE
    return team if 1 <= team <= len(TEAM_NAMES) else None


def team_get(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    team = team_of_id(p["team_id"])
    if team is None:
        raise not_found(f"no team {p['team_id']}")
    members = team_roster(m, team)
    licenses = p.get("include_licenses", False)
    roster = []
    for i, d in enumerate(members):
        row = {**member_ref(m, d), "owner": i == 0, "admin": i < 2}
        if licenses:
            row["licenses"] = [license_doc(m, d, c, s) for s, c in enumerate((1, 5, 6, 3, 4))]
        roster.append(row)
    owner = members[0]
    body = {
        "team_id": p["team_id"],
        "owner_id": m.cust(owner),
        "team_name": TEAM_NAMES[team - 1],
        "created": iso_seconds(m.config.origin - (300 + 20 * team) * DAY),
        "hidden": False,
        "about": f"{TEAM_NAMES[team - 1]}: endurance and sprint races.",
        "url": None,
        "roster_count": len(roster),
        "recruiting": team % 2 == 0,
        "private_wall": False,
        "is_default": False,
        "is_owner": owner == 0,
        "is_admin": 0 in members[:2],
        "suit": {"pattern": team, "color1": "ffffff", "color2": "0153db", "color3": "000000"},
        "owner": {k: roster[0][k] for k in ("cust_id", "display_name", "helmet", "owner", "admin")},
        "tags": {"categorized": [], "not_categorized": []},
        "team_applications": [],
        "pending_requests": [],
        "is_member": 0 in members,
        "is_applicant": False,
        "is_invite": False,
        "is_ignored": False,
        "roster": roster,
    }
    return Doc(body)


def team_membership(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    rows = []
    for team in range(1, len(TEAM_NAMES) + 1):
        members = team_roster(m, team)
        if 0 in members:
            rows.append(
                {
                    "team_id": TEAM_ID_BASE + team,
                    "team_name": TEAM_NAMES[team - 1],
                    "owner": members[0] == 0,
                    "admin": 0 in members[:2],
                    "default_team": False,
                }
            )
    return Doc(rows)


HANDLERS: dict[str, Handler] = {
    "team/get": team_get,
    "team/membership": team_membership,
}
