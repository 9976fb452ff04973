"""results/get: a finished subsession's document (its settings, every simsession's results,
weather and track state).

It is built from a `Detail` (race), so every figure agrees with the lap-level documents
(`laps`) and with the search row of the same subsession. In a team race a result row is a
team's car, with a row per driver who drove it (`driver_results`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_GROUPS
from .laps import names
from .model import Model, Slot, Split, iso_seconds, mix, strength_of_field
from .race import Detail, Entry
from .refs import group, helmet, livery
from .season_docs import MAX_TEAM_DRIVERS


def _driver_row(model: Model, entry: Entry, race: bool) -> dict[str, Any]:
    drv = model.driver(entry.d)
    car = CARS_BY_ID[entry.car_id]
    country = drv.country
    row = _car_row(entry, race)
    row.update(
        {
            "cust_id": drv.cust_id,
            "display_name": drv.display_name,
            "club_id": country[4],
            "club_name": country[5],
            "club_shortname": country[5],
            "country_code": country[0],
            "division": entry.d % 10,
            "division_name": f"Division {entry.d % 10 + 1}",
            "flair_id": country[1],
            "flair_name": country[2],
            "flair_shortname": country[3],
            "helmet": helmet(model, entry.d),
            "livery": livery(model, entry.d, car.car_id, entry.car_number),
            "suit": {
                "pattern": drv.suit[0],
                "color1": drv.suit[1],
                "color2": drv.suit[2],
                "color3": drv.suit[3],
            },
        }
    )
    if entry.team:
        row["team_id"] = model.team_id(entry.team)
    return row


def _result_row(model: Model, split: Split, entry: Entry, race: bool) -> dict[str, Any]:
    """A car's result: a driver's row, or a team's with a row per driver (driver_results)."""
    if not entry.team:
        return _driver_row(model, entry, race)
    team_id, name, lead = group(model, split, entry.team)
    row = _driver_row(model, replace(entry, team=0), race)
    del row["cust_id"]
    row.update(
        team_id=team_id,
        display_name=name,
        livery=livery(model, lead, entry.car_id, entry.car_number),
        driver_results=[_in_team(_driver_row(model, x, race)) for x in entry.drivers],
    )
    return row


# what a driver's row inside a team's row leaves out: the car and the club are the team's
_TEAM_HAS = (
    "car_class_name",
    "car_class_short_name",
    "car_name",
    "carcfg",
    "club_id",
    "club_name",
    "club_shortname",
    "flair_id",
    "flair_name",
    "flair_shortname",
)


def _in_team(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _TEAM_HAS}


def _car_row(entry: Entry, race: bool) -> dict[str, Any]:
    """What a result row says of the car and its race, whoever drove it."""
    car = CARS_BY_ID[entry.car_id]
    return {
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
        "carcfg": -1,
        "champ_points": entry.champ_points,
        "class_interval": entry.interval,
        "club_points": entry.club_points,
        "drop_race": False,
        "finish_position": entry.position,
        "finish_position_in_class": entry.position,
        "friend": False,
        "incidents": entry.incidents,
        "interval": entry.interval,
        "laps_complete": entry.laps_complete,
        "laps_lead": entry.laps_lead,
        "league_agg_points": 0,
        "league_points": 0,
        "license_change_oval": -1,
        "license_change_road": -1,
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
        field = [
            model.team_ir[e.team] if e.team else model.ir[e.d]
            for e in race.entries
            if CARS_BY_ID[e.car_id].class_id == class_id
        ]
        name = CARS_BY_ID[car_ids[0]].class_name
        car_classes.append(
            {
                "car_class_id": class_id,
                "short_name": name,
                "name": name,
                "strength_of_field": strength_of_field(field),
                "num_entries": len(field),
                "relative_speed": 50 + (class_id % 7) * 5,
                "cars_in_class": [{"car_id": c, "package_id": 1000 + c} for c in sorted(car_ids)],
            }
        )
    splits = slot.splits
    series = slot.series
    title = names(slot)
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
        "driver_change_rule": 1 if split.team else 0,
        "driver_changes": split.team,
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
        "max_team_drivers": MAX_TEAM_DRIVERS if split.team else 1,
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
        "season_name": title["season_name"],
        "season_quarter": slot.season_quarter,
        "season_short_name": title["season_short_name"],
        "season_year": slot.season_year,
        "series_id": series.series_id if series else 0,
        "series_logo": f"seriesid_{series.series_id}.png" if series else None,
        "series_name": title["series_name"],
        "series_short_name": title["series_short_name"],
        "session_id": slot.session_id,
        "session_results": [
            {
                "simsession_number": s.number,
                "simsession_name": s.name,
                "simsession_type": s.type,
                "simsession_type_name": s.type_name,
                "simsession_subtype": 0,
                "weather_result": _weather_result(model, split, s.number),
                "results": [_result_row(model, split, e, s.number == 0) for e in s.entries],
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
        doc["host_id"] = model.cust(hosted.host)
        doc["restrict_results"] = False
        doc["league_id"] = hosted.league_id or None
        doc["league_season_id"] = hosted.league_season_id or None
        doc["league_name"] = model.league_name(hosted.league) if hosted.league else None
        doc["league_season_name"] = (
            f"{slot.season_year} Season {slot.season_quarter}" if hosted.league else None
        )
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
        "simulated_start_utc_offset": -3600 * ((h >> 44) % 10),
        "simulated_time_offsets": [0, 3600, 7200],
        "simulated_time_multiplier": 1,
        "weather_url": f"https://members-assets.iracing.com/weather/{split.subsession_id}.json",
        "weather_summary": {
            "max_precip_rate": 0.0,
            "max_precip_rate_desc": "None",
            "precip_chance": 0.0,
            "skies_high": (h >> 8) % 4,
            "skies_low": 0,
            "temp_high": float(64 + (h >> 16) % 30),
            "temp_low": float(56 + (h >> 16) % 30),
            "temp_units": 0,
            "wind_high": float((h >> 40) % 10 + 3),
            "wind_low": float((h >> 40) % 10),
            "wind_units": 0,
        },
        "forecast_options": {
            "forecast_type": 2,
            "precipitation": 0,
            "skies": (h >> 8) % 4,
            "stop_precip": 0,
            "temperature": 60 + (h >> 16) % 30,
            "weather_seed": (h >> 48) % 1_000_000,
            "wind_dir": (h >> 32) % 8,
            "wind_speed": (h >> 40) % 10,
        },
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
