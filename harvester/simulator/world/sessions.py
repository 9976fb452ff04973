"""Sessions to join and per-session details: hosted/sessions, hosted/combined_sessions,
session/reg_drivers_list, results/lap_chart_data and time_attack/member_season_results.

Hosted sessions are the hosted lane's slots (open and league ones) that have not finished: the
ones not yet started can be joined as a driver, running ones also as a spectator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harvester.simulator.world.data import CARS_BY_ID
from harvester.simulator.world.model import DAY, MAX_DURATION, Slot, Split, iso_seconds
from harvester.simulator.world.race import license_level
from harvester.simulator.world.results import helmet, lap_header, lap_rows
from harvester.simulator.world.rows import league_session
from harvester.simulator.world.types import Doc, not_found

if TYPE_CHECKING:
    from harvester.simulator.world.core import World

_AHEAD = DAY  # hosted sessions are listed a day before they start


def _hosted_row(w: World, slot: Slot, split: Split, now: float) -> dict[str, Any]:
    m = w.model
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
            "max_drivers": max(len(split.order), w.config.drivers_per_split),
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


def _hosted(w: World, p: dict[str, Any], now: float, running_too: bool) -> Doc:
    m = w.model
    sessions = []
    for k, lane in m.slots_starting(now - MAX_DURATION, now + _AHEAD, [m.hosted_lane]):
        slot = m.slot(k, lane)
        split = slot.splits[0]
        if split.end <= now or (split.start <= now and not running_too):
            continue
        if "package_id" in p and p["package_id"] != 2000 + slot.track.track_id:
            continue
        sessions.append(_hosted_row(w, slot, split, now))
    return Doc({"subscribed": True, "sessions": sessions, "success": True})


def hosted_sessions(w: World, p: dict[str, Any], now: float) -> Doc:
    return _hosted(w, p, now, running_too=False)


def combined_sessions(w: World, p: dict[str, Any], now: float) -> Doc:
    return _hosted(w, p, now, running_too=True)


def reg_drivers_list(w: World, p: dict[str, Any], now: float) -> Doc:
    m = w.model
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


def lap_chart_data(w: World, p: dict[str, Any], now: float) -> Doc:
    slot, split = w.finished(p, now)
    number = p["simsession_number"]
    session = w.detail(split.subsession_id).session(number)
    assert session is not None
    rows = [row for e in session.entries for row in lap_rows(w.model, e)]
    # position and gap to the leader at the end of every lap, by the time it was completed
    by_lap: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_lap.setdefault(row["lap_number"], []).append(row)
    fastest = min((r["lap_time"] for r in rows if r["lap_time"] > 0), default=-1)
    for laps in by_lap.values():
        laps.sort(key=lambda r: (r["session_time"], r["cust_id"]))
        leader = laps[0]["session_time"]
        for position, row in enumerate(laps, start=1):
            row["lap_position"] = position
            row["interval"] = row["session_time"] - leader
            row["interval_units"] = "ms" if position > 1 else None
            row["fastest_lap"] = row["lap_time"] == fastest
    header = lap_header(w.model, slot, split, number, None, None)
    for key in ("group_id", "cust_id", "name", "car_id", "license_level", "livery"):
        del header[key]
    header["last_updated"] = iso_seconds(split.end)
    return Doc(header, rows=rows)


def time_attack_results(w: World, p: dict[str, Any], now: float) -> Doc:
    """No time attack competitions are simulated: the member has no results in any."""
    return Doc([])


HANDLERS = {
    "hosted/sessions": hosted_sessions,
    "hosted/combined_sessions": combined_sessions,
    "session/reg_drivers_list": reg_drivers_list,
    "results/lap_chart_data": lap_chart_data,
    "time_attack/member_season_results": time_attack_results,
}
