"""Documents about members and the catalogue: member/*, series/*, car/get, track/get, CSV stats.

Their top-level keys and value types follow the real documents captured in the reference
fixtures; nested objects keep the main keys.
"""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from .data import (
    ACTIVE_CATEGORIES,
    AWARDS,
    CARS,
    CARS_BY_ID,
    CATEGORIES,
    LICENSE_COLORS,
    TRACKS,
    TRACKS_BY_ID,
)
from .model import (
    DAY,
    Model,
    iso_seconds,
    mix,
    quarter_of,
)
from .race import license_level
from .refs import group_of, helmet, license_doc

# The member licenses, in the order member/info lists them (category ids).
_LICENSE_ORDER = (1, 5, 6, 3, 4)


def member_info(model: Model, now: float) -> dict[str, Any]:
    """member/info: the authenticated member (index 0 of the pool)."""
    drv = model.driver(0)
    country = drv.country
    origin = model.config.origin
    rng = random.Random(mix(model.seed, 31))
    return {
        "cust_id": drv.cust_id,
        "display_name": drv.display_name,
        "first_name": drv.first_name,
        "last_name": drv.last_name,
        "on_car_name": drv.last_name,
        "member_since": drv.member_since,
        "flair_id": country[1],
        "flair_name": country[2],
        "flair_shortname": country[3],
        "flair_country_code": country[0],
        "last_login": iso_seconds(origin - DAY)[:-1] + ".000000000Z",
        "read_tc": iso_seconds(origin - 400 * DAY),
        "read_pp": iso_seconds(origin - 400 * DAY),
        "read_comp_rules": iso_seconds(origin - 900 * DAY),
        "flags": 0,
        "connection_type": "BROADBAND-3",
        "download_server": "Default",
        "account": {
            "ir_dollars": 0,
            "ir_credits": 12.5,
            "status": "active",
            "country_rules": None,
        },
        "helmet": helmet(model, 0),
        "suit": {
            "pattern": drv.suit[0],
            "color1": drv.suit[1],
            "color2": drv.suit[2],
            "color3": drv.suit[3],
            "body_type": 0,
        },
        "licenses": {
            CATEGORIES[cat][0]: license_doc(model, 0, cat, seq, now)
            for seq, cat in enumerate(_LICENSE_ORDER, start=1)
        },
        "car_packages": [
            {"package_id": 1000 + car.car_id, "content_ids": [car.car_id]} for car in CARS
        ],
        "track_packages": [
            {"package_id": 2000 + t.track_id, "content_ids": [t.track_id]} for t in TRACKS
        ],
        "other_owned_packages": sorted(rng.sample(range(1, 600), 12)),
        "dev": False,
        "alpha_tester": False,
        "rain_tester": False,
        "broadcaster": False,
        "restrictions": {},
        "has_read_comp_rules": True,
        "has_read_nda": False,
        "flags_hex": "0",
        "hundred_pct_club": False,
        "twenty_pct_discount": False,
        "last_season": model.season_id(0, *_quarter_before(origin)),
        "has_additional_content": True,
        "has_read_tc": True,
        "has_read_pp": True,
    }


def _quarter_before(epoch: float) -> tuple[int, int]:
    return quarter_of(epoch - 92 * DAY)


def member_get(
    model: Model, cust_ids: list[int], include_licenses: bool, now: float
) -> dict[str, Any]:
    members = []
    for cust_id in cust_ids:
        d = model.index_of(cust_id)
        if d is None:
            continue
        drv = model.driver(d)
        member: dict[str, Any] = {
            "cust_id": drv.cust_id,
            "display_name": drv.display_name,
            "helmet": helmet(model, d),
            "last_login": iso_seconds(model.config.origin - DAY * (1 + d % 30))[:-1]
            + ".000000000Z",
            "member_since": drv.member_since,
            "flair_id": drv.country[1],
            "flair_name": drv.country[2],
            "flair_shortname": drv.country[3],
            "ai": False,
        }
        if include_licenses:
            member["licenses"] = [
                license_doc(model, d, cat, seq, now)
                for seq, cat in enumerate(_LICENSE_ORDER, start=1)
            ]
        members.append(member)
    return {"success": True, "cust_ids": cust_ids, "members": members}


