"""Sessions to join and their entries: hosted/sessions, hosted/combined_sessions,
session/reg_drivers_list and time_attack/member_season_results.

Hosted sessions are the hosted lane's slots (open and league ones) that have not finished: the
ones not yet started can be joined as a driver, running ones also as a spectator.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID
from .model import DAY, MAX_DURATION, Slot, Split, iso_seconds
from .race import license_level
from .refs import helmet
from .rows import league_session
from .state import Handler, State
from .types import Doc, not_found

_AHEAD = DAY  # hosted sessions are listed a day before they start


def _hosted_row(st: State, slot: Slot, split: Split, now: float) -> dict[str, Any]:
    m = st.model
    hosted = slot.hosted
    assert hosted is not None
    host = m.driver(hosted.host)
    row = league_session(m, slot, split, now)
    row.update(
        {
            "session_name": hosted.session_name,
            "host": {
                "cust_id": host.cust_id,
                "display_name": host.display_name,
                "helmet": helmet(m, hosted.host),
            },
            "max_drivers": max(len(split.order), st.config.drivers_per_split),
            "num_drivers": len(split.order) if split.start <= now else 0,
            "open_reg_expires": iso_seconds(split.start),
            "restrict_results": False,
            "restrict_viewing": False,
            "event_type": 5,
            "event_type_name": "Race",
            "session_types": [
                {"session_type": 3, "session_type_name": "Open Practice"},
                {"session_type": 4, "session_type_name": "Lone Qualifying"},
                {"session_type": 6, "session_type_name": "Race"},
            ],
            "admins": [{"cust_id": host.cust_id, "display_name": host.display_name}],
            "created": iso_seconds(hosted.created),
        }
    )
    return row


def _hosted(st: State, p: dict[str, Any], now: float, running_too: bool) -> Doc:
    m = st.model
    sessions = []
    for k, lane in m.slots_starting(now - MAX_DURATION, now + _AHEAD, [m.hosted_lane]):
        slot = m.slot(k, lane)
        split = slot.splits[0]
        if split.end <= now or (split.start <= now and not running_too):
            continue
        if "package_id" in p and p["package_id"] != 2000 + slot.track.track_id:
            continue
        sessions.append(_hosted_row(st, slot, split, now))
    return Doc({"subscribed": True, "sessions": sessions, "success": True})


def hosted_sessions(st: State, p: dict[str, Any], now: float) -> Doc:
    return _hosted(st, p, now, running_too=False)


def combined_sessions(st: State, p: dict[str, Any], now: float) -> Doc:
    return _hosted(st, p, now, running_too=True)


def reg_drivers_list(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    found = m.find(p["subsession_id"])
    if found is None:
        raise not_found(f"no subsession {p['subsession_id']}")
    slot, split = found
    entries = [
        {
            "cust_id": m.cust(d),
            "display_name": m.driver(d).display_name,
            "car_id": car,
            "car_class_id": CARS_BY_ID[car].class_id,
            "helmet": helmet(m, d),
            "license_level": license_level(m, d, slot.category),
            "team_id": 0,
        }
        for d, car in sorted(zip(split.order, split.cars, strict=True))
    ]
    body = {
        "subsession_id": split.subsession_id,
        "type": "reg_drivers_list",
        "entries": entries,
        "success": True,
    }
    return Doc(body)


def time_attack_results(st: State, p: dict[str, Any], now: float) -> Doc:
    """No time attack competitions are simulated: the member has no results in any."""
    return Doc([])


HANDLERS: dict[str, Handler] = {
    "hosted/sessions": hosted_sessions,
    "hosted/combined_sessions": combined_sessions,
    "session/reg_drivers_list": reg_drivers_list,
    "time_attack/member_season_results": time_attack_results,
}
