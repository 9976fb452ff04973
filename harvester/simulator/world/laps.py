"""The lap-level documents of a subsession: results/event_log, results/lap_data and
results/lap_chart_data (their headers' session_info and their rows).

They are built from the same `Detail` as results/get, so every lap agrees with the results. A
row's `group_id` names the entrant (a driver's cust_id, or a team's team_id) and its `cust_id`
the driver at the wheel: a team's car changes drivers between stints.
"""

from __future__ import annotations

import random
from typing import Any

from .model import Model, Slot, Split, iso_seconds, mix
from .race import SIMSESSIONS, Detail, Entry
from .refs import group, helmet, livery, track_ref


def names(slot: Slot) -> dict[str, Any]:
    """Series and season names of a slot (hosted sessions have no series)."""
    if slot.series is None:
        assert slot.hosted is not None
        return {
            "season_name": slot.hosted.session_name,
            "season_short_name": slot.hosted.session_name,
            "series_name": "Hosted iRacing",
            "series_short_name": "Hosted iRacing",
        }
    short = f"{slot.season_year} Season {slot.season_quarter}"
    return {
        "season_name": f"{slot.series.name} - {short}",
        "season_short_name": short,
        "series_name": slot.series.name,
        "series_short_name": slot.series.short_name,
    }


# what each endpoint's session_info leaves out, as the captures show it
_SESSION_INFO_WITHOUT = {
    "event_log": ("num_laps_for_qual_average", "num_laps_for_solo_average"),
    "lap_data": ("simsession_name",),
}


def session_info(
    model: Model, slot: Slot, split: Split, number: int, endpoint: str = "lap_data"
) -> dict[str, Any]:
    """The header's session_info of results/event_log, lap_data or lap_chart_data."""
    sim = next(s for s in SIMSESSIONS if s[0] == number)
    info: dict[str, Any] = {
        "subsession_id": split.subsession_id,
        "session_id": slot.session_id,
        "simsession_number": number,
        "simsession_type": sim[2],
        "simsession_name": sim[1],
        "num_laps_for_qual_average": 1,
        "num_laps_for_solo_average": 1,
        "event_type": 5,
        "event_type_name": "Race",
        "private_session_id": slot.hosted.private_session_id if slot.hosted else -1,
    }
    info.update(names(slot))
    info["start_time"] = iso_seconds(split.start)
    info["track"] = track_ref(slot)
    for key in _SESSION_INFO_WITHOUT.get(endpoint, ()):
        del info[key]
    return info


def _group(model: Model, split: Split, entry: Entry) -> tuple[int, str]:
    """(group id, name) of the entrant an entry belongs to: its driver, or its team."""
    if entry.team:
        group_id, name, _ = group(model, split, entry.team)
        return group_id, name
    return model.cust(entry.d), model.driver(entry.d).display_name


