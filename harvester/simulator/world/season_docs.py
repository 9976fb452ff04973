"""Series and season documents: series/get, series/seasons, series/season_list,
series/season_schedule, season/list and the past seasons of series/past_seasons and
series/stats_series.

A season is a calendar quarter of a series; its schedule has 13 race weeks whose tracks are the
ones its races run on (`Model.track_for`), and whose session times are the slots of the series'
lane. A team series allows driver changes, a series with super sessions marks them in its
schedule, a series with time trials says so in its session types.
"""

from __future__ import annotations

from typing import Any

from .data import CARS_BY_ID, CATEGORIES, LICENSE_GROUPS, TRACK_CATEGORY
from .model import DAY, Model, Series, iso_seconds, mix, quarter_bounds, quarter_of, race_week

WEEKS = 13
SUPER_SESSION_EVERY = 12  # slots: a super session once a day at the default interval
MAX_TEAM_DRIVERS = 3


def allowed_licenses(series: Series, parent: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "license_group": gid,
            "min_license_level": lo,
            "max_license_level": hi,
            "group_name": name,
        }
        for gid, name, _, lo, hi in LICENSE_GROUPS
        if gid >= series.min_license_group
    ]
    if parent:
        for row in rows:
            row["parent_id"] = series.series_id
    return rows


def series_get(model: Model) -> list[dict[str, Any]]:
    return [
        {
            "allowed_licenses": allowed_licenses(s),
            "category": CATEGORIES[s.category][0],
            "category_id": s.category,
            "eligible": True,
            "max_starters": model.config.max_splits * model.config.drivers_per_split,
            "min_starters": 2,
            "oval_caution_type": 0,
            "road_caution_type": 2,
            "search_filters": search_filters(s),
            "series_id": s.series_id,
            "series_name": s.name,
            "series_short_name": s.short_name,
            "first_season": {"season_year": 2020, "season_quarter": 1 + s.lane % 4},
            "forum_url": f"https://forums.iracing.com/categories/series-{s.series_id}",
        }
        for s in model.series
    ]


def search_filters(series: Series) -> str:
    return ",".join((CATEGORIES[series.category][0], *CARS_BY_ID[series.cars[0]].types))


def _car_classes(series: Series) -> list[dict[str, Any]]:
    classes: dict[int, list[int]] = {}
    for car in series.cars:
        classes.setdefault(CARS_BY_ID[car].class_id, []).append(car)
    return [
        {
            "car_class_id": class_id,
            "short_name": CARS_BY_ID[cars[0]].class_name,
            "name": CARS_BY_ID[cars[0]].class_name,
            "relative_speed": 50 + (class_id % 7) * 5,
            "cars_in_class": [{"car_id": c, "car_name": CARS_BY_ID[c].name} for c in cars],
        }
        for class_id, cars in sorted(classes.items())
    ]


def conditions(h: int) -> dict[str, Any]:
    """The fixed conditions every weather block starts with, drawn from the hash `h`."""
    return {
        "version": 2,
        "type": 3,
        "temp_units": 0,
        "temp_value": 60 + h % 30,
        "rel_humidity": 40 + (h >> 8) % 40,
        "allow_fog": False,
        "fog": 0,
        "wind_dir": (h >> 16) % 8,
        "wind_units": 0,
        "wind_value": (h >> 20) % 10,
        "skies": (h >> 24) % 4,
        "weather_var_initial": 0,
        "weather_var_ongoing": 0,
        "time_of_day": (h >> 28) % 4,
    }


def weather(model: Model, season_id: int, week: int, start: float) -> dict[str, Any]:
    """A race week's weather: fixed conditions with a forecast and a summary."""
    h = mix(model.seed, 40, season_id, week)
    temp = 60 + h % 30
    return {
        **conditions(h),
        "simulated_start_time": iso_seconds(start + 13 * 3600)[:-1],
        "simulated_time_offsets": [0, 3600],
        "simulated_time_multiplier": 1,
        "precip_option": 0,
        "track_water": 0,
        "weather_url": f"https://members-assets.iracing.com/weather/season/{season_id}/{week}.json",
        "weather_summary": {
            "max_precip_rate": 0.0,
            "max_precip_rate_desc": "None",
            "precip_chance": 0.0,
            "skies_high": (h >> 24) % 4,
            "skies_low": 0,
            "temp_high": float(temp + 4),
            "temp_low": float(temp - 4),
            "temp_units": 0,
            "wind_high": float((h >> 20) % 10 + 3),
            "wind_low": float((h >> 20) % 10),
            "wind_units": 0,
            "wind_dir": float((h >> 16) % 8),
        },
        "forecast_options": {
            "forecast_type": 2,
            "precipitation": 0,
            "skies": (h >> 24) % 4,
            "stop_precip": 0,
            "temperature": temp,
            "weather_seed": (h >> 32) % 1_000_000,
            "wind_dir": (h >> 16) % 8,
            "wind_speed": (h >> 20) % 10,
            "allow_fog": False,
        },
    }


