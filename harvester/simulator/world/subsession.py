"""Subsession documents: results/get, and the event_log and lap_data headers and rows.

They are built from a `Detail` (race), so every figure agrees across the three endpoints
and with the search row of the same subsession.
"""

from __future__ import annotations

import random
from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_GROUPS
from .model import Model, Slot, Split, iso_seconds, mix, strength_of_field
from .race import SIMSESSIONS, Detail, Entry
from .refs import helmet, livery, track_ref


def _names(slot: Slot) -> dict[str, Any]:
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
    info.update(_names(slot))
    info["start_time"] = iso_seconds(split.start)
    info["track"] = track_ref(slot)
    for key in _SESSION_INFO_WITHOUT.get(endpoint, ()):
        del info[key]
    return info


def _result_row(model: Model, entry: Entry, race: bool) -> dict[str, Any]:
    drv = model.driver(entry.d)
    car = CARS_BY_ID[entry.car_id]
    country = drv.country
    return {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "aggregate_champ_points": entry.champ_points,
        "ai": False,
        "average_lap": entry.avg,
        "best_lap_num": entry.best_num,
        "best_lap_time": entry.best,
        "best_nlaps_num": -1,
        "best_nlaps_time": -1,
        "best_qual_lap_at": "1970-01-01T00:00:00Z",
        "best_qual_lap_num": -1 if race else entry.best_num,
        "best_qual_lap_time": -1 if race else entry.best,
        "car_class_id": car.class_id,
        "car_class_name": car.class_name,
        "car_class_short_name": car.class_name,
        "car_id": car.car_id,
        "car_name": car.name,
        "champ_points": entry.champ_points,
        "class_interval": entry.interval,
        "club_id": country[4],
        "club_name": country[5],
        "club_points": entry.club_points,
        "club_shortname": country[5],
        "country_code": country[0],
        "division": entry.d % 10,
        "division_name": f"Division {entry.d % 10 + 1}",
        "drop_race": False,
        "finish_position": entry.position,
        "finish_position_in_class": entry.position,
        "flair_id": country[1],
        "flair_name": country[2],
        "flair_shortname": country[3],
        "carcfg": -1,
        "friend": False,
        "helmet": helmet(model, entry.d),
        "incidents": entry.incidents,
        "interval": entry.interval,
        "laps_complete": entry.laps_complete,
        "laps_lead": entry.laps_lead,
        "league_agg_points": 0,
        "league_points": 0,
        "license_change_oval": -1,
        "license_change_road": -1,
        "livery": livery(model, entry.d, car.car_id, entry.car_number),
        "max_pct_fuel_fill": -1,
        "multiplier": 1,
        "new_cpi": entry.new_cpi,
        "new_license_level": entry.license_level,
        "new_sub_level": entry.new_sub,
        "new_ttrating": 1350,
        "newi_rating": entry.newi,
        "old_cpi": entry.old_cpi,
        "old_license_level": entry.license_level,
        "old_sub_level": entry.old_sub,
        "old_ttrating": 1350,
        "oldi_rating": entry.oldi,
        "opt_laps_complete": 0,
        "position": entry.position,
        "qual_lap_time": entry.qual_time,
        "reason_out": entry.reason_out,
        "reason_out_id": entry.reason_out_id,
        "starting_position": entry.start_position,
        "starting_position_in_class": entry.start_position,
        "suit": {
            "pattern": drv.suit[0],
            "color1": drv.suit[1],
            "color2": drv.suit[2],
            "color3": drv.suit[3],
        },
        "watched": False,
        "weight_penalty_kg": -1,
    }


def _allowed_licenses(slot: Slot) -> list[dict[str, Any]]:
    low = slot.series.min_license_group if slot.series else 1
    parent = slot.series.series_id if slot.series else 0
    return [
        {
            "group_name": name,
            "license_group": gid,
            "max_license_level": hi,
            "min_license_level": lo,
            "parent_id": parent,
        }
        for gid, name, _, lo, hi in LICENSE_GROUPS
        if gid >= low
    ]


