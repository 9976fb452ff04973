"""Sessions to join and their entries: hosted/sessions, hosted/combined_sessions,
session/reg_drivers_list and time_attack/member_season_results.

Hosted sessions are the hosted lane's slots (open and league ones) that have not finished: the
ones not yet started can be joined as a driver, running ones also as a spectator.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID
from .joinable import HOSTED_WITHOUT, joinable_session, shown
from .model import DAY, MAX_DURATION, Slot, Split, iso_seconds, mix, quarter_bounds
from .refs import helmet, license_doc, livery
from .state import Handler, State
from .time_trials import TA_TRACKS, ta_quarter
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
    """The drivers registered for a subsession (its field, in a team race each team's drivers
    with their team_id), with their licenses as they entered."""
    m = st.model
    found = m.find(p["subsession_id"])
    if found is None:
        raise not_found(f"no subsession {p['subsession_id']}")
    slot, split = found
    entries = []
    for entrant, car in zip(split.order, split.cars, strict=True):
        for d in m.drivers_of(split, entrant):
            entries.append(_registered(st, slot, split, d, car, now))
            if split.team:
                entries[-1]["team_id"] = m.team_id(entrant)
    entries.sort(key=lambda e: (e["license_order"], e["cust_id"]))
    body = {
        "subscribed": True,
        "subsession_id": split.subsession_id,
        "entries": entries,
        "success": True,
    }
    return Doc(body)


def _registered(
    st: State, slot: Slot, split: Split, d: int, car: int, now: float
) -> dict[str, Any]:
    m = st.model
    drv = m.driver(d)
    country = drv.country
    license = license_doc(m, d, slot.category, 1, min(now, slot.start))
    running = split.start <= now < split.end
    return {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "car_id": car,
        "car_name": CARS_BY_ID[car].name,
        "car_class_id": CARS_BY_ID[car].class_id,
        "car_class_name": CARS_BY_ID[car].class_name,
        "helmet": helmet(m, d),
        "crew_allowed": 0,
        "crew_password_protected": False,
        "reg_status": "reg_ok",
        "trusted_spotter": False,
        "livery": {k: v for k, v in livery(m, d, car, "").items() if k != "car_number"},
        "license": license,
        "session_id": slot.session_id,
        "subsession_id": split.subsession_id,
        "event_type": 5,
        "event_type_name": "Race",
        "license_order": -license["license_level"] * 1000 - license["irating"] // 10,
        "flair_id": country[1],
        "flair_name": country[2],
        "flair_shortname": country[3],
        "country_code": country[0],
        "farm_display_name": "US-East",
        "elig": {
            "session_full": True,
            "can_spot": True,
            "can_watch": running,
            "can_drive": False,
            "trusted_spotter": False,
            "has_sess_password": bool(slot.hosted and slot.hosted.private),
            "has_crew_password": False,
            "needs_purchase": False,
            "purchase_skus": [],
            "registered": d == 0,
        },
    }


def time_attack_results(st: State, p: dict[str, Any], now: float) -> Doc:
    """The authenticated member's times in a time attack competition (a quarter's, on three
    tracks of its first series): those he has set by `now`, with his rank among the field."""
    m = st.model
    quarter = ta_quarter(p["ta_comp_season_id"])
    if quarter is None or not m.series:
        return Doc([])
    year, q = quarter
    start, end = quarter_bounds(year, q)
    series = m.series[0]
    rows = []
    for week in range(TA_TRACKS):
        track = m.track_for(series, week)
        h = mix(m.seed, 51, p["ta_comp_season_id"], track.track_id)
        at = start + (h % 80) * DAY + (h >> 8) % DAY
        if h % 3 == 0 or at > min(now, end):
            continue  # no time on this track (yet)
        field = 500 + (h >> 16) % 2000
        rank = 1 + (h >> 28) % field
        lap = int(track.lap_seconds * 10_000 * (1.0 + rank / field * 0.04))
        rows.append(
            {
                "comp_season_id": p["ta_comp_season_id"],
                "cust_id": m.me,
                "track_id": track.track_id,
                "best_lap_time": lap,
                "best_lap_at": iso_seconds(at),
                "record_date": iso_seconds(at)[:10],
                "comparative_rank": rank,
                "decile": min(10, 1 + 10 * (rank - 1) // field),
                "percent_rank": round(100 * (field - rank) / field, 2),
            }
        )
    return Doc(rows)


HANDLERS: dict[str, Handler] = {
    "hosted/sessions": hosted_sessions,
    "hosted/combined_sessions": combined_sessions,
    "session/reg_drivers_list": reg_drivers_list,
    "time_attack/member_season_results": time_attack_results,
}
