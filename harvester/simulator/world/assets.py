"""Reference documents: constants, cars, tracks and series with their assets, car classes, and
the lookups (countries, flairs, licenses, drivers, `lookup/get`, the current season).

Where the reference has no capture, the fields are those the public clients' models name; every
id resolves in car/get, track/get and series/get.
"""

from __future__ import annotations

from typing import Any

from .data import CARS, COUNTRIES, DIVISIONS, EVENT_TYPES, LICENSE_COLORS, LICENSE_GROUPS, TRACKS
from .docs import car_get, categories, track_get
from .model import iso_seconds, quarter_bounds, quarter_of
from .refs import helmet
from .season_docs import series_get
from .state import Handler, State
from .types import Doc

_IMAGES = "/img/"


def car_assets(st: State, p: dict[str, Any], now: float) -> Doc:
    body = {}
    for car in CARS:
        folder = f"{_IMAGES}cars/{car.dirpath.replace(' ', '/')}"
        body[str(car.car_id)] = {
            "car_id": car.car_id,
            "car_rules": [],
            "detail_copy": f"<p>The {car.name}: {car.hp} hp, {car.weight} lb.</p>",
            "detail_screen_shot_images": ",".join(f"{car.abbrev.lower()}-{n}.jpg" for n in (1, 2)),
            "detail_techspecs_copy": f"Engine: {car.hp} hp. Weight: {car.weight} lb.",
            "folder": folder,
            "gallery_images": "3",
            "gallery_prefix": None,
            "group_image": None,
            "group_name": None,
            "large_image": f"{car.dirpath.split()[-1]}-large.jpg",
            "logo": f"{_IMAGES}logos/cars/{car.make.lower()}-logo.png",
            "small_image": f"{car.dirpath.split()[-1]}-small.jpg",
            "sponsor_logo": None,
            "template_path": f"car_templates/{car.car_id}_template_{car.abbrev}.zip",
        }
    return Doc(body)


def track_assets(st: State, p: dict[str, Any], now: float) -> Doc:
    body = {}
    for track in TRACKS:
        folder = f"{_IMAGES}tracks/{track.dirpath.replace(chr(92), '/')}"
        layers = ("background", "inactive", "active", "pitroad", "start-finish", "turns")
        body[str(track.track_id)] = {
            "coordinates": f"{track.latitude},{track.longitude}",
            "detail_copy": f"<p>{track.name} ({track.config}), {track.location}.</p>",
            "detail_techspecs_copy": f"Length: {track.length} miles. Corners: {track.corners}.",
            "detail_video": None,
            "folder": folder,
            "gallery_images": "3",
            "gallery_prefix": None,
            "large_image": f"{track.track_id}-large.jpg",
            "logo": f"{_IMAGES}logos/tracks/{track.track_id}-logo.png",
            "north": "0",
            "num_svg_images": 6,
            "small_image": f"{track.track_id}-small.jpg",
            "track_id": track.track_id,
            "track_map": f"https://members-assets.iracing.com/public/track-maps/{folder}/",
            "track_map_layers": {layer: f"{layer}.svg" for layer in layers},
        }
    return Doc(body)


def series_assets(st: State, p: dict[str, Any], now: float) -> Doc:
    body = {}
    for s in st.model.series:
        body[str(s.series_id)] = {
            "large_image": None,
            "logo": f"series-{s.series_id}.png",
            "series_copy": f"<p>{s.name}: a race every {st.config.race_interval_minutes} min.</p>",
            "series_id": s.series_id,
            "small_image": None,
        }
    return Doc(body)


def carclass_get(st: State, p: dict[str, Any], now: float) -> Doc:
    classes: dict[int, list[Any]] = {}
    for car in CARS:
        classes.setdefault(car.class_id, []).append(car)
    rows = []
    for class_id, cars in sorted(classes.items()):
        rows.append(
            {
                "car_class_id": class_id,
                "cars_in_class": [
                    {
                        "car_dirpath": car.dirpath,
                        "car_id": car.car_id,
                        "rain_enabled": False,
                        "retired": False,
                    }
                    for car in cars
                ],
                "cust_id": 0,
                "name": cars[0].class_name,
                "rain_enabled": False,
                "relative_speed": 50,
                "short_name": cars[0].class_name,
            }
        )
    return Doc(rows)


def countries(st: State, p: dict[str, Any], now: float) -> Doc:
    rows = sorted({(c[2], c[0]) for c in COUNTRIES})
    return Doc([{"country_code": code, "country_name": name} for name, code in rows])