def results_doc(model: Model, slot: Slot, split: Split, detail: Detail) -> dict[str, Any]:
    """The results/get document of a finished subsession."""
    race = detail.sessions[-1]
    hosted = slot.hosted
    classes: dict[int, list[int]] = {}
    for car_id in split.cars:
        members = classes.setdefault(CARS_BY_ID[car_id].class_id, [])
        if car_id not in members:
            members.append(car_id)
    car_classes = []
    for class_id, car_ids in sorted(classes.items()):
        field = [model.ir[e.d] for e in race.entries if CARS_BY_ID[e.car_id].class_id == class_id]
        name = CARS_BY_ID[car_ids[0]].class_name
        car_classes.append(
            {
                "car_class_id": class_id,
                "short_name": name,
                "name": name,
                "strength_of_field": strength_of_field(field),
                "num_entries": len(field),
                "cars_in_class": [{"car_id": c} for c in sorted(car_ids)],
            }
        )
    splits = slot.splits
    series = slot.series
    names = _names(slot)
    doc: dict[str, Any] = {
        "subsession_id": split.subsession_id,
        "allowed_licenses": _allowed_licenses(slot),
        "associated_subsession_ids": [s.subsession_id for s in splits],
        "can_protest": False,
        "car_classes": car_classes,
        "caution_type": 1 if slot.category in (1, 3) else 2,
        "cooldown_minutes": 30,
        "corners_per_lap": slot.track.corners,
        "damage_model": 0,
        "driver_change_param1": -1,
        "driver_change_param2": -1,
        "driver_change_rule": 0,
        "driver_changes": False,
        "end_time": iso_seconds(split.end),
        "event_average_lap": split.winner_avg,
        "event_best_lap_time": split.event_best,
        "event_laps_complete": model.config.laps_per_race,
        "event_strength_of_field": split.sof,
        "event_type": 5,
        "event_type_name": "Race",
        "heat_info_id": -1,
        "license_category": CATEGORIES[slot.category][1],
        "license_category_id": slot.category,
        "limit_minutes": 0 if hosted else 10080,
        "max_team_drivers": 1,
        "max_weeks": 12,
        "min_team_drivers": 1,
        "num_caution_laps": split.caution_laps,
        "num_cautions": split.cautions,
        "num_drivers": len(split.order),
        "num_laps_for_qual_average": 1,
        "num_laps_for_solo_average": 1,
        "num_lead_changes": split.lead_changes,
        "official_session": hosted is None,
        "points_type": "race",
        "private_session_id": hosted.private_session_id if hosted else -1,
        "race_summary": {
            "subsession_id": split.subsession_id,
            "average_lap": split.winner_avg,
            "laps_complete": model.config.laps_per_race,
            "num_cautions": split.cautions,
            "num_caution_laps": split.caution_laps,
            "num_lead_changes": split.lead_changes,
            "field_strength": split.sof,
            "num_opt_laps": 0,
            "has_opt_path": False,
            "special_event_type": 0,
            "special_event_type_text": "Not a special event",
        },
        "race_week_num": slot.race_week,
        "results_restricted": False,
        "season_id": slot.season_id,
        "season_name": names["season_name"],
        "season_quarter": slot.season_quarter,
        "season_short_name": names["season_short_name"],
        "season_year": slot.season_year,
        "series_id": series.series_id if series else 0,
        "series_logo": f"seriesid_{series.series_id}.png" if series else None,
        "series_name": names["series_name"],
        "series_short_name": names["series_short_name"],
        "session_id": slot.session_id,
        "session_results": [
            {
                "simsession_number": s.number,
                "simsession_name": s.name,
                "simsession_type": s.type,
                "simsession_type_name": s.type_name,
                "simsession_subtype": 0,
                "weather_result": _weather_result(model, split, s.number),
                "results": [_result_row(model, e, s.number == 0) for e in s.entries],
            }
            for s in detail.sessions
        ],
        "session_splits": [
            {"subsession_id": s.subsession_id, "event_strength_of_field": s.sof} for s in splits
        ],
        "special_event_type": -1,
        "start_time": iso_seconds(split.start),
        "track": {
            "category": CATEGORIES[slot.track.category][1],
            "category_id": slot.track.category,
            "config_name": slot.track.config,
            "track_id": slot.track.track_id,
            "track_name": slot.track.name,
        },
        "track_state": _track_state(),
        "weather": _weather(model, split),
    }
    if hosted is not None:
        doc["session_name"] = hosted.session_name
        doc["league_id"] = hosted.league_id
        doc["league_season_id"] = hosted.league_season_id
        doc["host_id"] = model.cust(hosted.host)
    return doc


def _track_state() -> dict[str, Any]:
    state: dict[str, Any] = {"leave_marbles": False}
    for phase in ("practice", "qualify", "warmup", "race"):
        state[f"{phase}_rubber"] = -1
        state[f"{phase}_grip_compound"] = -1
    return state


def _weather(model: Model, split: Split) -> dict[str, Any]:
    h = mix(model.seed, 22, split.subsession_id)
    return {
        "allow_fog": False,
        "fog": 0,
        "precip_mm2hr_before_final_session": 0,
        "precip_mm_final_session": 0,
        "precip_option": 0,
        "precip_time_pct": 0,
        "rel_humidity": 40 + h % 40,
        "simulated_start_time": iso_seconds(split.start - 3600 * (h % 12))[:-1],
        "skies": (h >> 8) % 4,
        "temp_units": 0,
        "temp_value": 60 + (h >> 16) % 30,
        "time_of_day": (h >> 24) % 4,
        "track_water": 0,
        "type": 3,
        "version": 0,
        "weather_var_initial": 0,
        "weather_var_ongoing": 0,
        "wind_dir": (h >> 32) % 8,
        "wind_units": 0,
        "wind_value": (h >> 40) % 10,
    }


