"""iRating and safety rating race by race: each driver's rating after a race in a category is the
one his next race there starts from, so results/get's `oldi_rating` is the previous race's
`newi_rating` and member/chart_data draws the same numbers.

A rating after race r is a slow baseline of the driver (his base rating drifting over months)
plus his recent form: the performances of his last `len(FORM)` races in the category, weighted
1, 3/4, 1/2, 1/4. A race's performance comes from its finishing position against the field
(iRating) and from its incident points (safety rating), so a win lifts a rating and a repeated
win lifts it again a little less. Only finished official races count (hosted and league races
move no rating). Everything is computed from the race slots alone (never from a race's laps),
so a rating costs a few slot look-ups, cached.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .model import DAY, Model, Split, mix

FORM = (1.0, 0.75, 0.5, 0.25)  # weights of the last races' performances, newest first
SUB_MIN, SUB_MAX = 100, 499  # a safety rating's sub level: 1.00 .. 4.99
_DRIFT_PERIOD = 120 * DAY
# (event name, lap flag, incident points) of a race incident
INCIDENTS: tuple[tuple[str, int, int], ...] = (
    ("off track", 4, 1),
    ("lost control", 32, 2),
    ("car contact", 64, 4),
)


_INCIDENT_COUNTS = (0, 0, 0, 1, 1, 2, 3)  # a race's incidents: none in three races of seven


def incident_plan(model: Model, subsession_id: int, d: int, laps: int) -> tuple[int, ...]:
    """Which incidents (indices into INCIDENTS) driver d has in a race of `laps` laps."""
    if laps < 2:
        return ()
    h = mix(model.seed, 24, subsession_id, d)
    count = _INCIDENT_COUNTS[h % len(_INCIDENT_COUNTS)]
    return tuple((h >> (8 + 4 * i)) % len(INCIDENTS) for i in range(count))


def incident_points(plan: tuple[int, ...]) -> int:
    return sum(INCIDENTS[i][2] for i in plan)


def stints(model: Model, split: Split, team: int, laps: int) -> tuple[tuple[int, int], ...]:
    """(driver, laps driven) of a team's car, in driving order: the team splits the laps."""
    drivers = model.teams[team - 1]
    if laps <= 0:
        return ((drivers[0], 0),)
    shares = [1 + mix(model.seed, 28, split.subsession_id, d) % 3 for d in drivers]
    total = sum(shares)
    driven = [laps * s // total for s in shares]
    driven[0] += laps - sum(driven)
    return tuple((d, n) for d, n in zip(drivers, driven, strict=True) if n > 0)


def drove(model: Model, split: Split, position: int) -> tuple[int, ...]:
    """The drivers of the car finishing at `position` who drove it (a team's first driver if
    it did no lap): the ones whose race it is."""
    entrant = split.order[position]
    if not split.team:
        return (entrant,)
    driven = [d for d, laps in stints(model, split, entrant, split.laps[position]) if laps]
    return tuple(driven) or (model.teams[entrant - 1][0],)


def races_in(model: Model, k: int, lane: int, d: int) -> bool:
    """Whether driver d races in slot (k, lane): enters it, and drives his team's car."""
    if not model.is_entrant(k, lane, d):
        return False
    if lane >= model.config.series_count or not model.series[lane].team:
        return True
    split = split_of(model, k, lane, d)
    return d in drove(model, split, _position(model, split, d, lane))


def laps_of(model: Model, split: Split, position: int, d: int) -> int:
    """Laps driver d drove for the entrant finishing at `position` of a split."""
    laps = split.laps[position]
    if not split.team:
        return laps
    return dict(stints(model, split, split.order[position], laps)).get(d, 0)


def _lanes(model: Model, d: int, category: int) -> tuple[int, ...]:
    return tuple(
        lane
        for lane in model.lanes_of(d)
        if lane < model.config.series_count and model.series[lane].category == category
    )


@lru_cache(maxsize=65_536)
def previous(model: Model, d: int, category: int, k: int, lane: int) -> tuple[int, int] | None:
    """The slot (k, lane) of driver d's race in `category` just before slot (k, lane)."""
    lanes = sorted(_lanes(model, d, category), reverse=True)
    for kk in range(k, model.k_min - 1, -1):
        for ln in lanes:
            if (kk, ln) < (k, lane) and races_in(model, kk, ln, d):
                return kk, ln
    return None


def _position(model: Model, split: Split, d: int, lane: int) -> int:
    entrant = model.entrant_of(lane, d)
    return split.order.index(entrant)


def split_of(model: Model, k: int, lane: int, d: int) -> Split:
    entrant = model.entrant_of(lane, d)
    return next(s for s in model.slot(k, lane).splits if entrant in s.order)


def performance(model: Model, d: int, k: int, lane: int) -> tuple[float, float]:
    """(iRating, sub level) performance of driver d in his race of slot (k, lane)."""
    split = split_of(model, k, lane, d)
    pos = _position(model, split, d, lane)
    n = len(split.order)
    entrant = split.order[pos]
    own = model.team_ir[entrant] if split.team else model.ir[d]
    placed = 90 * (n - 1 - 2 * pos) / max(1, n - 1)
    field = max(-30.0, min(30.0, (split.sof - own) / 25))
    laps = laps_of(model, split, pos, d)
    points = incident_points(incident_plan(model, split.subsession_id, d, laps))
    return placed + field, 14.0 - 6.0 * points


def _baseline(model: Model, d: int, category: int, t: float) -> tuple[float, float]:
    h = mix(model.seed, 29, d, category)
    phase = (h % 1000) / 1000 * 2 * math.pi
    wave = math.sin(2 * math.pi * t / _DRIFT_PERIOD + phase)
    ir = model.ir[d] + ((h >> 10) % 200) - 100 + 60 * wave
    sub = 180 + model.driver(d).safety_rating * 40 + ((h >> 20) % 60) + 15 * wave
    return ir, sub


@lru_cache(maxsize=65_536)
def after(model: Model, d: int, category: int, k: int, lane: int) -> tuple[int, int]:
    """(iRating, sub level) of driver d after his race of slot (k, lane) in `category`."""
    ir, sub = _baseline(model, d, category, model.slot_start(k, lane))
    race: tuple[int, int] | None = (k, lane)
    for weight in FORM:
        if race is None:
            break
        p_ir, p_sub = performance(model, d, *race)
        ir += weight * p_ir
        sub += weight * p_sub
        race = previous(model, d, category, *race)
    return max(100, round(ir)), max(SUB_MIN, min(SUB_MAX, round(sub)))


def before(model: Model, d: int, category: int, k: int, lane: int) -> tuple[int, int]:
    """(iRating, sub level) driver d takes into his race of slot (k, lane)."""
    race = previous(model, d, category, k, lane)
    if race is None:
        ir, sub = _baseline(model, d, category, model.slot_start(k, lane))
        return max(100, round(ir)), max(SUB_MIN, min(SUB_MAX, round(sub)))
    return after(model, d, category, *race)


def current(model: Model, d: int, category: int, now: float) -> tuple[int, int]:
    """(iRating, sub level) of driver d at `now`: after his last finished race in `category`."""
    lanes = sorted(_lanes(model, d, category), reverse=True)
    for k in range(model.k_at(now), model.k_min - 1, -1) if lanes else ():
        for lane in lanes:
            if (
                model.slot_start(k, lane) < now
                and races_in(model, k, lane, d)
                and split_of(model, k, lane, d).end <= now
            ):
                return after(model, d, category, k, lane)
    ir, sub = _baseline(model, d, category, model.slot_start(model.k_min, 0))
    return max(100, round(ir)), max(SUB_MIN, min(SUB_MAX, round(sub)))