def _restrictions(series: Series) -> list[dict[str, Any]]:
    return [
        {
            "car_id": car,
            "race_setup_id": 0,
            "max_pct_fuel_fill": 100.0,
            "weight_penalty_kg": 0.0,
            "power_adjust_pct": 0.0,
            "max_dry_tire_sets": 0,
            "qual_setup_id": 0,
        }
        for car in series.cars
    ]


def _descriptor(model: Model, series: Series, start: float, minutes: int) -> dict[str, Any]:
    return {
        "repeating": True,
        "super_session": False,
        "session_minutes": minutes,
        "start_date": iso_seconds(start)[:10],
        "first_session_time": iso_seconds(model.slot_start(0, series.lane))[11:19],
        "repeat_minutes": model.config.race_interval_minutes,
        "day_offset": list(range(7)),
    }


def schedule(model: Model, series: Series, year: int, quarter: int, week: int) -> dict[str, Any]:
    """Race week `week` of a season: track, cars, sessions and weather."""
    start = quarter_bounds(year, quarter)[0] + week * 7 * DAY
    short = f"{year} Season {quarter}"
    season_id = model.season_id(series.lane, year, quarter)
    track = model.track_for(series, week)
    oval = series.category in (1, 3)
    race = _descriptor(model, series, start, 60)
    descriptors = [race]
    if series.supersessions:
        daily = {**race, "repeating": False, "super_session": True}
        daily["session_times"] = [
            iso_seconds(start + day * DAY + model.slot_start(0, series.lane) % DAY)
            for day in range(7)
        ]
        del daily["repeat_minutes"], daily["first_session_time"]
        descriptors.append(daily)
    return {
        "season_id": season_id,
        "race_week_num": week,
        "series_id": series.series_id,
        "series_name": series.name,
        "season_name": f"{series.name} - {short}",
        "schedule_name": series.name,
        "start_date": iso_seconds(start)[:10],
        "week_end_time": iso_seconds(start + 7 * DAY),
        "category": CATEGORIES[series.category][0],
        "category_id": series.category,
        "race_lap_limit": model.config.laps_per_race,
        "race_time_limit": None,
        "race_time_descriptors": descriptors,
        "qual_time_descriptors": [_descriptor(model, series, start, 10)],
        "qual_attached": True,
        "practice_length": 20,
        "qualify_laps": 2,
        "qualify_length": 10,
        "warmup_length": 0,
        "start_type": "Rolling" if oval else "Standing",
        "restart_type": "Single File",
        "full_course_cautions": oval,
        "special_event_type": None,
        "start_zone": False,
        "enable_pitlane_collisions": False,
        "short_parade_lap": False,
        "track": {
            "category": CATEGORIES[TRACK_CATEGORY[series.category]][0],
            "category_id": track.category,
            "config_name": track.config,
            "track_id": track.track_id,
            "track_name": track.name,
        },
        "weather": weather(model, season_id, week, start),
        "track_state": {"leave_marbles": False, "practice_rubber": -1, "race_rubber": -1},
        "car_restrictions": _restrictions(series),
        "race_week_car_class_ids": sorted({CARS_BY_ID[c].class_id for c in series.cars}),
        "race_week_cars": [
            {
                "car_id": c,
                "car_name": CARS_BY_ID[c].name,
                "car_name_abbreviated": CARS_BY_ID[c].abbrev,
            }
            for c in series.cars
        ],
    }


