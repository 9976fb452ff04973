"""The race of one subsession in detail: every driver's qualifying and race laps.

A `Split` (model) fixes what a search row shows: field, finishing order, laps, the best
lap and the winner's average. `build_detail` expands it, from a generator seeded with the
subsession id, into two simsessions (qualify -1, race 0) of per-driver entries with every lap,
consistent with the split: the race's fastest driver laps exactly `event_best`, the winner's
laps average exactly `winner_avg`, and each driver's lap times average exactly its
`average_lap`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .model import Model, Slot, Split, mix

# (event name, lap flag, incident points)
_INCIDENTS: tuple[tuple[str, int, int], ...] = (
    ("off track", 4, 1),
    ("lost control", 32, 2),
    ("car contact", 64, 4),
)
_PITTED = 2
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


@dataclass(frozen=True, slots=True)
class Entry:
    """One driver's result in one simsession (positions are 0-based, as in results/get)."""

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


def _laps(
    rng: random.Random, n: int, best: int, avg: int, start_time: int, pit: bool
) -> tuple[tuple[Lap, ...], int, int]:
    """Lap rows 0..n and (best lap number, incident points)."""
    times, best_idx = _lap_times(rng, n, best, avg)
    flags = [0] * n
    events: list[list[str]] = [[] for _ in range(n)]
    incidents = 0
    candidates = [i for i in range(n) if i != best_idx]
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3)) if candidates else 0):
        name, flag, points = _INCIDENTS[rng.randrange(len(_INCIDENTS))]
        i = rng.choice(candidates)
        flags[i] |= flag
        events[i].append(name)
        incidents += points
    if pit and candidates:
        i = rng.choice(candidates)
        flags[i] |= _PITTED
        events[i].append("pitted")
    rows = [Lap(0, -1, start_time, 0, (), False, False)]
    clock = start_time
    for i, lap_time in enumerate(times):
        clock += lap_time
        hit = bool(flags[i] & ~_PITTED)
        rows.append(Lap(i + 1, lap_time, clock, flags[i], tuple(events[i]), hit, i == best_idx))
    return tuple(rows), best_idx + 1 if best_idx >= 0 else -1, incidents


def build_detail(model: Model, slot: Slot, split: Split) -> Detail:
    rng = random.Random(mix(model.seed, 21, split.subsession_id))
    order = split.order
    n = len(order)
    car_of = dict(zip(order, split.cars, strict=True))
    numbers = rng.sample(range(1, 100), n) if n < 99 else list(range(1, n + 1))
    number_of = {d: str(numbers[i]) for i, d in enumerate(order)}
    level_of = {d: license_level(model, d, slot.category) for d in order}
    best = split.event_best
    pace = int(best * 1.3)

    def entry(d: int, laps_n: int, b: int, a: int, start: int, pit: bool) -> Entry:
        laps, b_num, inc = _laps(rng, laps_n, b, a, start, pit)
        if not laps_n:
            b, a = -1, 0
        oldi = model.ir[d]
        return Entry(d, car_of[d], number_of[d], level_of[d], laps, b, b_num, a, inc, oldi, oldi)

    qualify = []
    for d in order:
        laps_n = 0 if rng.random() < 0.05 else 1 + rng.randrange(2)
        b = int(best * (0.998 + 0.025 * rng.random()))
        a = b + 1 + rng.randrange(max(1, b // 60)) if laps_n > 1 else b
        qualify.append(entry(d, laps_n, b, a, pace, False))
    qual = _by_best_lap(qualify)
    grid = {e.d: i for i, e in enumerate(qual)}

    total = model.config.laps_per_race
    lead = _laps_led(rng, split, total)
    race = []
    gap = 0
    for pos, d in enumerate(order):
        laps_n = split.laps[pos]
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
        e = entry(d, laps_n, b, a, pace, total >= 8 and rng.random() < 0.4)
        running = laps_n == total
        reason_id, reason = (0, "Running") if running else _RETIRED[pos % len(_RETIRED)]
        if pos and running:
            gap += 5_000 + rng.randrange(80_000)
        delta = round((n - 1 - 2 * pos) * 80 / max(1, n - 1) + (split.sof - e.oldi) / 100)
        old_sub = int(model.driver(d).safety_rating * 100)
        old_cpi = round(10 + 6 * e.license_level + (mix(model.seed, 19, d) % 1000) / 100, 4)
        points = int(split.sof / 16 * (n - pos) / n) if running else 0
        race.append(
            replace(
                e,
                position=pos,
                start_position=grid[d],
                qual_time=qual[grid[d]].best,
                laps_lead=lead.get(pos, 0),
                interval=gap if running else -1,
                reason_out_id=reason_id,
                reason_out=reason,
                newi=e.oldi + delta,
                old_sub=old_sub,
                new_sub=max(100, min(499, old_sub + 6 - 3 * e.incidents)),
                old_cpi=old_cpi,
                new_cpi=round(max(1.0, old_cpi + (4 - e.incidents) * 0.8), 4),
                champ_points=points,
                club_points=points // 8,
            )
        )
    return Detail(
        (
            SimSession(*SIMSESSIONS[0], qual),
            SimSession(*SIMSESSIONS[1], tuple(race)),
        )
    )


def _by_best_lap(entries: list[Entry]) -> tuple[Entry, ...]:
    """Qualifying order: by best lap, drivers without a time last."""
    entries = sorted(entries, key=lambda e: (e.best < 0, e.best))
    leader = entries[0].best if entries and entries[0].best > 0 else 0
    return tuple(
        replace(e, position=i, interval=e.best - leader if e.best > 0 else -1)
        for i, e in enumerate(entries)
    )


def license_level(model: Model, d: int, category: int) -> int:
    """A driver's license level (1..20) in a category."""
    base = model.driver(d).license_level
    return max(1, min(20, base + (mix(model.seed, 18, d, category) % 5) - 2))


def _laps_led(rng: random.Random, split: Split, total: int) -> dict[int, int]:
    """Laps led per finishing position: stints alternate, the winner leads the last one."""
    others = [p for p in range(1, min(3, len(split.order))) if split.laps[p] == total]
    changes = min(split.lead_changes, total - 1)
    if not others or not changes:
        return {0: total}
    cuts = sorted(rng.sample(range(1, total), changes))
    bounds = [0, *cuts, total]
    stints = len(bounds) - 1
    led: dict[int, int] = {}
    for i in range(stints):
        back = stints - 1 - i
        who = 0 if back % 2 == 0 else others[(back // 2) % len(others)]
        led[who] = led.get(who, 0) + bounds[i + 1] - bounds[i]
    return led
