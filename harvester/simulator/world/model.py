"""The time-driven model of the simulated world: race slots, subsessions, entrants, results.

Time is cut into race slots of `race_interval_minutes`: slot `k` starts at
`origin + k * interval`, on `series_count + 1` lanes (one per series, the last one for hosted
sessions), each lane `step` seconds after the previous one, so that start times grow with
`(k, lane)`. A slot of a series lane launches 1..max_splits subsessions (splits); the hosted lane
runs one hosted subsession on every `hosted_every_slots`-th slot. Ids are formulas over
`(k, lane, split)`, so they grow with start time and the splits of a slot are consecutive:

    subsession_id = ID_BASE + ((k - k_min) * lanes + lane) * max_splits + split
    session_id    = SESSION_ID_BASE + (k - k_min) * lanes + lane

Everything derives from `random.Random` instances seeded with `mix(seed, ...)`: never the global
generator, never the real time. Slot and driver computations are cached with `lru_cache`, which
is safe for concurrent readers (the cached values are immutable).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from functools import lru_cache

from .._time import iso_seconds
from .data import (
    CARS_BY_ID,
    COUNTRIES,
    FIRST_NAMES,
    HELMET_COLORS,
    HOSTED_SESSION_NAMES,
    LAST_NAMES,
    LEAGUE_CARS,
    LEAGUE_NAMES,
    SERIES_ID_BASE,
    SERIES_TEMPLATES,
    TEAM_NOUNS,
    TEAM_WORDS,
    TRACK_CATEGORY,
    TRACKS_BY_CATEGORY,
    Track,
)
from .outcome import Driver, Hosted, Series, Slot, Split, decide_race
from .seasonal import (
    _SOF_K,
    DAY,
    mix,
    quarter_bounds,
    quarter_index,
    quarter_of,
    race_week,
    strength_of_field,
)
from .types import WorldConfig

__all__ = [
    "DAY",
    "Driver",
    "Hosted",
    "Series",
    "Slot",
    "Split",
    "iso_seconds",
    "mix",
    "quarter_bounds",
    "quarter_index",
    "quarter_of",
    "race_week",
    "strength_of_field",
]

MIN_DURATION = 40 * 60
MAX_DURATION = 60 * 60
ID_BASE = 80_000_000
SESSION_ID_BASE = 290_000_000
PRIVATE_SESSION_BASE = 3_000_000
LEAGUE_ID_BASE = 5_450
TEAM_ID_BASE = 310_000
TEAM_SIZE = 3  # drivers of a team; the last team of the pool may have fewer
# the one team series: the first template of one, in its first round (lanes past the templates
# repeat them as individual series)
TEAM_LANE = next(i for i, template in enumerate(SERIES_TEMPLATES) if template.team)
LEAGUE_SEASON_BASE = 80_000
SEASON_ID_BASE = 4_000


# License category of a hosted session, from its track's category.
TRACK_CATEGORY_LICENSE: dict[int, int] = {1: 1, 2: 5, 3: 3, 4: 4}


class Model:
    """The deterministic generator behind `World`; pure functions of the config."""

    def __init__(self, config: WorldConfig) -> None:
        for name in (
            "series_count",
            "race_interval_minutes",
            "max_splits",
            "drivers_per_split",
            "laps_per_race",
            "history_days",
            "hosted_every_slots",
        ):
            if getattr(config, name) < 1:
                raise ValueError(f"WorldConfig.{name} must be at least 1")
        if not 1 <= config.league_count <= 15:
            raise ValueError("WorldConfig.league_count must be within 1..15")
        if config.series_count > 999:
            raise ValueError("WorldConfig.series_count must be at most 999")
        self.config = config
        self.seed = config.seed
        self.interval = config.race_interval_minutes * 60
        self.lanes = config.series_count + 1
        self.hosted_lane = config.series_count
        self.step = max(1, min(300, self.interval // self.lanes))
        self.k_min = -math.ceil(config.history_days * DAY / self.interval)
        per_slot = config.max_splits * config.drivers_per_split
        self.pool = max(config.driver_pool, config.series_count * per_slot, 4 * per_slot, 100)
        self.me = config.me_cust_id
        self.series = tuple(self._make_series(lane) for lane in range(config.series_count))
        rng = random.Random(mix(self.seed, 1))
        self.ir = tuple(
            max(300, min(9000, int(1500 * math.exp(rng.gauss(0.0, 0.42)))))
            for _ in range(self.pool)
        )
        self.ir_weight = tuple(math.exp(-r / _SOF_K) for r in self.ir)
        rosters: list[list[int]] = [[] for _ in range(config.series_count)]
        for d in range(self.pool):
            for lane in self.lanes_of(d):
                rosters[lane].append(d)
        self.rosters = tuple(tuple(r) for r in rosters)
        self.roster_pos = tuple({d: i for i, d in enumerate(r)} for r in self.rosters)
        # teams: the team series' drivers, three by three; a team is an entrant of that series
        self.team_lane = next((s.lane for s in self.series if s.team), None)
        pool = self.rosters[self.team_lane] if self.team_lane is not None else ()
        self.teams = tuple(pool[i : i + TEAM_SIZE] for i in range(0, len(pool), TEAM_SIZE))
        self.team_of_driver = {d: t for t, team in enumerate(self.teams, start=1) for d in team}
        self.team_ir = (0, *(sum(self.ir[d] for d in team) // len(team) for team in self.teams))
        self.team_weight = tuple(math.exp(-r / _SOF_K) for r in self.team_ir)
        self.entrants = tuple(
            tuple(range(1, len(self.teams) + 1)) if s.team else self.rosters[s.lane]
            for s in self.series
        )
        self.entrant_pos = tuple({e: i for i, e in enumerate(es)} for es in self.entrants)
        leagues = range(1, config.league_count + 1)
        self.league_rosters = tuple(self._make_league_roster(j) for j in leagues)
        self.slot = lru_cache(maxsize=4096)(self._build_slot)
        self.slot_shape = lru_cache(maxsize=65_536)(self._slot_shape)
        self.driver = lru_cache(maxsize=None)(self._build_driver)

    # ---- static structure -------------------------------------------------------------------

    def _make_series(self, lane: int) -> Series:
        template = SERIES_TEMPLATES[lane % len(SERIES_TEMPLATES)]
        round_ = lane // len(SERIES_TEMPLATES)
        name = template.name if round_ == 0 else f"{template.name} {round_ + 1}"
        return Series(
            lane=lane,
            series_id=SERIES_ID_BASE + lane,
            name=name,
            short_name=name,
            category=template.category,
            cars=template.cars,
            min_license_group=template.min_license_group,
            team=template.team and round_ == 0,
            supersessions=template.supersessions,
            time_trials=template.time_trials,
            heats=template.heats,
        )

    def lanes_of(self, d: int) -> tuple[int, ...]:
        """The series (lanes) a driver races in: two, or one when both formulas agree; the
        authenticated member races in the team series too (so his team has races)."""
        n = self.config.series_count
        a, b = d % n, (7 * d + 3) % n
        lanes = {a, b}
        if d == 0 and n > TEAM_LANE:
            lanes.add(TEAM_LANE)
        return tuple(sorted(lanes))

    def entrant_of(self, lane: int, d: int) -> int | None:
        """What driver d enters a race of `lane` as: himself, or his team in a team series."""
        if lane == self.hosted_lane:
            return d
        if self.series[lane].team:
            return self.team_of_driver.get(d)
        return d if d in self.roster_pos[lane] else None

    def drivers_of(self, split: Split, entrant: int) -> tuple[int, ...]:
        """The drivers of an entrant of a split: its team's, or the driver himself."""
        return self.teams[entrant - 1] if split.team else (entrant,)

    def team_id(self, team: int) -> int:
        return TEAM_ID_BASE + team

    def team_of_id(self, team_id: int) -> int | None:
        team = team_id - TEAM_ID_BASE
        return team if 1 <= team <= len(self.teams) else None

    def team_name(self, team: int) -> str:
        first = TEAM_WORDS[team % len(TEAM_WORDS)]
        second = TEAM_NOUNS[(team // len(TEAM_WORDS)) % len(TEAM_NOUNS)]
        round_ = team // (len(TEAM_WORDS) * len(TEAM_NOUNS))
        return f"{first} {second}" + (f" {round_ + 1}" if round_ else "")

    def _make_league_roster(self, league: int) -> tuple[int, ...]:
        size = min(self.pool, max(30, 2 * self.config.drivers_per_split))
        stride = max(1, self.pool // size)
        members: list[int] = []
        for i in range(size):
            d = (league * 131 + i * stride) % self.pool
            if d not in members:
                members.append(d)
        if league == 1 and 0 not in members:
            members.append(0)  # the authenticated member races in league 1
        return tuple(members)

    def league_id(self, league: int) -> int:
        return LEAGUE_ID_BASE + 3 * league

    def league_of_id(self, league_id: int) -> int | None:
        league, rest = divmod(league_id - LEAGUE_ID_BASE, 3)
        if rest or not 1 <= league <= self.config.league_count:
            return None
        return league

    def league_season_id(self, league: int, year: int, quarter: int) -> int:
        return LEAGUE_SEASON_BASE + quarter_index(year, quarter) * 16 + league

    def league_season_of_id(self, league_season_id: int) -> tuple[int, int, int] | None:
        """(league, year, quarter) of a league season id, or None."""
        if league_season_id < LEAGUE_SEASON_BASE:
            return None
        q_index, league = divmod(league_season_id - LEAGUE_SEASON_BASE, 16)
        if not 1 <= league <= self.config.league_count:
            return None
        return league, 2000 + q_index // 4, q_index % 4 + 1

    def league_name(self, league: int) -> str:
        base = LEAGUE_NAMES[(league - 1) % len(LEAGUE_NAMES)]
        round_ = (league - 1) // len(LEAGUE_NAMES)
        return base if round_ == 0 else f"{base} {round_ + 1}"

    def season_id(self, lane: int, year: int, quarter: int) -> int:
        return SEASON_ID_BASE + quarter_index(year, quarter) * 1000 + lane

    def season_of_id(self, season_id: int) -> tuple[int, int, int] | None:
        """(lane, year, quarter) of an official season id, or None."""
        q_index, lane = divmod(season_id - SEASON_ID_BASE, 1000)
        if season_id < SEASON_ID_BASE or lane >= self.config.series_count:
            return None
        return lane, 2000 + q_index // 4, q_index % 4 + 1

    def track_for(self, series: Series, week: int) -> Track:
        tracks = TRACKS_BY_CATEGORY[TRACK_CATEGORY[series.category]]
        return tracks[(week + 3 * series.lane) % len(tracks)]

    def car_of(self, d: int, cars: tuple[int, ...], salt: int) -> int:
        """The car a driver picks in a multi-car series or session (a cheap stable hash)."""
        return cars[(((d + self.seed) * 0x9E3779B1 + salt) >> 11) % len(cars)]

    # ---- drivers ----------------------------------------------------------------------------

    def index_of(self, cust_id: int) -> int | None:
        d = cust_id - self.me
        return d if 0 <= d < self.pool else None

    def cust(self, d: int) -> int:
        return self.me + d

    def _build_driver(self, d: int) -> Driver:
        rng = random.Random(mix(self.seed, 17, d))
        n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
        both = n_first * n_last
        m = (d * 7919 + 123) % both
        first, last = FIRST_NAMES[m % n_first], LAST_NAMES[m // n_first]
        suffix = d // both
        display = f"{first} {last}" + (str(suffix + 1) if suffix else "")
        colors = HELMET_COLORS
        helmet = (
            rng.randrange(1, 80),
            rng.choice(colors),
            rng.choice(colors),
            rng.choice(colors),
            rng.randrange(0, 5),
        )
        suit = (rng.randrange(1, 40), rng.choice(colors), rng.choice(colors), rng.choice(colors))
        since = self.config.origin - DAY * rng.randrange(30, 4000)
        level = max(1, min(20, 4 + (self.ir[d] - 700) // 150 + rng.randrange(-2, 3)))
        return Driver(
            index=d,
            cust_id=self.cust(d),
            first_name=first,
            last_name=last,
            display_name=display,
            irating=self.ir[d],
            country=COUNTRIES[rng.randrange(len(COUNTRIES))],
            helmet=helmet,
            suit=suit,
            member_since=iso_seconds(since)[:10],
            license_level=level,
            safety_rating=round(1.5 + 2.49 * rng.random(), 2),
        )

    # ---- slots and ids ----------------------------------------------------------------------

    def is_slot(self, k: int, lane: int) -> bool:
        if k < self.k_min or not 0 <= lane < self.lanes:
            return False
        return lane != self.hosted_lane or k % self.config.hosted_every_slots == 0

    def slot_start(self, k: int, lane: int) -> float:
        start = self.config.origin + k * self.interval + lane * self.step
        if lane == self.hosted_lane:
            start += mix(self.seed, 10, k) % max(1, self.step // 2)
        return float(start)

    def k_at(self, epoch: float) -> int:
        """The slot index whose interval contains `epoch`."""
        return math.floor((epoch - self.config.origin) / self.interval)

    def _slot_shape(self, k: int, lane: int) -> tuple[int, int, int, int]:
        """(splits, entrants, a, b) of a series slot: entrants are roster[(a + b*i) % L]."""
        dps = self.config.drivers_per_split
        h = mix(self.seed, 11, k, lane)
        splits = 1 + h % self.config.max_splits
        n = splits * dps - (h >> 8) % (dps // 2 + 1)
        size = len(self.entrants[lane])
        n = max(1, min(n, size))
        a = (h >> 20) % size
        b = 1 + (h >> 40) % max(1, size - 1)
        while math.gcd(b, size) != 1:
            b += 1
        return splits, n, a, b

    def hosted_league(self, k: int) -> int:
        """League number of the hosted session of slot k (0: an open hosted session)."""
        return (k // self.config.hosted_every_slots) % (self.config.league_count + 1)

    def nsplits(self, k: int, lane: int) -> int:
        if lane == self.hosted_lane:
            return 1
        return 1 + mix(self.seed, 11, k, lane) % self.config.max_splits

    def split_end(self, k: int, lane: int, split: int, start: float) -> float:
        spread = MAX_DURATION - MIN_DURATION + 1
        return start + MIN_DURATION + mix(self.seed, 12, k, lane, split) % spread

    def subsession_id(self, k: int, lane: int, split: int) -> int:
        return ID_BASE + ((k - self.k_min) * self.lanes + lane) * self.config.max_splits + split

    def session_id(self, k: int, lane: int) -> int:
        return SESSION_ID_BASE + (k - self.k_min) * self.lanes + lane

    def locate(self, subsession_id: int) -> tuple[int, int, int] | None:
        """(k, lane, split) of an id the world ever generates (at any time), else None."""
        rest = subsession_id - ID_BASE
        if rest < 0:
            return None
        q, split = divmod(rest, self.config.max_splits)
        k_off, lane = divmod(q, self.lanes)
        k = k_off + self.k_min
        if not self.is_slot(k, lane) or split >= self.nsplits(k, lane):
            return None
        return k, lane, split

    def is_entrant(self, k: int, lane: int, d: int) -> bool:
        """Whether driver d races in slot (k, lane), without building the slot when possible."""
        if lane == self.hosted_lane:
            return any(d in s.order for s in self.slot(k, lane).splits)
        entrant = self.entrant_of(lane, d)
        return entrant is not None and self.enters(k, lane, entrant)

    def enters(self, k: int, lane: int, entrant: int) -> bool:
        """Whether an entrant (a driver, or a team in the team series) races in a series slot."""
        pos = self.entrant_pos[lane].get(entrant)
        if pos is None:
            return False
        _, n, a, b = self.slot_shape(k, lane)
        size = len(self.entrants[lane])
        return ((pos - a) * pow(b, -1, size)) % size < n if size > 1 else n > 0

    def slots_starting(self, lo: float, hi: float, lanes: list[int]) -> Iterator[tuple[int, int]]:
        """(k, lane) of every slot on `lanes` starting in [lo, hi), in id order."""
        k_lo = max(self.k_min, self.k_at(lo) - 1)
        k_hi = self.k_at(hi) + 1
        for k in range(k_lo, k_hi + 1):
            for lane in lanes:
                if self.is_slot(k, lane) and lo <= self.slot_start(k, lane) < hi:
                    yield k, lane

    # ---- building slots -----------------------------------------------------------------------

    def _build_slot(self, k: int, lane: int) -> Slot:
        start = self.slot_start(k, lane)
        year, quarter = quarter_of(start)
        week = race_week(start)
        rng = random.Random(mix(self.seed, 13, k, lane))
        if lane == self.hosted_lane:
            return self._build_hosted(k, start, year, quarter, week, rng)
        series = self.series[lane]
        n_splits, n, a, b = self.slot_shape(k, lane)
        entrants = self.entrants[lane]
        size = len(entrants)
        rating, weight = (
            (self.team_ir, self.team_weight) if series.team else (self.ir, self.ir_weight)
        )
        picked = [entrants[(a + b * i) % size] for i in range(n)]
        picked.sort(key=rating.__getitem__, reverse=True)
        dps = self.config.drivers_per_split
        track = self.track_for(series, week)
        splits = []
        for j in range(n_splits):
            group = picked[j * dps : (j + 1) * dps] or picked[-1:]
            times = (start, self.split_end(k, lane, j, start))
            race = decide_race(
                rng,
                self.subsession_id(k, lane, j),
                times,
                group,
                rating,
                weight,
                series.cars,
                lambda e: self.car_of(e, series.cars, series.series_id),
                self.config.laps_per_race,
                track,
                series.category,
                series.team,
            )
            splits.append(race)
        return Slot(
            k=k,
            lane=lane,
            session_id=self.session_id(k, lane),
            start=start,
            track=track,
            season_year=year,
            season_quarter=quarter,
            race_week=week,
            season_id=self.season_id(lane, year, quarter),
            series=series,
            hosted=None,
            category=series.category,
            splits=tuple(splits),
        )

    def _build_hosted(
        self, k: int, start: float, year: int, quarter: int, week: int, rng: random.Random
    ) -> Slot:
        cfg = self.config
        h = k // cfg.hosted_every_slots
        league = self.hosted_league(k)
        m = max(2, min(cfg.drivers_per_split, 6 + rng.randrange(cfg.drivers_per_split)))
        if league:
            roster = self.league_rosters[league - 1]
            host = roster[0]
            entrants = rng.sample(roster, min(m, len(roster)))
            cars = LEAGUE_CARS[(league - 1) % len(LEAGUE_CARS)]
            road = TRACKS_BY_CATEGORY[2]
            track = road[(week + league) % len(road)]
            name = f"{self.league_name(league)} Round {week + 1}"
        else:
            host = mix(self.seed, 16, h) % self.pool
            entrants = rng.sample(range(self.pool), m)
            car = sorted(CARS_BY_ID)[rng.randrange(len(CARS_BY_ID))]
            cars = (car,)
            category = TRACK_CATEGORY[CARS_BY_ID[car].category]
            options = TRACKS_BY_CATEGORY[category]
            track = options[rng.randrange(len(options))]
            name = HOSTED_SESSION_NAMES[h % len(HOSTED_SESSION_NAMES)]
        if host not in entrants:
            entrants[-1] = host
        every = cfg.private_hosted_every
        hosted = Hosted(
            number=h,
            league=league,
            league_id=self.league_id(league) if league else 0,
            league_season_id=self.league_season_id(league, year, quarter) if league else 0,
            private=every > 0 and h % every == 0,
            private_session_id=PRIVATE_SESSION_BASE + h - self.k_min,
            session_name=name,
            host=host,
            created=start - 600 * (1 + rng.randrange(24)),
        )
        sid = self.subsession_id(k, self.hosted_lane, 0)
        end = self.split_end(k, self.hosted_lane, 0, start)
        entrants.sort(key=self.ir.__getitem__, reverse=True)
        category = TRACK_CATEGORY_LICENSE[track.category]
        split = decide_race(
            rng,
            sid,
            (start, end),
            entrants,
            self.ir,
            self.ir_weight,
            cars,
            lambda d: self.car_of(d, cars, h),
            cfg.laps_per_race,
            track,
            category,
        )
        return Slot(
            k=k,
            lane=self.hosted_lane,
            session_id=self.session_id(k, self.hosted_lane),
            start=start,
            track=track,
            season_year=year,
            season_quarter=quarter,
            race_week=week,
            season_id=0,
            series=None,
            hosted=hosted,
            category=category,
            splits=(split,),
        )

    # ---- lookups over time --------------------------------------------------------------------

    def find(self, subsession_id: int) -> tuple[Slot, Split] | None:
        where = self.locate(subsession_id)
        if where is None:
            return None
        k, lane, split = where
        slot = self.slot(k, lane)
        return slot, slot.splits[split]

    def race_after(self, d: int, after: float) -> int | None:
        """The subsession id of driver d's first official race starting at or after `after`
        (or, before the world's history, its first race): what an award for a race names."""
        lanes = self.lanes_of(d)
        for k in range(max(self.k_min, self.k_at(after)), self.k_min + 100_000):
            for lane in lanes:
                if self.slot_start(k, lane) >= after and self.is_entrant(k, lane, d):
                    slot = self.slot(k, lane)
                    for split in slot.splits:
                        if d in split.order:
                            return split.subsession_id
        return None

    def official_lanes(self) -> list[int]:
        return list(range(self.config.series_count))


@lru_cache(maxsize=8)
def model_of(config: WorldConfig) -> Model:
    """The Model of a config, built once per process: it is pure (its caches hold what a pure
    function returns), and building one costs milliseconds every new simulator would repeat."""
    return Model(config)