def _settings(model: Model, series: Series, year: int, quarter: int, now: float) -> dict[str, Any]:
    """What every listing of a season says about it."""
    start, _ = quarter_bounds(year, quarter)
    current = quarter_of(now)
    short = f"{year} Season {quarter}"
    car = CARS_BY_ID[series.cars[0]]
    oval = series.category in (1, 3)
    return {
        "season_id": model.season_id(series.lane, year, quarter),
        "season_name": f"{series.name} - {short}",
        "active": (year, quarter) == current,
        "allowed_season_members": None,
        "car_class_ids": sorted({CARS_BY_ID[c].class_id for c in series.cars}),
        "car_switching": False,
        "car_types": [{"car_type": t} for t in car.types],
        "caution_laps_do_not_count": False,
        "complete": (year, quarter) < current,
        "connection_black_flag": False,
        "consec_caution_within_nlaps": 0,
        "consec_cautions_single_file": False,
        "cross_license": False,
        "distributed_matchmaking": False,
        "driver_change_rule": 1 if series.team else 0,
        "driver_changes": series.team,
        "drops": 4,
        "enable_pitlane_collisions": False,
        "fixed_setup": series.lane % 2 == 1,
        "green_white_checkered_limit": 1 if oval else 0,
        "grid_by_class": False,
        "hardcore_level": 1,
        "has_supersessions": series.supersessions,
        "ignore_license_for_practice": True,
        "incident_limit": 17,
        "incident_warn_mode": 0,
        "incident_warn_param1": 0,
        "incident_warn_param2": 0,
        "is_heat_racing": series.heats,
        "license_group": series.min_license_group,
        "license_group_types": [{"license_group_type": series.min_license_group}],
        "lucky_dog": oval,
        "max_team_drivers": MAX_TEAM_DRIVERS if series.team else 1,
        "max_weeks": 12,
        "min_team_drivers": 1,
        "multiclass": len({CARS_BY_ID[c].class_id for c in series.cars}) > 1,
        "must_use_diff_tire_types_in_race": False,
        "num_fast_tows": -1,
        "num_opt_laps": 0,
        "official": True,
        "op_duration": 0,
        "open_practice_session_type_id": 0,
        "qualifier_must_start_race": False,
        "race_week": race_week(now) if (year, quarter) == current else 0,
        "race_week_to_make_divisions": 0,
        "region_competition": True,
        "restrict_by_member": False,
        "restrict_to_car": False,
        "restrict_viewing": False,
        "schedule_description": f"Races every {model.config.race_interval_minutes} minutes",
        "season_quarter": quarter,
        "season_short_name": short,
        "season_year": year,
        "send_to_open_practice": False,
        "series_id": series.series_id,
        "short_parade_lap": False,
        "start_date": iso_seconds(start)[:10],
        "start_on_qual_tire": False,
        "start_zone": False,
        "track_types": [{"track_type": CATEGORIES[TRACK_CATEGORY[series.category]][0]}],
        "unsport_conduct_rule_mode": 0,
        "rookie_season": "A" if series.min_license_group == 1 else "",
        "reg_open_minutes": 15,
    }


def heat_info(model: Model, series: Series) -> dict[str, Any]:
    """How a heat racing series runs a race: qualifying, heats, consolations, the main."""
    field = model.config.drivers_per_split
    return {
        "heat_info_id": 1000 + series.lane,
        "cust_id": 0,
        "hidden": False,
        "created": "2023-06-01T00:00:00Z",
        "heat_info_name": f"{series.name} heats",
        "description": "Qualifying sets the heats; the heats set the main.",
        "max_entrants": field,
        "race_style": 1,
        "open_practice": True,
        "pre_qual_practice_length_minutes": 5,
        "pre_qual_num_to_main": 0,
        "qual_style": 1,
        "qual_length_minutes": 5,
        "qual_laps": 2,
        "qual_num_to_main": 0,
        "qual_scoring": 0,
        "qual_caution_type": 0,
        "qual_open_delay_seconds": 0,
        "qual_scores_champ_points": False,
        "heat_length_minutes": 6,
        "heat_laps": 6,
        "heat_max_field_size": field // 2,
        "heat_num_position_to_invert": 4,
        "heat_caution_type": 1,
        "heat_num_from_each_to_main": field // 4,
        "heat_scores_champ_points": False,
        "consolation_num_to_consolation": 0,
        "consolation_num_to_main": 2,
        "consolation_first_max_field_size": field // 2,
        "consolation_first_session_length_minutes": 5,
        "consolation_first_session_laps": 5,
        "consolation_delta_max_field_size": 0,
        "consolation_delta_session_length_minutes": 0,
        "consolation_delta_session_laps": 0,
        "consolation_num_position_to_invert": 0,
        "consolation_scores_champ_points": False,
        "consolation_run_always": False,
        "pre_main_practice_length_minutes": 0,
        "main_length_minutes": 20,
        "main_laps": model.config.laps_per_race,
        "main_max_field_size": field,
        "main_num_position_to_invert": 6,
        "heat_session_minutes_estimate": 45,
    }


