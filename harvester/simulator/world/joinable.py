"""A hosted or league session as the lists of sessions to join show it: hosted/sessions,
hosted/combined_sessions and league/cust_league_sessions (not a results row: the settings a
driver sees before joining, the seats left, what the member may do with it).

A session's registrations grow from its creation to its start, when its field is the
subsession's entrants (the same drivers results/get lists once it has finished).
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_GROUPS, TRACK_CATEGORY
from .model import MAX_DURATION, Model, Slot, Split, iso_seconds, mix
from .refs import helmet
from .season_docs import conditions

SPECTATOR_SLOTS = 20
_FARMS = ((1, "US-East", "us-east.png"), (3, "EU-Central", "eu-central.png"))


def registered(model: Model, slot: Slot, split: Split, now: float) -> int:
    """Drivers registered at `now`: the field fills from the session's creation to its start."""
    hosted = slot.hosted
    assert hosted is not None
    if now >= split.start:
        return len(split.order)
    opened = max(1.0, split.start - hosted.created)
    share = max(0.0, min(1.0, (now - hosted.created) / opened))
    return min(len(split.order), round(share * len(split.order)))


def _weather(model: Model, split: Split) -> dict[str, Any]:
    h = mix(model.seed, 25, split.subsession_id)
    return {
        **conditions(h),
        "simulated_start_time": iso_seconds(split.start - 3600 * ((h >> 32) % 8))[:-1],
        "simulated_time_offsets": [0, 3600, 7200],
        "simulated_time_multiplier": 1,
        "precip_option": 0,
        "track_water": 0,
        "weather_url": f"https://members-assets.iracing.com/weather/{split.subsession_id}.json",
        "forecast_options": {
            "forecast_type": 2,
            "precipitation": 0,
            "skies": (h >> 24) % 4,
            "stop_precip": 0,
            "temperature": 60 + h % 30,
            "weather_seed": (h >> 36) % 1_000_000,
            "wind_dir": (h >> 16) % 8,
            "wind_speed": (h >> 20) % 10,
        },
    }


def _cars(split: Split) -> list[dict[str, Any]]:
    return [
        {
            "car_id": c,
            "car_class_id": CARS_BY_ID[c].class_id,
            "max_pct_fuel_fill": 100.0,
            "weight_penalty_kg": 0,
            "power_adjust_pct": 0.0,
            "max_dry_tire_sets": 0,
            "package_id": 1000 + c,
            "car_name": CARS_BY_ID[c].name,
            "car_class_name": CARS_BY_ID[c].class_name,
        }
        for c in sorted(set(split.cars))
    ]


def _types(car: int) -> tuple[str, ...]:
    return CARS_BY_ID[car].types


def _counts(split: Split, seats: int) -> tuple[dict[str, int], dict[str, int]]:
    """Registered cars per car id and per car class id, the first `seats` of the field."""
    by_car: dict[str, int] = {}
    by_class: dict[str, int] = {}
    for car in split.cars[:seats]:
        by_car[str(car)] = by_car.get(str(car), 0) + 1
        key = str(CARS_BY_ID[car].class_id)
        by_class[key] = by_class.get(key, 0) + 1
    return by_car, by_class


