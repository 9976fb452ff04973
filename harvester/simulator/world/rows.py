"""Row documents: results/search_series and search_hosted rows, recent races, league sessions."""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID, CATEGORIES
from .model import Model, Slot, Split, iso_seconds
from .race import Entry, license_level
from .refs import group, helmet, track_ref


def search_series_row(model: Model, slot: Slot, split: Split) -> dict[str, Any]:
    series = slot.series
    assert series is not None
    winner_id, winner_name, _ = group(model, split, split.order[0])
    t = slot.track
    return {
        "session_id": slot.session_id,
        "subsession_id": split.subsession_id,
        "start_time": iso_seconds(split.start),
        "end_time": iso_seconds(split.end),
        "license_category_id": series.category,
        "license_category": CATEGORIES[series.category][1],
        "num_drivers": len(split.order),
        "num_cautions": split.cautions,
        "num_caution_laps": split.caution_laps,
        "num_lead_changes": split.lead_changes,
        "event_laps_complete": model.config.laps_per_race,
        "driver_changes": split.team,
        "winner_group_id": winner_id,
        "winner_name": winner_name,
        "winner_ai": False,
        "track": {"track_id": t.track_id, "track_name": t.name, "config_name": t.config},
        "official_session": True,
        "season_id": slot.season_id,
        "season_year": slot.season_year,
        "season_quarter": slot.season_quarter,
        "event_type": 5,
        "event_type_name": "Race",
        "series_id": series.series_id,
        "series_name": series.name,
        "series_short_name": series.short_name,
        "race_week_num": slot.race_week,
        "event_strength_of_field": split.sof,
        "event_average_lap": split.winner_avg,
        "event_best_lap_time": split.event_best,
    }


def league_season_name(slot: Slot) -> str:
    return f"{slot.season_year} Season {slot.season_quarter}"


def search_hosted_row(model: Model, slot: Slot, split: Split) -> dict[str, Any]:
    hosted = slot.hosted
    assert hosted is not None
    host = model.driver(hosted.host)
    cars = sorted(set(split.cars))
    return {
        "session_id": slot.session_id,
        "subsession_id": split.subsession_id,
        "start_time": iso_seconds(split.start),
        "end_time": iso_seconds(split.end),
        "license_category_id": slot.category,
        "num_drivers": len(split.order),
        "num_cautions": split.cautions,
        "num_caution_laps": split.caution_laps,
        "num_lead_changes": split.lead_changes,
        "event_laps_complete": model.config.laps_per_race,
        "driver_changes": False,
        "winner_group_id": model.cust(split.order[0]),
        "winner_name": model.driver(split.order[0]).display_name,
        "winner_ai": False,
        "event_average_lap": split.winner_avg,
        "event_best_lap_time": split.event_best,
        "track": track_ref(slot),
        "private_session_id": hosted.private_session_id,
        "session_name": hosted.session_name,
        "league_id": hosted.league_id,
        "league_season_id": hosted.league_season_id,
        "league_name": model.league_name(hosted.league) if hosted.league else None,
        "league_season_name": league_season_name(slot) if hosted.league else None,
        "created": iso_seconds(hosted.created),
        "practice_length": 20,
        "qualify_length": 10,
        "qualify_laps": 2,
        "race_length": -1,
        "race_laps": model.config.laps_per_race,
        "heat_race": False,
        "host": {
            "cust_id": host.cust_id,
            "display_name": host.display_name,
            "helmet": helmet(model, hosted.host),
        },
        "cars": [
            {
                "car_id": c,
                "car_name": CARS_BY_ID[c].name,
                "car_class_id": 0,
                "car_class_name": "Hosted All Cars Class",
                "car_class_short_name": "Hosted All Cars",
                "car_name_abbreviated": CARS_BY_ID[c].abbrev,
            }
            for c in cars
        ],
    }