def event_rows(model: Model, split: Split, detail: Detail, number: int) -> list[dict[str, Any]]:
    """The event log of one simsession, ordered by session time: incidents and penalties of
    the driver at the wheel, retirements, finishes, cautions and lead changes."""
    session = detail.session(number)
    assert session is not None
    rng = random.Random(mix(model.seed, 23, split.subsession_id, number))
    # (session time, code, group id, credited cust_id, driver or -1, lap, description, message)
    events: list[tuple[int, int, int, int, int, int, str, str]] = []

    def tag(e: Entry, d: int) -> str:
        return f"#{e.car_number} {model.driver(d).display_name}"

    for e in session.entries:
        group_id, _ = _group(model, split, e)
        for lap in e.laps:
            at, no, d = lap.session_time, lap.number, lap.driver
            for what in lap.events:
                if what == "car contact":
                    text = f"Penalty: Repairs needed, Repair, Lap {no}, {tag(e, d)}"
                    events.append((at, 4, group_id, 0, d, no, "Penalty Applied", text))
                elif what != "pitted":
                    text = f"Incident: {what}, Lap {no}, {tag(e, d)}"
                    events.append((at, 2, group_id, model.cust(d), d, no, "Incident", text))
        last = e.laps[-1]
        if number == 0 and e.reason_out_id:
            text = f"{e.reason_out}: {tag(e, last.driver)}"
            cust = model.cust(last.driver)
            at = last.session_time + 1
            events.append((at, 6, group_id, cust, last.driver, e.laps_complete, e.reason_out, text))
        elif number == 0 and e.laps_complete:
            text = f"Checkered flag: {tag(e, last.driver)}, P{e.position + 1}"
            cust = model.cust(last.driver)
            at = last.session_time
            events.append((at, 8, group_id, cust, last.driver, e.laps_complete, "Finished", text))
    if number == 0 and session.entries:
        winner = session.entries[0]
        total = winner.laps_complete
        for _ in range(min(split.cautions, total)):
            lap = winner.laps[1 + rng.randrange(total)]
            text = f"Caution: Lap {lap.number}"
            events.append((lap.session_time, 3, 0, 0, -1, lap.number, "Caution", text))
        leaders = [e for e in session.entries[:3] if e.laps_lead] or [winner]
        previous = leaders[-1]
        for i in range(min(split.lead_changes, total)):
            lap = winner.laps[1 + rng.randrange(total)]
            new = leaders[i % len(leaders)]
            driver = new.laps[min(lap.number, new.laps_complete)].driver
            before = previous.laps[min(lap.number, previous.laps_complete)].driver
            text = f"Lead change: {tag(new, driver)} takes over from {tag(previous, before)}"
            group_id, _ = _group(model, split, new)
            at, no = lap.session_time, lap.number
            events.append((at, 7, group_id, model.cust(driver), driver, no, "Lead Change", text))
            previous = new
    events.sort(key=lambda ev: (ev[0], ev[1], ev[2]))
    return [
        {
            "subsession_id": split.subsession_id,
            "simsession_number": number,
            "session_time": at,
            "event_seq": seq,
            "event_code": code,
            "group_id": group_id,
            "cust_id": cust,
            "lap_number": lap_no,
            "description": desc,
            "message": text,
            "display_name": model.driver(d).display_name if d >= 0 else "",
        }
        for seq, (at, code, group_id, cust, d, lap_no, desc, text) in enumerate(events, start=1)
    ]


def lap_rows(model: Model, split: Split, entry: Entry) -> list[dict[str, Any]]:
    """The laps of an entry (a car, or the part of a team's car one driver drove): each
    names its entrant (`group_id`, `name`) and the driver at the wheel (`cust_id`)."""
    group_id, name = _group(model, split, entry)
    levels = {x.d: x.license_level for x in entry.drivers} or {entry.d: entry.license_level}
    return [
        {
            "group_id": group_id,
            "name": name,
            "cust_id": model.cust(lap.driver),
            "display_name": model.driver(lap.driver).display_name,
            "lap_number": lap.number,
            "flags": lap.flags,
            "incident": lap.incident,
            "session_time": lap.session_time,
            "session_start_time": None,
            "lap_time": lap.time,
            "team_fastest_lap": bool(entry.team) and lap.personal_best,
            "personal_best_lap": lap.personal_best,
            "helmet": helmet(model, lap.driver),
            "license_level": levels.get(lap.driver, entry.license_level),
            "car_number": entry.car_number,
            "lap_events": list(lap.events),
            "ai": False,
        }
        for lap in entry.laps
    ]


def lap_header(
    model: Model, slot: Slot, split: Split, number: int, entry: Entry | None, cust_id: int | None
) -> dict[str, Any]:
    """The lap_data header of an entry (a driver, a team's car, or the part of it one driver
    drove); `entry` None means every car (or one without laps)."""
    header: dict[str, Any] = {
        "success": True,
        "session_info": session_info(model, slot, split, number),
        "best_lap_num": entry.best_num if entry else -1,
        "best_lap_time": entry.best if entry else -1,
        "best_nlaps_num": -1,
        "best_nlaps_time": -1,
        "best_qual_lap_num": entry.best_num if entry and number == -1 else -1,
        "best_qual_lap_time": entry.best if entry and number == -1 else -1,
        "best_qual_lap_at": None,
    }
    if entry is not None:
        group_id, name = _group(model, split, entry)
        header.update(
            {
                "group_id": group_id,
                "cust_id": model.cust(entry.d),
                "name": name,
                "car_id": entry.car_id,
                "license_level": entry.license_level,
                "livery": livery(model, entry.d, entry.car_id, entry.car_number),
            }
        )
    else:
        header.update(
            {
                "group_id": cust_id,
                "cust_id": cust_id,
                "name": None,
                "car_id": None,
                "license_level": None,
                "livery": None,
            }
        )
    return header