def joinable_session(
    model: Model, slot: Slot, split: Split, now: float, max_drivers: int
) -> dict[str, Any]:
    """Every field of a session open to join; the lists' builders keep the ones they show."""
    hosted = slot.hosted
    assert hosted is not None
    host = model.driver(hosted.host)
    seats = registered(model, slot, split, now)
    running = split.start <= now < split.end
    me_in = 0 in split.order[:seats]
    full = seats >= max_drivers
    track_category = slot.track.category
    oval = track_category in (1, 3)
    spectators = mix(model.seed, 26, split.subsession_id) % 12 if running else 0
    farm = _FARMS[hosted.number % len(_FARMS)]
    by_car, by_class = _counts(split, seats)
    cars = sorted(set(split.cars))
    low = LICENSE_GROUPS[0]
    host_ref = {"cust_id": host.cust_id, "display_name": host.display_name}
    return {
        "num_drivers": seats,
        "num_spotters": 0,
        "num_spectators": spectators,
        "num_broadcasters": 0,
        "available_reserved_broadcaster_slots": 1,
        "num_spectator_slots": SPECTATOR_SLOTS,
        "available_spectator_slots": SPECTATOR_SLOTS - spectators,
        "can_broadcast": False,
        "can_watch": running,
        "can_spot": True,
        "elig": {
            "session_full": full,
            "can_spot": True,
            "can_watch": running,
            "can_drive": not running and not full,
            "has_sess_password": hosted.private,
            "needs_purchase": False,
            "own_car": True,
            "own_track": True,
            "purchase_skus": [],
            "registered": me_in,
        },
        "driver_changes": False,
        "restrict_viewing": False,
        "max_users": max_drivers + SPECTATOR_SLOTS,
        "private_session_id": hosted.private_session_id,
        "session_id": slot.session_id,
        "subsession_id": split.subsession_id,
        "password_protected": hosted.private,
        "session_name": hosted.session_name,
        "session_desc": f"{hosted.session_name}: practice, qualifying, then the race.",
        "open_reg_expires": iso_seconds(split.start),
        "launch_at": iso_seconds(split.start),
        "end_time": iso_seconds(split.start + MAX_DURATION),
        "full_course_cautions": oval,
        "num_fast_tows": -1,
        "rolling_starts": oval,
        "restarts": 1 if oval else 0,
        "multiclass_type": 1,
        "pits_in_use": min(40, max_drivers),
        "cars_left": max(0, max_drivers - seats),
        "max_drivers": max_drivers,
        "hardcore_level": 1,
        "practice_length": 20,
        "lone_qualify": True,
        "qualify_laps": 2,
        "qualify_length": 10,
        "warmup_length": 0,
        "race_laps": model.config.laps_per_race,
        "race_length": -1,
        "time_limit": 120,
        "restrict_results": False,
        "incident_limit": 0 if hosted.league else 25,
        "incident_warn_mode": 0,
        "incident_warn_param1": 0,
        "incident_warn_param2": 0,
        "unsport_conduct_rule_mode": 0,
        "connection_black_flag": False,
        "lucky_dog": oval,
        "min_team_drivers": 1,
        "max_team_drivers": 1,
        "qualifier_must_start_race": False,
        "driver_change_rule": 0,
        "fixed_setup": False,
        "entry_count": seats,
        "league_id": hosted.league_id,
        "league_season_id": hosted.league_season_id,
        "session_type": 0,
        "order_id": hosted.number,
        "min_license_level": low[3],
        "max_license_level": LICENSE_GROUPS[-1][4],
        "status": 0 if split.start > now else 1,
        "pace_car_id": None,
        "pace_car_class_id": None,
        "num_opt_laps": 0,
        "damage_model": 0,
        "do_not_paint_cars": False,
        "green_white_checkered_limit": 1 if oval else 0,
        "do_not_count_caution_laps": False,
        "consec_cautions_single_file": False,
        "consec_caution_within_nlaps": 0,
        "no_lapper_wave_arounds": False,
        "short_parade_lap": False,
        "start_on_qual_tire": False,
        "telemetry_restriction": 0,
        "telemetry_force_to_disk": 0,
        "max_ai_drivers": 0,
        "ai_avoid_players": False,
        "ai_min_skill": 0,
        "ai_max_skill": 0,
        "ai_roster_name": "",
        "adaptive_ai_enabled": False,
        "adaptive_ai_difficulty": 0,
        "must_use_diff_tire_types_in_race": False,
        "start_zone": False,
        "enable_pitlane_collisions": False,
        "disallow_virtual_mirror": False,
        "max_visor_tearoffs": -1,
        "category_id": slot.category,
        "category": CATEGORIES[slot.category][0],
        "session_full": full,
        "host": {**host_ref, "helmet": helmet(model, hosted.host)},
        "track": {
            "track_id": slot.track.track_id,
            "track_name": slot.track.name,
            "config_name": slot.track.config,
            "category_id": track_category,
        },
        "weather": _weather(model, split),
        "track_state": {
            "leave_marbles": False,
            "practice_rubber": -1,
            "qualify_rubber": -1,
            "warmup_rubber": -1,
            "race_rubber": -1,
        },
        "farm": {
            "farm_id": farm[0],
            "display_name": farm[1],
            "image_path": f"/images/farms/{farm[2]}",
            "displayed": True,
        },
        "admins": [{**host_ref, "helmet": helmet(model, hosted.host)}],
        "allowed_clubs": [],
        "allowed_teams": [],
        "allowed_leagues": [hosted.league_id] if hosted.league else [],
        "friends": [],
        "watched": [],
        "cars": _cars(split),
        "count_by_car_id": by_car,
        "count_by_car_class_id": by_class,
        "car_types": [{"car_type": t} for t in sorted({t for c in cars for t in _types(c)})],
        "track_types": [{"track_type": CATEGORIES[TRACK_CATEGORY[slot.category]][0]}],
        "license_group_types": [{"license_group_type": gid} for gid, *_ in LICENSE_GROUPS[:5]],
        "event_types": [{"event_type": 5}],
        "session_types": [{"session_type": t} for t in (3, 4, 6)],
        "can_join": not running and not full,
        "sess_admin": hosted.host == 0,
        "is_heat_racing": False,
        "team_entry_count": 0,
        "registered_teams": [],
        "populated": seats > 0,
        "broadcaster": False,
        "min_ir": 0,
        "max_ir": 999_999,
    }


# what each list leaves out of `joinable_session`
HOSTED_WITHOUT = ("end_time", "friends", "watched")
LEAGUE_WITHOUT = (
    "sess_admin",
    "ai_roster_name",
    "registered_teams",
    "ai_min_skill",
    "ai_max_skill",
)


def shown(session: dict[str, Any], without: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k not in without}