def member_awards(model: Model, d: int) -> list[dict[str, Any]]:
    """Every award template, those the member earned with an id, a date and a subsession."""
    rng = random.Random(mix(model.seed, 32, d))
    rows = []
    for order, (award_id, name, group, description, achievement, weight) in enumerate(AWARDS):
        earned = rng.random() < 0.45
        at = model.config.origin - DAY * rng.randrange(1, 1500)
        row: dict[str, Any] = {
            "member_award_id": 10_000_000 + d * 100 + order if earned else -1,
            "award_id": award_id,
            "achievement": achievement,
            "award_count": 1 if earned else 0,
            "award_order": order + 1,
            "description": description,
            "group_name": group,
            "has_pdf": earned and group == "Licenses",
            "icon_background_color": "#a2a2a2",
            "icon_url_large": f"/member_images/award_templates/icons/award_{award_id}_128.jpg",
            "icon_url_small": f"/member_images/award_templates/icons/award_{award_id}_64.jpg",
            "icon_url_unawarded": f"/member_images/award_templates/icons/award_{award_id}_bw.jpg",
            "name": name,
            "weight": weight,
        }
        if earned:
            row["cust_id"] = model.cust(d)
            row["award_date"] = iso_seconds(at)[:10]
            row["display_date"] = iso_seconds(at)[:10]
            row["awarded_description"] = description
            row["viewed"] = True
            race = model.race_after(d, at)
            if race is not None:  # the race that earned it
                row["subsession_id"] = race
            if row["has_pdf"]:
                row["pdf_url"] = (
                    f"https://members-assets.iracing.com/certificates/{row['member_award_id']}.pdf"
                )
                row["certificate_file_name"] = f"certificate_{row['member_award_id']}.pdf"
        if achievement:  # achievements count towards a threshold
            threshold = 10 * (order + 1)
            progress = threshold if earned else rng.randrange(threshold)
            row.update(
                progress=progress,
                progress_label="races",
                progress_text=f"{progress} of {threshold}",
                progress_text_label="Progress",
                threshold=threshold,
            )
        rows.append(row)
    return rows


def _paint_rules(car: Any) -> dict[str, Any]:
    """Per-pattern paint rules (keyed by pattern number), for a car with restrictions."""
    rules: dict[str, Any] = {}
    for pattern in range(3):
        rules[str(pattern)] = {
            "PaintCarAvailable": pattern > 0,
            "Color1": "FF0000",
            "Color2": "00FF00",
            "Color3": "0000FF",
            "Sponsor1Available": pattern > 0,
            "Sponsor2Available": pattern > 0,
            "Sponsor1": "0",
            "Sponsor2": "0",
            "RulesExplanation": "The series' livery: colours and sponsors are fixed."
            if pattern == 0
            else "Custom colours are allowed on this pattern.",
            "PaintWheelAvailable": pattern > 0,
            "WheelColor": "000000",
            "RimTypeAvailable": pattern > 0,
            "RimType": "0",
            "AllowNumberFontChanges": pattern > 0,
            "NumberFont": "0",
            "AllowNumberColorChanges": pattern > 0,
            "NumberColor1": "FFFFFF",
            "NumberColor2": "000000",
            "NumberColor3": "777777",
        }
    rules["RestrictCustomPaint"] = car.category == 1
    return rules


