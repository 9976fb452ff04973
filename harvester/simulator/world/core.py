"""The deterministic data world behind the simulated iRacing /data API.

`World.answer(endpoint, params, now)` returns the document an endpoint answers at simulated
time `now` (a `Doc`: the body, plus rows, CSV text or envelope parts for the shapes that need
them), or raises `WorldError` for 400/403/404. The HTTP layer wraps documents in their shape
(link, data_url, chunks...), which `World.endpoints` declares per endpoint.

The world is time-driven: every series launches a race slot every `race_interval_minutes`,
each slot 1..max_splits subsessions of 40-60 minutes; hosted and league sessions run on a lane
of their own. A subsession shows in results/* and in the searches once its end_time <= now;
running ones are what season/spectator_subsessionids lists. The world also extends
`history_days` back before `origin`, so backfills find races. See `model` for how ids are
formed; same config -> byte-identical documents for the same (endpoint, params, now).

Pure and stdlib-only: no I/O, no real time, no global random; caches are bounded `lru_cache`s
over immutable values, so concurrent readers are safe.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from harvester.simulator.world.data import ACTIVE_CATEGORIES, DIVISIONS, EVENT_TYPES
from harvester.simulator.world.docs import (
    car_get,
    categories,
    driver_stats_csv,
    member_awards,
    member_get,
    member_info,
    season_doc,
    season_list_row,
    series_get,
    track_get,
    world_record_rows,
)
from harvester.simulator.world.model import (
    DAY,
    MAX_DURATION,
    Slot,
    Split,
    iso_seconds,
    model_of,
    quarter_bounds,
    quarter_of,
    race_week,
)
from harvester.simulator.world.params import WINDOW, parse_params, valid_quarter, windows
from harvester.simulator.world.race import Detail, Entry, build_detail
from harvester.simulator.world.results import (
    event_rows,
    helmet,
    lap_header,
    lap_rows,
    results_doc,
    session_info,
)
from harvester.simulator.world.rows import (
    league_session,
    recent_race_row,
    search_hosted_row,
    search_series_row,
)
from harvester.simulator.world.table import ENDPOINTS
from harvester.simulator.world.types import (
    Doc,
    Endpoint,
    Param,
    WorldConfig,
    WorldError,
    bad_request,
    forbidden,
    not_found,
)

from . import assets, leagues, members, seasons, sessions, standings

__all__ = ["Doc", "Endpoint", "Param", "World", "WorldConfig", "WorldError"]

# the modules answering the endpoints beyond core's: each maps paths to handler(world, p, now)
MODULES = (assets, leagues, members, seasons, sessions, standings)

DATA_URL = "https://members-ng.iracing.com/data/"
_SIMSESSION_NUMBERS = (-1, 0)  # qualifying, race
_STATS_CATEGORIES = {
    "oval": 1,
    "sports_car": 5,
    "formula_car": 6,
    "road": 2,
    "dirt_oval": 3,
    "dirt_road": 4,
}

Handler = Callable[[dict[str, Any], float], Doc]


def const(body: list[dict[str, Any]]) -> Handler:
    return lambda p, now: Doc([dict(row) for row in body])


class World:
    """The simulated iRacing data: documents as functions of (endpoint, params, now)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.model = model_of(self.config)
        self.detail = lru_cache(maxsize=128)(self._build_detail)
        self.race_entry = lru_cache(maxsize=50_000)(self._race_entry)
        self._csv = lru_cache(maxsize=8)(self._build_csv)
        self.endpoints: Mapping[str, Endpoint] = ENDPOINTS
        own: dict[str, Handler] = {
            "constants/categories": const(categories()),
            "constants/divisions": const([{"label": k, "value": v} for k, v in DIVISIONS]),
            "constants/event_types": const([{"label": k, "value": v} for k, v in EVENT_TYPES]),
            "member/info": self._member_info,
            "member/get": self._member_get,
            "member/awards": self._member_awards,
            "series/get": lambda p, now: Doc(series_get(self.model)),
            "series/seasons": self._series_seasons,
            "season/list": self._season_list,
            "track/get": lambda p, now: Doc(track_get()),
            "car/get": lambda p, now: Doc(car_get()),
            "lookup/drivers": self._lookup_drivers,
            "stats/member_recent_races": self._recent_races,
            "stats/member_summary": self._member_summary,
            "stats/world_records": self._world_records,
            "results/search_series": self._search_series,
            "results/search_hosted": self._search_hosted,
            "results/get": self._results_get,
            "results/event_log": self._event_log,
            "results/lap_data": self._lap_data,
            "league/season_sessions": self._league_sessions,
            "season/spectator_subsessionids": self._spectator,
        }
        for name, category in _STATS_CATEGORIES.items():
            own[f"driver_stats_by_category/{name}"] = self._stats_csv(category)
        self._handlers: dict[str, Handler] = own
        for module in MODULES:
            for path, handler in module.HANDLERS.items():
                self._handlers[path] = functools.partial(handler, self)
        missing = set(self.endpoints) ^ set(self._handlers)
        assert not missing, f"endpoints and handlers differ: {sorted(missing)}"

    # ---- the public surface -------------------------------------------------------------------

    def answer(self, endpoint: str, params: Mapping[str, str], now: float) -> Doc:
        """The document `endpoint` answers at simulated time `now` for raw query `params`."""
        spec = self.endpoints.get(endpoint.strip("/"))
        if spec is None:
            raise not_found(f"unknown endpoint {endpoint!r}")
        parsed = parse_params(spec, params)
        return self._handlers[spec.path](parsed, now)

    def catalogue(self) -> dict[str, Any]:
        """/data/doc in the real structure, built from `endpoints`."""
        doc: dict[str, Any] = {}
        for path, e in sorted(self.endpoints.items()):
            service, method = path.split("/", 1)
            entry: dict[str, Any] = {"link": DATA_URL + path}
            if e.params:
                entry["parameters"] = {
                    name: {
                        "type": p.type,
                        **({"required": True} if p.required else {}),
                        **({"note": p.note} if p.note else {}),
                    }
                    for name, p in e.params.items()
                }
            if e.note:
                entry["note"] = e.note
            entry["expirationSeconds"] = e.expiration_seconds
            doc.setdefault(service, {})[method] = entry
        return doc

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

    # ---- members ----------------------------------------------------------------------------

    def member_of(self, p: dict[str, Any]) -> int:
        """The driver index of `cust_id` (default: the authenticated member), or 404."""
        cust_id = p.get("cust_id", self.model.me)
        d = self.model.index_of(cust_id)
        if d is None:
            raise not_found(f"no member {cust_id}")
        return d

    def _member_info(self, p: dict[str, Any], now: float) -> Doc:
        return Doc(member_info(self.model))

    def _member_get(self, p: dict[str, Any], now: float) -> Doc:
        return Doc(member_get(self.model, p["cust_ids"], p.get("include_licenses", False)))

    def _member_awards(self, p: dict[str, Any], now: float) -> Doc:
        d = self.member_of(p)
        awards = member_awards(self.model, d)
        cust_id = self.model.cust(d)
        summary = {"success": True, "cust_id": cust_id, "award_count": len(awards)}
        return Doc(awards, type_name="member_awards", summary=summary)

    def _lookup_drivers(self, p: dict[str, Any], now: float) -> Doc:
        m = self.model
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
                        "helmet": helmet(self.model, d),
                        "profile_disabled": False,
                    }
                )
        return Doc(rows)

    def _recent_races(self, p: dict[str, Any], now: float) -> Doc:
        d = self.member_of(p)
        m = self.model
        races: list[dict[str, Any]] = []
        k = m.k_at(now)
        stop = max(m.k_min, k - math.ceil(WINDOW / m.interval))
        lanes = sorted(m.lanes_of(d), reverse=True)
        while k >= stop and len(races) < 10:
            for lane in lanes:
                found = self.raced(k, lane, d, now)
                if found is not None:
                    slot, split = found
                    entry = _entry(self.detail(split.subsession_id), 0, d)
                    assert entry is not None
                    races.append(recent_race_row(m, slot, split, entry))
            k -= 1
        return Doc({"races": races[:10], "cust_id": m.cust(d)})

    def raced(self, k: int, lane: int, d: int, now: float) -> tuple[Slot, Split] | None:
        """The finished split of slot (k, lane) in which driver d raced, if any."""
        m = self.model
        if not m.is_slot(k, lane) or not m.is_entrant(k, lane, d):
            return None
        slot = m.slot(k, lane)
        for split in slot.splits:
            if d in split.order:
                return (slot, split) if split.end <= now else None
        return None

    def _member_summary(self, p: dict[str, Any], now: float) -> Doc:
        d = self.member_of(p)
        m = self.model
        year_start, _ = quarter_bounds(quarter_of(now)[0], 1)
        counts = {"official": 0, "official_wins": 0, "league": 0, "league_wins": 0}
        in_league = any(d in roster for roster in m.league_rosters[: m.config.league_count])
        for k in range(max(m.k_min, m.k_at(year_start)), m.k_at(now) + 1):
            lanes = list(m.lanes_of(d))
            if in_league and m.is_slot(k, m.hosted_lane) and m.hosted_league(k):
                lanes.append(m.hosted_lane)
            for lane in lanes:
                found = self.raced(k, lane, d, now)
                if found is None or found[1].start < year_start:
                    continue
                kind = "official" if lane != m.hosted_lane else "league"
                counts[kind] += 1
                counts[f"{kind}_wins"] += found[1].order[0] == d
        this_year = {
            "num_official_sessions": counts["official"],
            "num_league_sessions": counts["league"],
            "num_official_wins": counts["official_wins"],
            "num_league_wins": counts["league_wins"],
        }
        return Doc({"this_year": this_year, "cust_id": m.cust(d)})

    # ---- catalogue-like documents -------------------------------------------------------------

    def _series_seasons(self, p: dict[str, Any], now: float) -> Doc:
        if "season_year" in p and "season_quarter" in p:
            year, quarter = p["season_year"], valid_quarter(p["season_quarter"])
        else:
            year, quarter = quarter_of(now)
        return Doc([season_doc(self.model, s, year, quarter) for s in self.model.series])

    def _season_list(self, p: dict[str, Any], now: float) -> Doc:
        year, quarter = p["season_year"], valid_quarter(p["season_quarter"])
        seasons = [season_list_row(self.model, s, year, quarter) for s in self.model.series]
        return Doc({"season_quarter": quarter, "seasons": seasons, "season_year": year})

    def _world_records(self, p: dict[str, Any], now: float) -> Doc:
        year = p.get("season_year")
        quarter = p.get("season_quarter") if year is not None else None
        rows = world_record_rows(self.model, p["car_id"], p["track_id"], year, quarter)
        body = {
            "success": True,
            "car_id": p["car_id"],
            "track_id": p["track_id"],
            "last_updated": iso_seconds(now // 3600 * 3600),
        }
        return Doc(body, rows=rows, type_name="stats_world_records")

    def _stats_csv(self, category: int) -> Handler:
        return lambda p, now: Doc(None, csv=self._csv(category))

    def _build_csv(self, category: int) -> str:
        return driver_stats_csv(self.model, category)

    # ---- results ----------------------------------------------------------------------------

    def _race_entry(self, subsession_id: int, d: int) -> Entry:
        """Driver d's entry in the race of a subsession it ran (kept: statistics reread them)."""
        entry = _entry(self.detail(subsession_id), 0, d)
        assert entry is not None
        return entry

    def _build_detail(self, subsession_id: int) -> Detail:
        found = self.model.find(subsession_id)
        assert found is not None
        return build_detail(self.model, *found)

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

    def _results_get(self, p: dict[str, Any], now: float) -> Doc:
        slot, split = self.finished(p, now)
        return Doc(results_doc(self.model, slot, split, self.detail(split.subsession_id)))

    def _event_log(self, p: dict[str, Any], now: float) -> Doc:
        slot, split = self.finished(p, now)
        number = p["simsession_number"]
        info = session_info(self.model, slot, split, number, "event_log")
        header = {"success": True, "session_info": info}
        rows = event_rows(self.model, split, self.detail(split.subsession_id), number)
        return Doc(header, rows=rows)

    def _lap_data(self, p: dict[str, Any], now: float) -> Doc:
        slot, split = self.finished(p, now)
        number = p["simsession_number"]
        detail = self.detail(split.subsession_id)
        session = detail.session(number)
        assert session is not None
        if "cust_id" in p:
            d = self.model.index_of(p["cust_id"])
            entry = _entry(detail, number, d) if d is not None else None
            header = lap_header(self.model, slot, split, number, entry, p["cust_id"])
            # a driver without laps in this session: the real service sends chunk_info null
            return Doc(header, rows=lap_rows(self.model, entry) if entry else None)
        rows = [row for e in session.entries for row in lap_rows(self.model, e)]
        return Doc(lap_header(self.model, slot, split, number, None, None), rows=rows)

    # ---- searches ---------------------------------------------------------------------------

    def _search_series(self, p: dict[str, Any], now: float) -> Doc:
        m = self.model
        has_season = "season_year" in p or "season_quarter" in p
        if has_season and not ("season_year" in p and "season_quarter" in p):
            raise bad_request("season_year and season_quarter must be given together")
        if not (has_season or "start_range_begin" in p or "finish_range_begin" in p):
            raise bad_request(
                "requires season_year and season_quarter, start_range_begin or finish_range_begin"
            )
        starts, ends, echo = windows(p, now)
        if has_season:
            q_start, q_end = quarter_bounds(p["season_year"], valid_quarter(p["season_quarter"]))
            starts = (max(starts[0], q_start), min(starts[1], q_end))
        lanes = m.official_lanes()
        if "series_id" in p:
            lanes = [s.lane for s in m.series if s.series_id == p["series_id"]]
        category_ids = p.get("category_ids", list(ACTIVE_CATEGORIES))
        lanes = [lane for lane in lanes if m.series[lane].category in category_ids]
        event_types = p.get("event_types", [e for _, e in EVENT_TYPES])
        if "team_id" in p or 5 not in event_types:
            lanes = []  # only single-driver races are simulated
        week = p.get("race_week_num")
        rows = [
            search_series_row(m, slot, split)
            for slot, split in self._matches(lanes, starts, ends, now, p.get("cust_id"), week)
        ]
        echo = {**p, **echo, "category_ids": category_ids, "event_types": event_types}
        body = {"success": True, "params": echo}
        return Doc(body, rows=rows, type_name="search_series_results")

    def _search_hosted(self, p: dict[str, Any], now: float) -> Doc:
        m = self.model
        if "start_range_begin" not in p and "finish_range_begin" not in p:
            raise bad_request("requires start_range_begin or finish_range_begin")
        if not any(name in p for name in ("cust_id", "team_id", "host_cust_id", "session_name")):
            raise bad_request("requires one of cust_id, team_id, host_cust_id, session_name")
        starts, ends, echo = windows(p, now)
        lanes = [] if "team_id" in p else [m.hosted_lane]
        category_ids = p.get("category_ids", [1, 2, 3, 4])
        host = m.index_of(p["host_cust_id"]) if "host_cust_id" in p else None
        name = p.get("session_name", "").lower()
        rows = []
        for slot, split in self._matches(lanes, starts, ends, now, p.get("cust_id"), None):
            hosted = slot.hosted
            assert hosted is not None
            if (
                ("host_cust_id" in p and hosted.host != host)
                or name not in hosted.session_name.lower()
                or p.get("league_id", hosted.league_id) != hosted.league_id
                or p.get("league_season_id", hosted.league_season_id) != hosted.league_season_id
                or ("car_id" in p and p["car_id"] not in split.cars)
                or p.get("track_id", slot.track.track_id) != slot.track.track_id
                or slot.track.category not in category_ids
            ):
                continue
            rows.append(search_hosted_row(m, slot, split))
        echo = {**p, **echo, "category_ids": category_ids}
        body = {"success": True, "params": echo}
        return Doc(body, rows=rows, type_name="search_hosted_results")

    def _matches(
        self,
        lanes: list[int],
        starts: tuple[float, float],
        ends: tuple[float, float],
        now: float,
        cust_id: int | None,
        week: int | None,
    ) -> list[tuple[Slot, Split]]:
        """Finished subsessions on `lanes` with start in `starts` and end in `ends`, id order."""
        m = self.model
        d = m.index_of(cust_id) if cust_id is not None else None
        if cust_id is not None and d is None:
            return []
        lo = max(starts[0], ends[0] - MAX_DURATION)
        hi = min(starts[1], ends[1], now)
        if not lanes or hi <= lo:
            return []
        found = []
        for k, lane in m.slots_starting(lo, hi, lanes):
            start = m.slot_start(k, lane)
            if week is not None and race_week(start) != week:
                continue
            if d is not None and not m.is_entrant(k, lane, d):
                continue
            wanted = [
                j
                for j in range(m.nsplits(k, lane))
                if ends[0] <= (end := m.split_end(k, lane, j, start)) < ends[1] and end <= now
            ]
            if not wanted:
                continue
            slot = m.slot(k, lane)
            for j in wanted:
                split = slot.splits[j]
                if d is None or d in split.order:
                    found.append((slot, split))
        return found

    # ---- sessions -----------------------------------------------------------------------------

    def _league_sessions(self, p: dict[str, Any], now: float) -> Doc:
        m = self.model
        league = m.league_of_id(p["league_id"])
        season = m.league_season_of_id(p["season_id"])
        if league is None or season is None or season[0] != league:
            raise not_found(f"no season {p['season_id']} in league {p['league_id']}")
        q_start, q_end = quarter_bounds(season[1], season[2])
        horizon = min(q_end, now + 7 * DAY)  # sessions are scheduled a week ahead
        sessions = []
        for k, lane in m.slots_starting(q_start, horizon, [m.hosted_lane]):
            if m.hosted_league(k) != league:
                continue
            slot = m.slot(k, lane)
            split = slot.splits[0]
            if p.get("results_only") and split.end > now:
                continue
            sessions.append(league_session(m, slot, split, now))
        body = {
            "sessions": sessions,
            "success": True,
            "season_id": p["season_id"],
            "league_id": p["league_id"],
        }
        return Doc(body)

    def _spectator(self, p: dict[str, Any], now: float) -> Doc:
        m = self.model
        event_types = p.get("event_types", [e for _, e in EVENT_TYPES])
        ids = []
        if 5 in event_types:
            after = math.nextafter(now, math.inf)
            for k, lane in m.slots_starting(now - MAX_DURATION, after, m.official_lanes()):
                start = m.slot_start(k, lane)
                for j in range(m.nsplits(k, lane)):
                    if start <= now < m.split_end(k, lane, j, start):
                        ids.append(m.subsession_id(k, lane, j))
        return Doc({"event_types": event_types, "success": True, "subsession_ids": ids})


# ---- helpers --------------------------------------------------------------------------------


def _entry(detail: Detail, number: int, d: int) -> Entry | None:
    session = detail.session(number)
    assert session is not None
    return next((e for e in session.entries if e.d == d), None)
