"""The race of one subsession in detail: every car's qualifying and race laps.

A `Split` (outcome) fixes what a search row shows: field, finishing order, laps, the best
lap and the winner's average. `build_detail` expands it, from a generator seeded with the
subsession id, into two simsessions (qualify -1, race 0) of per-car entries with every lap,
consistent with the split: the race's fastest car laps exactly `event_best`, the winner's
laps average exactly `winner_avg`, and each car's lap times average exactly its `average_lap`.

A team's car is one entry with an entry per driver (`drivers`): the laps he drove (his stints,
see `ratings.stints`), his incidents, his ratings. Ratings and incident points come from
`ratings`, so they chain from race to race.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from . import ratings
from .figures import (
    Lap,
    Stint,
    car_generator,
    champ_points,
    laps_led,
    make_laps,
    qualifying,
    race_plan,
    stints_of,
)
from .model import Model, Slot, Split, mix
from .ratings import INCIDENTS

_POINTS = {name: points for name, _, points in INCIDENTS}
_RETIRED: tuple[tuple[int, str], ...] = ((32, "Disconnected"), (33, "Retired"))
SIMSESSIONS: tuple[tuple[int, str, int, str], ...] = (
    (-1, "QUALIFY", 4, "Lone Qualifying"),
    (0, "RACE", 6, "Race"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One car's result in one simsession (positions are 0-based, as in results/get).

    `d` is its driver, or a team car's first driver; `team` the team number (0: none) and
    `drivers` a team car's entry per driver."""

    d: int
    car_id: int
    car_number: str
    license_level: int
    laps: tuple[Lap, ...]  # lap 0 (the start) first
    best: int
    best_num: int
    avg: int
    incidents: int
    oldi: int
    newi: int
    position: int = 0
    start_position: int = -1
    qual_time: int = -1
    laps_lead: int = 0
    interval: int = 0
    reason_out_id: int = 0
    reason_out: str = "Running"
    old_sub: int = 0
    new_sub: int = 0
    old_cpi: float = 0.0
    new_cpi: float = 0.0
    champ_points: int = 0
    club_points: int = 0
    team: int = 0
    drivers: tuple[Entry, ...] = ()

    @property
    def laps_complete(self) -> int:
        return len(self.laps) - 1


@dataclass(frozen=True, slots=True)
class SimSession:
    number: int
    name: str
    type: int
    type_name: str
    entries: tuple[Entry, ...]  # in finishing order


@dataclass(frozen=True, slots=True)
class Detail:
    sessions: tuple[SimSession, ...]

    def session(self, number: int) -> SimSession | None:
        for s in self.sessions:
            if s.number == number:
                return s
        return None


def cpi(level: int, sub: int) -> float:
    """Corners per incident of a license level and safety rating (it rises with both)."""
    return round(10 + 6 * level + sub / 20, 4)


def build_detail(model: Model, slot: Slot, split: Split) -> Detail:
    """A race's laps and positions; ratings are added apart (`rate`, `rate_detail`), so that a
    driver's statistics need only his own."""
    rng = random.Random(mix(model.seed, 21, split.subsession_id))
    order = split.order
    n = len(order)
    car_of = dict(zip(order, split.cars, strict=True))
    numbers = rng.sample(range(1, 100), n) if n < 99 else list(range(1, n + 1))
    number_of = {e: str(numbers[i]) for i, e in enumerate(order)}
    lead = {e: model.drivers_of(split, e)[0] for e in order}
    level_of = {e: license_level(model, lead[e], slot.category) for e in order}
    best = split.event_best
    pace = int(best * 1.3)

    def entry(e: int, b: int, a: int, stints: tuple[Stint, ...], **fields: Any) -> Entry:
        led = fields.pop("led", frozenset())
        session = 0 if "pit" in fields else -1
        car_rng = car_generator(model, split, session, e)
        laps, b_num = make_laps(car_rng, b, a, pace, fields.pop("pit", False), stints, led)
        if len(laps) == 1:
            b, a = -1, 0
        points = sum(ratings.incident_points(plan) for _, _, plan in stints)
        return Entry(
            lead[e],
            car_of[e],
            number_of[e],
            level_of[e],
            laps,
            b,
            b_num,
            a,
            points,
            0,
            0,
            team=e * split.team,
            **fields,
        )

    qualify = qualifying(model, split)
    leader = qualify[0][1] if qualify and qualify[0][3] else 0
    qual = []
    for i, (e, b, a, laps_n) in enumerate(qualify):
        car = entry(e, b, a, ((lead[e], laps_n, ()),), position=i)
        qual.append(_with_drivers(model, slot, car, split, leader))
    grid = {q.team or q.d: i for i, q in enumerate(qual)}

    total = model.config.laps_per_race
    lead_laps = laps_led(model, split)
    race = []
    for pos, (e, (b, a, pit, interval)) in enumerate(
        zip(order, race_plan(model, split), strict=True)
    ):
        laps_n = split.laps[pos]
        stints = stints_of(model, split, e, laps_n)
        running = laps_n == total
        reason_id, reason = (0, "Running") if running else _RETIRED[pos % len(_RETIRED)]
        points = champ_points(split, pos)
        car = entry(
            e,
            b,
            a,
            stints,
            pit=pit,
            led=lead_laps.get(pos, frozenset()),
            position=pos,
            start_position=grid[e],
            qual_time=qual[grid[e]].best,
            laps_lead=len(lead_laps.get(pos, ())),
            interval=interval,
            reason_out_id=reason_id,
            reason_out=reason,
            champ_points=points,
            club_points=points // 8,
        )
        race.append(_with_drivers(model, slot, car, split))
    return Detail(
        (
            SimSession(*SIMSESSIONS[0], tuple(qual)),
            SimSession(*SIMSESSIONS[1], tuple(race)),
        )
    )


