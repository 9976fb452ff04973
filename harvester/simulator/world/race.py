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
from .model import Model, Slot, Split, mix
from .ratings import INCIDENTS

_PITTED = 2
_POINTS = {name: points for name, _, points in INCIDENTS}
_RETIRED: tuple[tuple[int, str], ...] = ((32, "Disconnected"), (33, "Retired"))
SIMSESSIONS: tuple[tuple[int, str, int, str], ...] = (
    (-1, "QUALIFY", 4, "Lone Qualifying"),
    (0, "RACE", 6, "Race"),
)


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


def _laps(
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


def cpi(level: int, sub: int) -> float:
    """Corners per incident of a license level and safety rating (it rises with both)."""
    return round(10 + 6 * level + sub / 20, 4)


def _stints(model: Model, split: Split, entrant: int, laps: int) -> tuple[Stint, ...]:
    shares = ratings.stints(model, split, entrant, laps) if split.team else ((entrant, laps),)
    return tuple((d, n, ratings.incident_plan(model, split.subsession_id, d, n)) for d, n in shares)


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
        laps, b_num = _laps(car_rng, b, a, pace, fields.pop("pit", False), stints, led)
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
        stints = _stints(model, split, e, laps_n)
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


def car_generator(model: Model, split: Split, session: int, entrant: int) -> random.Random:
    """The generator of one car's laps in one simsession: a car's laps need no other's."""
    return random.Random(mix(model.seed, 21, split.subsession_id, 4, session, entrant))


def car_laps(model: Model, split: Split, position: int) -> tuple[Lap, ...]:
    """The race laps of the car finishing at `position`, as `build_detail` writes them."""
    entrant = split.order[position]
    b, a, pit, _ = race_plan(model, split)[position]
    stints = _stints(model, split, entrant, split.laps[position])
    led = laps_led(model, split).get(position, frozenset())
    pace = int(split.event_best * 1.3)
    return _laps(car_generator(model, split, 0, entrant), b, a, pace, pit, stints, led)[0]


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
    """A driver's race in figures, without its laps: what statistics count."""

    car_id: int
    position: int
    start_position: int
    laps_complete: int
    laps_lead: int
    incidents: int
    champ_points: int
    club_points: int
    best: int  # the best lap he drove


def summary(model: Model, split: Split, lane: int, d: int) -> Summary:
    """Driver d's race in figures, equal to his entry in `build_detail` (same generators)."""
    entrant = model.entrant_of(lane, d)
    assert entrant is not None
    pos = split.order.index(entrant)
    laps = split.laps[pos]
    first, own = 1, laps
    if split.team:
        for driver, count in ratings.stints(model, split, entrant, laps):
            if driver == d:
                own = count
                break
            first += count
        else:
            own = 0
    grid = {e: i for i, (e, *_rest) in enumerate(qualifying(model, split))}
    led = laps_led(model, split).get(pos, frozenset())
    points = champ_points(split, pos)
    plan = ratings.incident_plan(model, split.subsession_id, d, own)
    return Summary(
        car_id=split.cars[pos],
        position=pos,
        start_position=grid[entrant],
        laps_complete=own,
        laps_lead=sum(1 for lap in led if first <= lap < first + own),
        incidents=ratings.incident_points(plan),
        champ_points=points,
        club_points=points // 8,
        best=_own_best(model, split, pos, d),
    )


def _own_best(model: Model, split: Split, position: int, d: int) -> int:
    if not split.team:
        return race_plan(model, split)[position][0]
    times = [lap.time for lap in car_laps(model, split, position)[1:] if lap.driver == d]
    return min((t for t in times if t > 0), default=-1)


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