def flairs(st: State, p: dict[str, Any], now: float) -> Doc:
    rows = [{"flair_id": 1, "flair_name": "None", "seq": 1}]
    for seq, country in enumerate(sorted(COUNTRIES, key=lambda c: c[2]), start=2):
        rows.append(
            {
                "flair_id": country[1],
                "flair_name": country[2],
                "seq": seq,
                "flair_shortname": country[3],
                "country_code": country[0],
            }
        )
    return Doc({"flairs": rows, "success": True})


def _levels() -> list[tuple[int, int, str, str]]:
    """(level 1..28, group, group name, letter) of every license level."""
    levels = []
    for gid, name, letter, lo, _ in LICENSE_GROUPS:
        for n in range(4):
            levels.append((lo + n, gid, name, letter))
    return levels


def licenses(st: State, p: dict[str, Any], now: float) -> Doc:
    rows = []
    for gid, name, letter, lo, hi in LICENSE_GROUPS:
        rows.append(
            {
                "license_group": gid,
                "group_name": name,
                "min_num_races": None if gid == 1 else 4,
                "participation_credits": 1 if gid < 6 else 0,
                "min_sr_to_fast_track": None if gid >= 5 else 3,
                "levels": [
                    {
                        "license_id": level,
                        "license_group": gid,
                        "license": f"{name} {n}.0",
                        "short_name": f"{letter} {n}.0",
                        "license_letter": letter,
                        "color": LICENSE_COLORS[gid],
                    }
                    for n, level in enumerate(range(lo, hi + 1), start=1)
                ],
                "min_num_tt": None if gid == 1 else 2,
            }
        )
    return Doc(rows)


def lookup_get(st: State, p: dict[str, Any], now: float) -> Doc:
    values = [
        {
            "value": str(level),
            "name": f"{name} ({(level - 1) % 4 + 1}.0)",
            "description": LICENSE_COLORS[gid],
            "seq": level,
        }
        for level, gid, name, _ in _levels()
    ]
    return Doc(
        [
            {
                "lookups": [{"lookup_type": "licenselevels", "lookup_values": values}],
                "tag": "licenselevels",
            }
        ]
    )


def current_season(st: State, p: dict[str, Any], now: float) -> Doc:
    year, quarter = quarter_of(now)
    start, end = quarter_bounds(year, quarter)
    week = int((now - start) // (7 * 86_400))
    return Doc(
        {
            "season_year": year,
            "season_quarter": quarter,
            "race_week": min(week, 12),
            "season_start_date": _date(start),
            "season_end_date": _date(end),
            "success": True,
        }
    )


def _date(epoch: float) -> str:
    return iso_seconds(epoch)[:10]


def _const(body: list[dict[str, Any]]) -> Handler:
    return lambda st, p, now: Doc([dict(row) for row in body])


def car_get_handler(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(car_get())


def track_get_handler(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(track_get())


def series_get_handler(st: State, p: dict[str, Any], now: float) -> Doc:
    return Doc(series_get(st.model))


def lookup_drivers(st: State, p: dict[str, Any], now: float) -> Doc:
    m = st.model
    term = p["search_term"].strip().lower()
    pool: range | tuple[int, ...] = range(m.pool)
    if "league_id" in p:
        league = m.league_of_id(p["league_id"])
        pool = m.league_rosters[league - 1] if league else ()
    rows = []
    for d in sorted(pool):
        drv = m.driver(d)
        if term and (term == str(drv.cust_id) or term in drv.display_name.lower()):
            rows.append(
                {
                    "cust_id": drv.cust_id,
                    "display_name": drv.display_name,
                    "helmet": helmet(st.model, d),
                    "profile_disabled": False,
                }
            )
    return Doc(rows)


HANDLERS: dict[str, Handler] = {
    "constants/categories": _const(categories()),
    "constants/divisions": _const([{"label": k, "value": v} for k, v in DIVISIONS]),
    "constants/event_types": _const([{"label": k, "value": v} for k, v in EVENT_TYPES]),
    "car/get": car_get_handler,
    "track/get": track_get_handler,
    "series/get": series_get_handler,
    "lookup/drivers": lookup_drivers,
    "car/assets": car_assets,
    "track/assets": track_assets,
    "series/assets": series_assets,
    "carclass/get": carclass_get,
    "lookup/countries": countries,
    "lookup/flairs": flairs,
    "lookup/licenses": licenses,
    "lookup/get": lookup_get,
    "lookup/current_season": current_season,
}