def rate(model: Model, slot: Slot, car: Entry, race: bool) -> Entry:
    """A car's entry with its drivers' ratings: before and after the race in an official race
    (`race`: the race simsession; qualifying moves none), unchanged in hosted ones."""

    def rated(entry: Entry) -> Entry:
        old_ir, new_ir, old_sub, new_sub = _ratings(model, slot, entry.d)
        if not race:
            new_ir, new_sub = old_ir, old_sub
        level = entry.license_level
        return replace(
            entry,
            oldi=old_ir,
            newi=new_ir,
            old_sub=old_sub,
            new_sub=new_sub,
            old_cpi=cpi(level, old_sub),
            new_cpi=cpi(level, new_sub),
        )

    if not car.team:
        return rated(car)
    drivers = tuple(rated(driver) for driver in car.drivers)
    return replace(
        car,
        oldi=sum(x.oldi for x in drivers) // len(drivers),
        newi=sum(x.newi for x in drivers) // len(drivers),
        old_sub=drivers[0].old_sub,
        new_sub=drivers[0].new_sub,
        old_cpi=drivers[0].old_cpi,
        new_cpi=drivers[0].new_cpi,
        drivers=drivers,
    )


def rate_detail(model: Model, slot: Slot, detail: Detail) -> Detail:
    """Every entry of a detail with its ratings."""
    return Detail(
        tuple(
            replace(s, entries=tuple(rate(model, slot, e, s.number == 0) for e in s.entries))
            for s in detail.sessions
        )
    )


def _ratings(model: Model, slot: Slot, d: int) -> tuple[int, int, int, int]:
    """(old iRating, new iRating, old sub level, new sub level) of driver d in this race."""
    category = slot.category
    if slot.series is None:  # hosted and league races move no rating
        ir, sub = ratings.current(model, d, category, slot.start)
        return ir, ir, sub, sub
    old_ir, old_sub = ratings.before(model, d, category, slot.k, slot.lane)
    new_ir, new_sub = ratings.after(model, d, category, slot.k, slot.lane)
    return old_ir, new_ir, old_sub, new_sub


def _with_drivers(
    model: Model, slot: Slot, car: Entry, split: Split, leader: int | None = None
) -> Entry:
    """A team car with an entry per driver who drove it: his laps, best lap, average,
    incidents and laps led (ratings come later, see `rate`). `leader`: qualifying's best
    lap, which a qualifying entry's interval is measured from."""
    if leader is not None:
        object.__setattr__(car, "interval", car.best - leader if car.best > 0 else -1)
    if not car.team:
        return car
    driving = {lap.driver for lap in car.laps[1:]}
    drove = [d for d in model.drivers_of(split, car.team) if d in driving] or [car.d]
    drivers = tuple(_driven_by(model, slot, car, d) for d in drove)
    object.__setattr__(car, "drivers", drivers)
    return car


def _driven_by(model: Model, slot: Slot, car: Entry, d: int) -> Entry:
    """The part of a team car's entry driver d drove."""
    own = tuple(lap for lap in car.laps[1:] if lap.driver == d)
    timed = [lap.time for lap in own if lap.time > 0]
    best = min(timed) if timed else -1
    return Entry(
        d,
        car.car_id,
        car.car_number,
        license_level(model, d, slot.category),
        (car.laps[0], *own),
        best,
        next((lap.number for lap in own if lap.time == best), -1),
        sum(timed) // len(timed) if timed else 0,
        sum(_POINTS[event] for lap in own for event in lap.events if event in _POINTS),
        0,
        0,
        position=car.position,
        start_position=car.start_position,
        qual_time=car.qual_time,
        laps_lead=sum(lap.led for lap in own),
        interval=car.interval,
        reason_out_id=car.reason_out_id,
        reason_out=car.reason_out,
        champ_points=car.champ_points,
        club_points=car.club_points,
        team=car.team,
    )


def license_level(model: Model, d: int, category: int) -> int:
    """A driver's license level (1..20) in a category."""
    base = model.driver(d).license_level
    return max(1, min(20, base + (mix(model.seed, 18, d, category) % 5) - 2))