def _next_race(model: Model, series: Series, now: float) -> str | None:
    k = model.k_at(now)
    start = model.slot_start(k, series.lane)
    if start <= now:
        start = model.slot_start(k + 1, series.lane)
    return iso_seconds(start)


def season_doc(model: Model, series: Series, year: int, quarter: int, now: float) -> dict[str, Any]:
    """One season as series/seasons lists it, with its 13-week schedule."""
    doc = _settings(model, series, year, quarter, now)
    active = doc["active"]
    doc["next_race_session"] = _next_race(model, series, now) if active else None
    doc["reg_user_count"] = 40 + mix(model.seed, 41, series.lane) % 200 if active else 0
    doc["schedules"] = [schedule(model, series, year, quarter, w) for w in range(WEEKS)]
    if series.heats:
        doc["heat_ses_info"] = heat_info(model, series)
    return doc


def season_list_entry(
    model: Model, series: Series, year: int, quarter: int, now: float
) -> dict[str, Any]:
    """One season as series/season_list lists it: this week's schedule in short."""
    doc = _settings(model, series, year, quarter, now)
    week = schedule(model, series, year, quarter, doc["race_week"])
    doc["capture_anon_telem"] = False
    doc["has_mpr"] = series.min_license_group == 1
    doc["reg_user_count"] = 40 + mix(model.seed, 41, series.lane) % 200 if doc["active"] else 0
    doc["elig"] = {"own_car": True, "own_track": True}
    if series.heats:
        doc["heat_ses_info"] = heat_info(model, series)
    doc["current_week_sched"] = {
        "race_week_num": doc["race_week"],
        "track": {
            k: week["track"][k] for k in ("track_id", "track_name", "category_id", "category")
        },
        "car_restrictions": week["car_restrictions"],
        "race_lap_limit": week["race_lap_limit"],
        "race_time_limit": week["race_time_limit"],
        "precip_chance": 0.0,
        "start_type": week["start_type"],
        "category_id": series.category,
    }
    del doc["reg_open_minutes"]
    return doc


def past_season(
    model: Model, series: Series, year: int, quarter: int, now: float
) -> dict[str, Any]:
    """A season as series/past_seasons and series/stats_series list it: classes and weeks."""
    settings = _settings(model, series, year, quarter, now)
    keep = (
        "season_id",
        "series_id",
        "season_name",
        "season_short_name",
        "season_year",
        "season_quarter",
        "active",
        "official",
        "driver_changes",
        "fixed_setup",
        "license_group",
        "license_group_types",
        "has_supersessions",
        "car_switching",
    )
    doc = {k: settings[k] for k in keep}
    doc["car_classes"] = _car_classes(series)
    doc["race_weeks"] = [
        {
            "season_id": settings["season_id"],
            "race_week_num": week,
            "track": {
                "track_id": model.track_for(series, week).track_id,
                "track_name": model.track_for(series, week).name,
                "config_name": model.track_for(series, week).config,
            },
        }
        for week in range(WEEKS)
    ]
    return doc


def season_list_row(model: Model, series: Series, year: int, quarter: int) -> dict[str, Any]:
    """One season as season/list lists it."""
    return {
        "season_id": model.season_id(series.lane, year, quarter),
        "series_id": series.series_id,
        "season_name": f"{series.name} - {year} Season {quarter}",
        "series_name": series.name,
        "official": True,
        "season_year": year,
        "season_quarter": quarter,
        "license_group": series.min_license_group,
        "fixed_setup": series.lane % 2 == 1,
        "driver_changes": series.team,
        "rookie_season": "A" if series.min_license_group == 1 else "",
    }
