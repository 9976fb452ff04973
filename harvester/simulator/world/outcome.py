"""The world's values (series, drivers, hosted sessions, race slots and their splits) and how a
race turns out: the finishing order, retirements and lap figures of one subsession.

A `Split` is decided when its slot is built, from a generator seeded with the slot: it fixes
what a search row shows. Its entrants are drivers, or teams in a team series (`team`), each
ranked by its rating plus luck; `race.build_detail` expands a split into laps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .data import Track
from .seasonal import _SOF_K


@dataclass(frozen=True, slots=True)
class Series:
    lane: int
    series_id: int
    name: str
    short_name: str
    category: int
    cars: tuple[int, ...]
    min_license_group: int
    team: bool
    supersessions: bool
    time_trials: bool
    heats: bool


@dataclass(frozen=True, slots=True)
class Driver:
    index: int
    cust_id: int
    first_name: str
    last_name: str
    display_name: str
    irating: int
    country: tuple[str, int, str, str, int, str]
    helmet: tuple[int, str, str, str, int]
    suit: tuple[int, str, str, str]
    member_since: str
    license_level: int
    safety_rating: float


@dataclass(frozen=True, slots=True)
class Hosted:
    number: int  # hosted session number h (k // hosted_every_slots)
    league: int  # 0 for an open hosted session, else 1..league_count
    league_id: int
    league_season_id: int
    private: bool
    private_session_id: int
    session_name: str
    host: int  # driver index
    created: float


@dataclass(frozen=True, slots=True)
class Split:
    """One subsession's race, decided at launch: field, finishing order, lap figures."""

    subsession_id: int
    start: float
    end: float
    order: tuple[int, ...]  # entrants in finishing order: driver indices, or team numbers
    laps: tuple[int, ...]  # laps completed, aligned with order
    cars: tuple[int, ...]  # car ids, aligned with order
    sof: int
    event_best: int  # best lap of the race (1/10000 s), driven by order[fastest]
    fastest: int
    winner_best: int
    winner_avg: int
    cautions: int
    caution_laps: int
    lead_changes: int
    team: bool = False  # a team event: `order` holds team numbers


@dataclass(frozen=True, slots=True)
class Slot:
    """A race slot of one lane: its session, track, season and the splits it launched."""

    k: int
    lane: int
    session_id: int
    start: float
    track: Track
    season_year: int
    season_quarter: int
    race_week: int
    season_id: int  # 0 for hosted sessions
    series: Series | None  # None on the hosted lane
    hosted: Hosted | None
    category: int  # license category
    splits: tuple[Split, ...]


def decide_race(
    rng: random.Random,
    sid: int,
    times: tuple[float, float],
    group: list[int],
    rating: Sequence[int],
    weight: Sequence[float],
    cars: tuple[int, ...],
    car_of: Callable[[int], int],
    total: int,
    track: Track,
    category: int,
    team: bool = False,
) -> Split:
    """Decide a race: finishing order (rating plus luck, retirements last) and lap figures.

    `rating` and `weight` (the strength-of-field weight of a rating) are indexed by entrant.
    The hot path of the searches, hence `rnd()` arithmetic instead of `randrange`.
    """
    rnd = rng.random
    ranked = [e for _, e in sorted([(rating[e] + 900 * rnd(), e) for e in group], reverse=True)]
    n = len(ranked)
    # About 8% of a field retires (never the winner), after a random number of laps.
    out = {1 + int(rnd() * (n - 1)) for _ in range(int(rnd() * rnd() * n * 0.32))}
    retired = sorted((-int(rnd() * total), ranked[i]) for i in sorted(out))
    finishers = [e for i, e in enumerate(ranked) if i not in out] if out else ranked
    order = (*finishers, *(e for _, e in retired))
    laps = (total,) * len(finishers) + tuple(-done for done, _ in retired)
    best = int(track.lap_seconds * 10_000 * (0.985 + 0.02 * rnd()))
    fastest = int(rnd() * min(3, len(finishers)))
    winner_avg = int(best * (1.008 + 0.012 * rnd())) if total > 1 else best
    winner_best = best
    if fastest:
        winner_best = best + 1 + int(rnd() * max(1, (winner_avg - best) // 2))
        winner_avg = max(winner_avg, winner_best + 1) if total > 1 else winner_best
    cautions = int(rnd() * (4 if category in (1, 3) else 2))
    caution_laps = min(total - 1, cautions * (2 + int(rnd() * 2)))
    car_ids = cars * len(order) if len(cars) == 1 else tuple(car_of(e) for e in order)
    return Split(
        subsession_id=sid,
        start=times[0],
        end=times[1],
        order=order,
        laps=laps,
        cars=car_ids,
        sof=int(_SOF_K * math.log(n / sum(map(weight.__getitem__, group)))),
        event_best=best,
        fastest=fastest,
        winner_best=winner_best,
        winner_avg=winner_avg,
        cautions=cautions,
        caution_laps=max(0, caution_laps),
        lead_changes=int(rnd() * 4) if len(order) > 1 else 0,
        team=team,
    )
