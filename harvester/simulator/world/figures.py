"""A race in numbers, and the laps of its cars: what every document of a subsession is
written from.

A split (see `outcome`) fixes the finishing order and the race's figures; here each part of a
race comes from a generator of its own (the grid, the laps led, each car's best and average lap,
each car's laps), so a statistic that needs a driver's figures (`race_figures`) reads them without
writing the laps of the whole field, and the laps `race.build_detail` writes agree with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import ratings
from .model import Model, Split, mix
from .ratings import INCIDENTS

_PITTED = 2


@dataclass(frozen=True, slots=True)
class Lap:
    number: int
    time: int  # 1/10000 s; -1 for lap 0 (the start) and invalid laps
    session_time: int
    flags: int
    events: tuple[str, ...]
    incident: bool
    personal_best: bool
    driver: int  # who drove it (a team's car changes drivers)
    led: bool = False


def _lap_times(rng: random.Random, n: int, best: int, avg: int) -> tuple[list[int], int]:
    """n lap times with minimum `best` and mean exactly `avg`; and the best lap's index."""
    if n <= 0:
        return [], -1
    best_idx = rng.randrange(n)
    if n == 1:
        return [best], 0
    free = (avg - best) * n - (n - 1)
    weights = [rng.random() + 0.05 for _ in range(n - 1)]
    total = sum(weights)
    adds = [int(free * w / total) for w in weights]
    adds[-1] += free - sum(adds)
    others = [best + 1 + a for a in adds]
    return [*others[:best_idx], best, *others[best_idx:]], best_idx


Stint = tuple[int, int, tuple[int, ...]]  # driver, laps driven, incident plan


def make_laps(
    rng: random.Random,
    best: int,
    avg: int,
    start_time: int,
    pit: bool,
    stints: tuple[Stint, ...],
    led: frozenset[int] = frozenset(),
) -> tuple[tuple[Lap, ...], int]:
    """Lap rows 0..n of a car driven in `stints`, and its best lap number."""
    n = sum(count for _, count, _ in stints)
    times, best_idx = _lap_times(rng, n, best, avg)
    flags = [0] * n
    events: list[list[str]] = [[] for _ in range(n)]
    driver_of = [d for d, count, _ in stints for _ in range(count)]
    first = 0
    for _, count, plan in stints:
        candidates = [i for i in range(first, first + count) if i != best_idx]
        for incident in plan:
            name, flag, _ = INCIDENTS[incident]
            i = rng.choice(candidates)
            flags[i] |= flag
            events[i].append(name)
        first += count
    candidates = [i for i in range(n) if i != best_idx]
    if pit and candidates:
        i = rng.choice(candidates)
        flags[i] |= _PITTED
        events[i].append("pitted")
    rows = [Lap(0, -1, start_time, 0, (), False, False, stints[0][0])]
    clock = start_time
    for i, lap_time in enumerate(times):
        clock += lap_time
        hit = bool(flags[i] & ~_PITTED)
        best_lap = i == best_idx
        rows.append(
            Lap(
                i + 1,
                lap_time,
                clock,
                flags[i],
                tuple(events[i]),
                hit,
                best_lap,
                driver_of[i],
                i + 1 in led,
            )
        )
    return tuple(rows), best_idx + 1 if best_idx >= 0 else -1


def stints_of(model: Model, split: Split, entrant: int, laps: int) -> tuple[Stint, ...]:
    shares = ratings.stints(model, split, entrant, laps) if split.team else ((entrant, laps),)
    return tuple((d, n, ratings.incident_plan(model, split.subsession_id, d, n)) for d, n in shares)


def car_generator(model: Model, split: Split, session: int, entrant: int) -> random.Random:
    """The generator of one car's laps in one simsession: a car's laps need no other's."""
    return random.Random(mix(model.seed, 21, split.subsession_id, 4, session, entrant))


def car_laps(model: Model, split: Split, position: int) -> tuple[Lap, ...]:
    """The race laps of the car finishing at `position`, as `build_detail` writes them."""
    entrant = split.order[position]
    b, a, pit, _ = race_plan(model, split)[position]
    stints = stints_of(model, split, entrant, split.laps[position])
    led = laps_led(model, split).get(position, frozenset())
    pace = int(split.event_best * 1.3)
    return make_laps(car_generator(model, split, 0, entrant), b, a, pace, pit, stints, led)[0]


