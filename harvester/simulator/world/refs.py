"""Small document parts many documents share: helmets, liveries, track references, licenses."""

from __future__ import annotations

from typing import Any

from . import ratings
from .data import CATEGORIES, LICENSE_COLORS, LICENSE_GROUPS
from .model import Model, Slot, Split, mix
from .race import cpi, license_level


def helmet(model: Model, d: int) -> dict[str, Any]:
    h = model.driver(d).helmet
    return {
        "pattern": h[0],
        "color1": h[1],
        "color2": h[2],
        "color3": h[3],
        "face_type": h[4],
        "helmet_type": 0,
    }


def livery(model: Model, d: int, car_id: int, number: str) -> dict[str, Any]:
    h = model.driver(d).suit
    return {
        "car_id": car_id,
        "pattern": h[0] % 20,
        "color1": h[1],
        "color2": h[2],
        "color3": h[3],
        "number_font": 0,
        "number_color1": "ffffff",
        "number_color2": "777777",
        "number_color3": "000000",
        "number_slant": 0,
        "sponsor1": 0,
        "sponsor2": 0,
        "car_number": number,
        "wheel_color": h[3],
        "rim_type": -1,
    }


def track_ref(slot: Slot) -> dict[str, Any]:
    t = slot.track
    return {"track_id": t.track_id, "track_name": t.name, "config_name": t.config}


def group_of(level: int) -> tuple[int, str, str]:
    """(group id, name, letter) of a license level."""
    for gid, name, letter, lo, hi in LICENSE_GROUPS:
        if lo <= level <= hi:
            return gid, name, letter
    return 1, "Rookie", "R"


def license_doc(model: Model, d: int, category: int, seq: int, now: float) -> dict[str, Any]:
    """A member's license in a category at `now`: his iRating and safety rating are those his
    last official race there left him with (see `ratings`)."""
    level = license_level(model, d, category)
    gid, name, _ = group_of(level)
    h = mix(model.seed, 30, d, category)
    key, label = CATEGORIES[category]
    irating, sub = ratings.current(model, d, category, now)
    return {
        "category_id": category,
        "category": key,
        "category_name": label,
        "license_level": level,
        "safety_rating": sub / 100,
        "cpi": cpi(level, sub),
        "irating": irating,
        "tt_rating": 1350,
        "mpr_num_races": (h >> 24) % 200,
        "color": LICENSE_COLORS[gid],
        "group_name": name,
        "group_id": gid,
        "pro_promotable": False,
        "seq": seq,
        "mpr_num_tts": (h >> 32) % 5,
    }


def member_ref(m: Model, d: int) -> dict[str, Any]:
    """A member as rosters list it: id, name, helmet."""
    drv = m.driver(d)
    return {"cust_id": drv.cust_id, "display_name": drv.display_name, "helmet": helmet(m, d)}


def group(model: Model, split: Split, entrant: int) -> tuple[int, str, int]:
    """(group id, name, driver) of an entrant: a driver, or a team (its id, name, first driver).
    iRacing's `group_id` and `winner_group_id` name the entrant: cust_id, or team_id."""
    if split.team:
        return model.team_id(entrant), model.team_name(entrant), model.teams[entrant - 1][0]
    return model.cust(entrant), model.driver(entrant).display_name, entrant
