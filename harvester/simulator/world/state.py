"""What every endpoint family reads: the model of one world and the lookups they share.

`State` holds a `Model` (the pure generator, see `model`) and the bounded caches over it (race
details, race entries, CSV files); the endpoint families (`members`, `results`, `leagues`...)
are plain functions over a `State`, which imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from . import ratings
from .docs import driver_stats_csv
from .figures import CarFigures, Summary, race_figures
from .model import DAY, MAX_DURATION, Model, Slot, Split, model_of
from .race import Detail, Entry, build_detail, rate, rate_detail
from .types import Doc, WorldConfig, forbidden, not_found

Handler = Callable[["State", dict[str, Any], float], Doc]

_SIMSESSION_NUMBERS = (-1, 0)  # qualifying, race


class State:
    """One world's model and caches; safe for concurrent readers (the caches hold pure values)."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.model: Model = model_of(config)
        self.laps = lru_cache(maxsize=128)(self._build_laps)
        self.detail = lru_cache(maxsize=64)(self._build_detail)
        self.race_entry = lru_cache(maxsize=4096)(self._race_entry)
        self.figures = lru_cache(maxsize=20_000)(self._race_figures)
        self.stats_csv = lru_cache(maxsize=8)(self._build_csv)

    def member_of(self, p: dict[str, Any]) -> int:
        """The driver index of `cust_id` (default: the authenticated member), or 404."""
        cust_id = p.get("cust_id", self.model.me)
        d = self.model.index_of(cust_id)
        if d is None:
            raise not_found(f"no member {cust_id}")
        return d

    @property
    def history_start(self) -> float:
        """When the world's races begin: `history_days` before its origin."""
        return self.config.origin - self.config.history_days * DAY

    def season_or_404(self, season_id: int) -> tuple[int, int, int]:
        """(lane, year, quarter) of an official season id, or 404."""
        found = self.model.season_of_id(season_id)
        if found is None:
            raise not_found(f"no season {season_id}")
        return found

    def races(
        self, d: int, begin: float, now: float, categories: tuple[int, ...] | None = None
    ) -> Iterator[tuple[Slot, Split, Entry]]:
        """Driver d's finished official races starting in [begin, now), oldest first."""
        for slot, split in self.race_slots(d, begin, now, categories):
            yield slot, split, self.race_entry(split.subsession_id, d)

    def summaries(
        self, d: int, begin: float, now: float, categories: tuple[int, ...] | None = None
    ) -> Iterator[tuple[Slot, Split, Summary]]:
        """`races` in figures: what statistics count, without building a race's laps."""
        for slot, split in self.race_slots(d, begin, now, categories):
            yield slot, split, self.race_summary(split.subsession_id, slot.lane, d)

    def race_summary(self, subsession_id: int, lane: int, d: int) -> Summary:
        """Driver d's figures in a race he ran (in a team's car: those of his stints)."""
        entrant = self.model.entrant_of(lane, d)
        for car in self.figures(subsession_id):
            if car.entrant == entrant:
                return next(f for driver, f in car.drivers if driver == d)
        raise AssertionError(f"driver {d} did not race in {subsession_id}")

    def race_slots(
        self, d: int, begin: float, now: float, categories: tuple[int, ...] | None = None
    ) -> Iterator[tuple[Slot, Split]]:
        """The slots and splits of `races`, without building the races' laps."""
        m = self.model
        lanes = [
            lane
            for lane in m.lanes_of(d)
            if categories is None or m.series[lane].category in categories
        ]
        for k in range(max(m.k_min, m.k_at(begin)), m.k_at(now) + 1):
            for lane in lanes:
                found = self.raced(k, lane, d, now)
                if found is None or found[1].start < begin:
                    continue
                yield found

    def raced(self, k: int, lane: int, d: int, now: float) -> tuple[Slot, Split] | None:
        """The finished split of slot (k, lane) in which driver d raced, if any."""
        m = self.model
        if not m.is_slot(k, lane) or not ratings.races_in(m, k, lane, d):
            return None
        slot = m.slot(k, lane)
        entrant = m.entrant_of(lane, d)
        for split in slot.splits:
            if entrant in split.order:
                return (slot, split) if split.end <= now else None
        return None

    def finished(self, p: dict[str, Any], now: float) -> tuple[Slot, Split]:
        """The subsession a results/* request names: 404 unless finished, 403 if private."""
        found = self.model.find(p["subsession_id"])
        if found is None or found[1].end > now:
            raise not_found(f"no results for subsession {p['subsession_id']}")
        slot, split = found
        if slot.hosted is not None and slot.hosted.private:
            raise forbidden(f"subsession {split.subsession_id} is private")
        if p.get("simsession_number", 0) not in _SIMSESSION_NUMBERS:
            raise not_found(f"no simsession {p['simsession_number']}")
        return slot, split

    def subsessions_ending_between(
        self, begin: float, end: float, hosted: bool = False
    ) -> list[int]:
        """Ids of official (or, with hosted=True, hosted) subsessions ending in [begin, end)."""
        m = self.model
        lanes = [m.hosted_lane] if hosted else m.official_lanes()
        ids = []
        for k, lane in m.slots_starting(begin - MAX_DURATION, end, lanes):
            start = m.slot_start(k, lane)
            for j in range(m.nsplits(k, lane)):
                if begin <= m.split_end(k, lane, j, start) < end:
                    ids.append(m.subsession_id(k, lane, j))
        return ids

    def _race_entry(self, subsession_id: int, d: int) -> Entry:
        """Driver d's entry in the race of a subsession he ran, with his ratings (kept:
        statistics reread them; only his ratings are computed, not the whole field's)."""
        found = self.model.find(subsession_id)
        assert found is not None
        for car in self.laps(subsession_id).sessions[-1].entries:
            if car.d == d or any(x.d == d for x in car.drivers):
                rated = rate(self.model, found[0], car, race=True)
                entry = next(x for x in rated.drivers or (rated,) if x.d == d)
                return entry
        raise AssertionError(f"driver {d} did not race in {subsession_id}")

    def _race_figures(self, subsession_id: int) -> tuple[CarFigures, ...]:
        found = self.model.find(subsession_id)
        assert found is not None
        return race_figures(self.model, found[1])

    def _build_laps(self, subsession_id: int) -> Detail:
        """A race's laps and positions, before ratings."""
        found = self.model.find(subsession_id)
        assert found is not None
        return build_detail(self.model, *found)

    def _build_detail(self, subsession_id: int) -> Detail:
        """A race in full: laps, positions, every driver's ratings."""
        found = self.model.find(subsession_id)
        assert found is not None
        return rate_detail(self.model, found[0], self.laps(subsession_id))

    def _build_csv(self, category: int) -> str:
        return driver_stats_csv(self.model, category)


def entry_of(detail: Detail, number: int, d: int) -> Entry | None:
    """Driver d's entry in simsession `number` of a race (in a team race, the part of his
    team's entry he drove), or None."""
    session = detail.session(number)
    assert session is not None
    for e in session.entries:
        for driver in e.drivers or (e,):
            if driver.d == d:
                return driver
    return None