def qualifying(model: Model, split: Split) -> list[tuple[int, int, int, int]]:
    """(entrant, best lap, average lap, laps) of every car's qualifying, in grid order: by
    best lap, cars without a time last (a generator of its own: statistics read the grid
    without building the laps)."""
    rng = random.Random(mix(model.seed, 21, split.subsession_id, 1))
    best = split.event_best
    runs = []
    for e in split.order:
        laps_n = 0 if rng.random() < 0.05 else 1 + rng.randrange(2)
        b = int(best * (0.998 + 0.025 * rng.random()))
        a = b + 1 + rng.randrange(max(1, b // 60)) if laps_n > 1 else b
        runs.append((e, b, a, laps_n))
    runs.sort(key=lambda q: (q[3] == 0, q[1] if q[3] else 0))
    return runs


def race_plan(model: Model, split: Split) -> list[tuple[int, int, bool, int]]:
    """(best lap, average lap, pitted, interval to the winner) of every car in finishing order:
    the fastest car laps `event_best`, the winner averages `winner_avg` (a generator of its own,
    as `qualifying`)."""
    rng = random.Random(mix(model.seed, 21, split.subsession_id, 3))
    best = split.event_best
    total = model.config.laps_per_race
    plan = []
    gap = 0
    for pos, laps_n in enumerate(split.laps):
        if pos == split.fastest:
            b = best
        elif pos == 0:
            b = split.winner_best
        else:
            b = best + 1 + rng.randrange(max(1, best * 15 // 1000))
        if pos == 0:
            a = split.winner_avg
        elif laps_n >= 2:
            a = b + 1 + rng.randrange(max(1, b // 50))
        else:
            a = b
        pit = total >= 8 and rng.random() < 0.4
        running = laps_n == total
        if pos and running:
            gap += 5_000 + rng.randrange(80_000)
        plan.append((b if laps_n else -1, a if laps_n else 0, pit, gap if running else -1))
    return plan


def laps_led(model: Model, split: Split) -> dict[int, frozenset[int]]:
    """The laps each finishing position led (a generator of its own, as `qualifying`)."""
    rng = random.Random(mix(model.seed, 21, split.subsession_id, 2))
    return _laps_led(rng, split, model.config.laps_per_race)


def champ_points(split: Split, position: int) -> int:
    n = len(split.order)
    running = split.laps[position] == split.laps[0]
    return int(split.sof / 16 * (n - position) / n) if running else 0


@dataclass(frozen=True, slots=True)
class Summary:
    """A driver's (or a car's) race in figures, without its laps: what statistics count."""

    car_id: int
    position: int
    start_position: int
    laps_complete: int
    laps_lead: int
    incidents: int
    champ_points: int
    club_points: int


@dataclass(frozen=True, slots=True)
class CarFigures:
    """A car's figures, and a team car's per driver who drove it (`drivers`, in stint order)."""

    entrant: int
    car: Summary
    drivers: tuple[tuple[int, Summary], ...]  # (driver, his figures); a driver's own car: one


def race_figures(model: Model, split: Split) -> tuple[CarFigures, ...]:
    """Every car's figures in finishing order, equal to the entries `race.build_detail` writes
    (same generators)."""
    grid = {e: i for i, (e, *_rest) in enumerate(qualifying(model, split))}
    led = laps_led(model, split)
    cars = []
    for pos, entrant in enumerate(split.order):
        laps = split.laps[pos]
        points = champ_points(split, pos)
        car_led = led.get(pos, frozenset())
        drivers = []
        first = 1
        for d, own, plan in stints_of(model, split, entrant, laps):
            figures = Summary(
                car_id=split.cars[pos],
                position=pos,
                start_position=grid[entrant],
                laps_complete=own,
                laps_lead=sum(1 for lap in car_led if first <= lap < first + own),
                incidents=ratings.incident_points(plan),
                champ_points=points,
                club_points=points // 8,
            )
            drivers.append((d, figures))
            first += own
        car = Summary(
            car_id=split.cars[pos],
            position=pos,
            start_position=grid[entrant],
            laps_complete=laps,
            laps_lead=len(car_led),
            incidents=sum(f.incidents for _, f in drivers),
            champ_points=points,
            club_points=points // 8,
        )
        raced = ratings.drove(model, split, pos)
        cars.append(CarFigures(entrant, car, tuple((d, f) for d, f in drivers if d in raced)))
    return tuple(cars)


def best_lap(model: Model, split: Split, position: int, d: int) -> int:
    """The best lap driver d drove in the car finishing at `position` (-1: none)."""
    if not split.team:
        return race_plan(model, split)[position][0]
    times = [lap.time for lap in car_laps(model, split, position)[1:] if lap.driver == d]
    return min((t for t in times if t > 0), default=-1)


def _laps_led(rng: random.Random, split: Split, total: int) -> dict[int, frozenset[int]]:
    """The laps each finishing position led: stints alternate, the winner leads the last one."""
    others = [p for p in range(1, min(3, len(split.order))) if split.laps[p] == total]
    changes = min(split.lead_changes, total - 1)
    if not others or not changes:
        return {0: frozenset(range(1, total + 1))}
    cuts = sorted(rng.sample(range(1, total), changes))
    bounds = [0, *cuts, total]
    stints = len(bounds) - 1
    led: dict[int, set[int]] = {}
    for i in range(stints):
        back = stints - 1 - i
        who = 0 if back % 2 == 0 else others[(back // 2) % len(others)]
        led.setdefault(who, set()).update(range(bounds[i] + 1, bounds[i + 1] + 1))
    return {pos: frozenset(laps) for pos, laps in led.items()}