def car_get() -> list[dict[str, Any]]:
    return [
        {
            "ai_enabled": True,
            "allow_number_colors": False,
            "allow_number_font": False,
            "allow_sponsor1": True,
            "allow_sponsor2": True,
            "allow_wheel_color": True,
            "award_exempt": False,
            "car_dirpath": car.dirpath,
            "car_id": car.car_id,
            "car_name": car.name,
            "car_name_abbreviated": car.abbrev,
            "car_types": [{"car_type": t} for t in car.types],
            "car_weight": car.weight,
            "categories": [CATEGORIES[car.category][0]],
            "created": "2015-06-01T00:00:00Z",
            "first_sale": "2015-06-02T00:00:00Z",
            "forum_url": f"https://forums.iracing.com/categories/car-{car.car_id}",
            "free_with_subscription": car.car_id in (67, 1),
            "has_headlights": False,
            "has_multiple_dry_tire_types": False,
            "has_rain_capable_tire_types": car.category in (5, 6),
            "hp": car.hp,
            "is_ps_purchasable": True,
            "max_power_adjust_pct": 0,
            "max_weight_penalty_kg": 250,
            "min_power_adjust_pct": -5,
            "package_id": 1000 + car.car_id,
            "patterns": 3,
            "price": car.price,
            "price_display": f"${car.price:.2f}",
            "rain_enabled": car.category in (5, 6),
            "retired": False,
            "search_filters": ",".join(car.types),
            "sku": 10_000 + car.car_id,
            "car_make": car.make,
            "car_model": car.model,
            "paint_rules": _paint_rules(car),
            "site_url": f"https://www.iracing.com/cars/{car.dirpath.split()[-1]}/",
            "car_config_defs": [],
            "car_configs": [],
            "folder": f"/img/cars/{car.dirpath.split()[-1]}",
            "logo": f"/img/logos/cars/{car.make.lower()}-logo.png",
            "small_image": f"{car.dirpath.split()[-1]}-small.jpg",
            "sponsor_logo": None,
        }
        for car in CARS
    ]


_BANKING = {1: "12&#176; - 14&#176;", 3: "8&#176;"}  # ovals are banked


def track_get() -> list[dict[str, Any]]:
    rows = []
    for t in TRACKS:
        key = CATEGORIES[t.category][0]
        rows.append(
            {
                "ai_enabled": True,
                "allow_pitlane_collisions": False,
                "allow_rolling_start": True,
                "allow_standing_start": t.category in (2, 4),
                "award_exempt": False,
                "banking": _BANKING.get(t.category, "0&#176;"),
                "category": key,
                "category_id": t.category,
                "closes": "2030-12-31",
                "config_name": t.config,
                "corners_per_lap": t.corners,
                "created": "2010-01-01T00:00:00Z",
                "first_sale": "2010-01-01T00:00:00Z",
                "folder": f"/img/tracks/{t.dirpath.replace(chr(92), '/')}",
                "free_with_subscription": t.track_id in (47, 33),
                "fully_lit": False,
                "grid_stalls": 40,
                "has_opt_path": False,
                "has_short_parade_lap": t.category == 2,
                "has_start_zone": t.category in (1, 3),
                "has_svg_map": True,
                "is_dirt": t.category in (3, 4),
                "is_ps_purchasable": True,
                "is_oval": t.category in (1, 3),
                "lap_scoring": 0,
                "latitude": t.latitude,
                "location": t.location,
                "logo": f"/img/logos/tracks/{t.track_id}-logo.png",
                "longitude": t.longitude,
                "max_cars": 60,
                "night_lighting": False,
                "nominal_lap_time": t.lap_seconds,
                "number_pitstalls": 40,
                "opens": "2010-01-01",
                "package_id": 2000 + t.track_id,
                "pit_road_speed_limit": 45,
                "price": 14.95,
                "price_display": "$14.95",
                "priority": 1,
                "purchasable": True,
                "qualify_laps": 2,
                "rain_enabled": t.category == 2,
                "restart_on_left": False,
                "retired": False,
                "search_filters": key,
                "site_url": "https://www.iracing.com/tracks/",
                "small_image": f"{t.track_id}-small.jpg",
                "sku": 20_000 + t.track_id,
                "solo_laps": 8,
                "start_on_left": False,
                "supports_grip_compound": False,
                "tech_track": False,
                "time_zone": t.time_zone,
                "track_config_length": t.length,
                "track_dirpath": t.dirpath,
                "track_id": t.track_id,
                "track_name": t.name,
                "track_type": t.category,
                "track_type_text": CATEGORIES[t.category][1],
                "track_types": [{"track_type": key}],
            }
        )
    return rows


