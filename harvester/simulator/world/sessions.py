"""Sessions to join and their entries: hosted/sessions, hosted/combined_sessions,
session/reg_drivers_list and time_attack/member_season_results.

Hosted sessions are the hosted lane's slots (open and league ones) that have not finished: the
ones not yet started can be joined as a driver, running ones also as a spectator.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID
from .joinable import HOSTED_WITHOUT, joinable_session, shown
from .model import DAY, MAX_DURATION, Split
from .race import license_level
from .refs import helmet
from .state import Handler, State
from .types import Doc, not_found

_AHEAD = DAY  # hosted sessions are listed a day before they start


def _max_drivers(st: State, split: Split) -> int:
    return max(len(split.order), st.config.drivers_per_split)


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
        session = joinable_session(m, slot, split, now, _max_drivers(st, split))
        sessions.append(shown(session, () if running_too else HOSTED_WITHOUT))
    body: dict[str, Any] = {"subscribed": True, "sessions": sessions, "success": True}
    if running_too:
        body["sequence"] = int(now // 60)
        if "package_id" in p:
            body["package_id"] = p["package_id"]
    return Doc(body)


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