def recent_race_row(model: Model, slot: Slot, split: Split, entry: Entry) -> dict[str, Any]:
    series = slot.series
    assert series is not None
    winner_id, winner_name, winner = group(model, split, split.order[0])
    suit = model.driver(entry.d).suit
    return {
        "season_id": slot.season_id,
        "series_id": series.series_id,
        "series_name": series.name,
        "car_id": entry.car_id,
        "car_class_id": CARS_BY_ID[entry.car_id].class_id,
        "livery": {
            "car_id": entry.car_id,
            "pattern": suit[0] % 20,
            "color1": suit[1],
            "color2": suit[2],
            "color3": suit[3],
        },
        "license_level": entry.license_level,
        "session_start_time": iso_seconds(split.start),
        "winner_group_id": winner_id,
        "winner_name": winner_name,
        "winner_helmet": helmet(model, winner),
        "winner_license_level": license_level(model, winner, slot.category),
        "start_position": entry.start_position + 1,
        "finish_position": entry.position + 1,
        "qualifying_time": max(0, entry.qual_time),
        "laps": entry.laps_complete,
        "laps_led": entry.laps_lead,
        "incidents": entry.incidents,
        "club_points": entry.club_points,
        "points": entry.champ_points,
        "strength_of_field": split.sof,
        "subsession_id": split.subsession_id,
        "drop_race": False,
        "race_week_num": slot.race_week,
        "season_year": slot.season_year,
        "season_quarter": slot.season_quarter,
        "old_sub_level": entry.old_sub,
        "new_sub_level": entry.new_sub,
        "oldi_rating": entry.oldi,
        "newi_rating": entry.newi,
        "track": {"track_id": slot.track.track_id, "track_name": slot.track.name},
    }


def league_session(model: Model, slot: Slot, split: Split, now: float) -> dict[str, Any]:
    hosted = slot.hosted
    assert hosted is not None
    launched = split.start <= now
    finished = split.end <= now
    session: dict[str, Any] = {
        "cars": [
            {
                "car_id": c,
                "car_name": CARS_BY_ID[c].name,
                "car_class_id": 0,
                "car_class_name": "Hosted All Cars Class",
            }
            for c in sorted(set(split.cars))
        ],
        "consec_cautions_single_file": False,
        "damage_model": 0,
        "do_not_count_caution_laps": False,
        "do_not_paint_cars": False,
        "driver_changes": False,
        "entry_count": len(split.order) if launched else 0,
        "green_white_checkered_limit": 0,
        "has_results": finished,
        "launch_at": iso_seconds(split.start),
        "league_id": hosted.league_id,
        "league_season_id": hosted.league_season_id,
        "lone_qualify": False,
        "max_ai_drivers": 0,
        "must_use_diff_tire_types_in_race": False,
        "no_lapper_wave_arounds": False,
        "num_opt_laps": 0,
        "pace_car_class_id": None,
        "pace_car_id": None,
        "password_protected": hosted.private,
        "practice_length": 20,
        "private_session_id": hosted.private_session_id,
        "qualify_laps": 2,
        "qualify_length": 10,
        "race_laps": model.config.laps_per_race,
        "race_length": -1,
        "session_id": slot.session_id,
        "short_parade_lap": False,
        "start_on_qual_tire": False,
        "start_zone": False,
        "status": 4 if finished else 3 if launched else 0,
        "team_entry_count": 0,
        "telemetry_force_to_disk": 0,
        "telemetry_restriction": 0,
        "time_limit": 120,
        "track": {
            "track_id": slot.track.track_id,
            "track_name": slot.track.name,
            "config_name": slot.track.config,
        },
        "track_state": {
            "leave_marbles": False,
            **{f"{phase}_rubber": -1 for phase in ("practice", "qualify", "warmup", "race")},
            **{f"{phase}_grip_compound": -1 for phase in ("practice", "qualify", "warmup", "race")},
        },
        "weather": {
            "version": 0,
            "type": 1,
            "temp_units": 0,
            "temp_value": 78,
            "rel_humidity": 55,
            "fog": 0,
            "wind_dir": 0,
            "wind_units": 0,
            "wind_value": 2,
            "skies": 1,
            "weather_var_initial": 0,
            "weather_var_ongoing": 0,
            "allow_fog": False,
            "track_water": 0,
            "precip_option": 0,
        },
    }
    if launched:
        session["subsession_id"] = split.subsession_id
    if finished:
        winner = model.driver(split.order[0])
        session["winner_id"] = winner.cust_id
        session["winner_name"] = winner.display_name
    return session