def categories() -> list[dict[str, Any]]:
    return [{"label": CATEGORIES[c][1], "value": c} for c in ACTIVE_CATEGORIES]


_CSV_HEADER = (
    "DRIVER",
    "CUSTID",
    "LOCATION",
    "CLUB_NAME",
    "STARTS",
    "WINS",
    "AVG_START_POS",
    "AVG_FINISH_POS",
    "AVG_POINTS",
    "TOP25PCNT",
    "LAPS",
    "LAPSLEAD",
    "AVG_INC",
    "CLASS",
    "IRATING",
    "TTRATING",
    "TOT_CLUBPOINTS",
    "CHAMPPOINTS",
)


def driver_stats_csv(model: Model, category: int) -> str:
    """driver_stats_by_category/<category>: one line per member, best iRating first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for d in sorted(range(model.pool), key=lambda d: (-model.ir[d], d)):
        drv = model.driver(d)
        h = mix(model.seed, 33, d, category)
        starts = h % 400
        wins = starts * ((h >> 10) % 20) // 100
        level = license_level(model, d, category)
        _, _, letter = group_of(level)
        writer.writerow(
            (
                drv.display_name,
                drv.cust_id,
                drv.country[0],
                drv.country[5],
                starts,
                wins,
                1 + (h >> 16) % 15,
                1 + (h >> 20) % 15,
                (h >> 24) % 150,
                starts * ((h >> 30) % 60) // 100,
                starts * (10 + (h >> 36) % 20),
                starts * ((h >> 40) % 5),
                f"{((h >> 44) % 900) / 100:.2f}",
                f"{letter} {drv.safety_rating:.2f}",
                model.ir[d],
                1350,
                (h >> 48) % 5000,
                starts * ((h >> 52) % 80),
            )
        )
    return out.getvalue()


def world_record_rows(
    model: Model, car_id: int, track_id: int, year: int | None, quarter: int | None
) -> list[dict[str, Any]]:
    """The best laps of a car at a track: the quickest members first."""
    track = TRACKS_BY_ID.get(track_id)
    car = CARS_BY_ID.get(car_id)
    if track is None or car is None:
        return []
    category = car.category
    rng = random.Random(mix(model.seed, 34, car_id, track_id, year or 0, quarter or 0))
    count = 50 + rng.randrange(150)
    drivers = sorted(range(model.pool), key=lambda d: (-model.ir[d], d))[:count]
    base = int(track.lap_seconds * 10_000 * 0.97)
    rows = []
    lap = base
    for d in drivers:
        lap += rng.randrange(1, max(2, base // 2000))
        drv = model.driver(d)
        level = license_level(model, d, category)
        gid, name, _ = group_of(level)
        at = model.config.origin - DAY * rng.randrange(1, 300)
        day = iso_seconds(at)[:10]
        rows.append(
            {
                "cust_id": drv.cust_id,
                "display_name": drv.display_name,
                "car_id": car_id,
                "track_id": track_id,
                "season_year": year,
                "season_quarter": quarter,
                "country_code": drv.country[0],
                "region": f"Region {1 + d % 4}",
                "club_id": drv.country[4],
                "club_name": drv.country[5],
                "license": {
                    "category_id": category,
                    "category": CATEGORIES[category][0],
                    "category_name": CATEGORIES[category][1],
                    "license_level": level,
                    "safety_rating": drv.safety_rating,
                    "irating": model.ir[d],
                    "tt_rating": 1350,
                    "color": LICENSE_COLORS[gid],
                    "group_name": name,
                    "group_id": gid,
                },
                "practice_lap_time": lap + rng.randrange(1, 5000),
                "practice_date": day,
                "qualify_lap_time": lap + rng.randrange(0, 3000),
                "qualify_date": day,
                "tt_lap_time": lap + rng.randrange(500, 8000),
                "tt_date": day,
                "race_lap_time": lap,
                "race_date": day,
            }
        )
    return rows