def _weather_result(model: Model, split: Split, number: int) -> dict[str, Any]:
    """What the weather of one simsession was (a field newer than the captures)."""
    h = mix(model.seed, 23, split.subsession_id, number)
    temp = 15.0 + (h % 150) / 10
    return {
        "avg_skies": (h >> 8) % 4,
        "avg_cloud_cover_pct": float((h >> 12) % 100),
        "min_cloud_cover_pct": 0.0,
        "max_cloud_cover_pct": float((h >> 12) % 100),
        "temp_units": 1,
        "avg_temp": temp,
        "min_temp": temp - 1.5,
        "max_temp": temp + 1.5,
        "avg_rel_humidity": float(40 + (h >> 20) % 40),
        "wind_units": 1,
        "avg_wind_speed": float((h >> 28) % 10),
        "min_wind_speed": 0.0,
        "max_wind_speed": float((h >> 28) % 10 + 2),
        "avg_wind_dir": (h >> 36) % 360,
        "max_fog": 0.0,
        "fog_time_pct": 0.0,
        "precip_time_pct": 0.0,
        "precip_mm": 0.0,
        "precip_mm2hr_before_session": 0.0,
        "simulated_start_time": iso_seconds(split.start)[:-1],
    }


def event_rows(model: Model, split: Split, detail: Detail, number: int) -> list[dict[str, Any]]:
    """The event log of one simsession, ordered by session time."""
    session = detail.session(number)
    assert session is not None
    rng = random.Random(mix(model.seed, 23, split.subsession_id, number))
    # (session time, code, driver index or -1, credited cust_id, lap, description, message)
    events: list[tuple[int, int, int, int, int, str, str]] = []

    def tag(e: Entry) -> str:
        return f"#{e.car_number} {model.driver(e.d).display_name}"

    for e in session.entries:
        cust = model.cust(e.d)
        for lap in e.laps:
            for what in lap.events:
                if what == "car contact":
                    text = f"Penalty: Repairs needed, Repair, Lap {lap.number}, {tag(e)}"
                    events.append(
                        (lap.session_time, 4, e.d, 0, lap.number, "Penalty Applied", text)
                    )
                elif what != "pitted":
                    text = f"Incident: {what}, Lap {lap.number}, {tag(e)}"
                    events.append((lap.session_time, 2, e.d, cust, lap.number, "Incident", text))
        if number == 0 and e.reason_out_id:
            text = f"{e.reason_out}: {tag(e)}"
            at = e.laps[-1].session_time + 1
            events.append((at, 6, e.d, cust, e.laps_complete, e.reason_out, text))
        elif number == 0 and e.laps_complete:
            text = f"Checkered flag: {tag(e)}, P{e.position + 1}"
            events.append(
                (e.laps[-1].session_time, 8, e.d, cust, e.laps_complete, "Finished", text)
            )
    if number == 0 and session.entries:
        winner = session.entries[0]
        total = winner.laps_complete
        for _ in range(min(split.cautions, total)):
            lap = winner.laps[1 + rng.randrange(total)]
            events.append(
                (lap.session_time, 3, -1, 0, lap.number, "Caution", f"Caution: Lap {lap.number}")
            )
        leaders = [e for e in session.entries[:3] if e.laps_lead] or [winner]
        previous = leaders[-1]
        for i in range(min(split.lead_changes, total)):
            lap = winner.laps[1 + rng.randrange(total)]
            new = leaders[i % len(leaders)]
            text = f"Lead change: {tag(new)} takes over from {tag(previous)}"
            cust = model.cust(new.d)
            events.append((lap.session_time, 7, new.d, cust, lap.number, "Lead Change", text))
            previous = new
    events.sort(key=lambda ev: (ev[0], ev[1], ev[2]))
    return [
        {
            "subsession_id": split.subsession_id,
            "simsession_number": number,
            "session_time": at,
            "event_seq": seq,
            "event_code": code,
            "group_id": model.cust(d) if d >= 0 else 0,
            "cust_id": cust,
            "lap_number": lap_no,
            "description": desc,
            "message": text,
            "display_name": model.driver(d).display_name if d >= 0 else "",
        }
        for seq, (at, code, d, cust, lap_no, desc, text) in enumerate(events, start=1)
    ]


def lap_rows(model: Model, entry: Entry) -> list[dict[str, Any]]:
    drv = model.driver(entry.d)
    head = helmet(model, entry.d)
    return [
        {
            "group_id": drv.cust_id,
            "name": drv.display_name,
            "cust_id": drv.cust_id,
            "display_name": drv.display_name,
            "lap_number": lap.number,
            "flags": lap.flags,
            "incident": lap.incident,
            "session_time": lap.session_time,
            "session_start_time": None,
            "lap_time": lap.time,
            "team_fastest_lap": False,
            "personal_best_lap": lap.personal_best,
            "helmet": dict(head),
            "license_level": entry.license_level,
            "car_number": entry.car_number,
            "lap_events": list(lap.events),
            "ai": False,
        }
        for lap in entry.laps
    ]


def lap_header(
    model: Model, slot: Slot, split: Split, number: int, entry: Entry | None, cust_id: int | None
) -> dict[str, Any]:
    """The lap_data header; `entry` None means every driver (or a driver without laps)."""
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
        drv = model.driver(entry.d)
        header.update(
            {
                "group_id": drv.cust_id,
                "cust_id": drv.cust_id,
                "name": drv.display_name,
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
