"""The simulator's data world: deterministic, time-driven, consistent, shaped like the real API."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from harvester._core.clock import parse_iso
from harvester.simulator.world import Doc, World, WorldConfig, WorldError
from tests.helpers import REPO

ORIGIN = WorldConfig().origin  # 2026-01-01T00:00Z
DAY = 86_400.0
NOW = ORIGIN + 5 * DAY + 3_333.0


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _search(world: World, *, now: float = NOW, **params: str) -> Doc:
    return world.answer("results/search_series", params, now)


def _error(world: World, endpoint: str, params: dict[str, str], now: float = NOW) -> WorldError:
    with pytest.raises(WorldError) as caught:
        world.answer(endpoint, params, now)
    return caught.value


def _outcome(world: World, endpoint: str, params: dict[str, str]) -> tuple[int, Any]:
    """(status, error body): (200, None) when the world answers a document."""
    try:
        world.answer(endpoint, params, NOW)
    except WorldError as exc:
        return exc.status, exc.body
    return 200, None


def driver_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result rows by driver: a team's car row gives the rows of the drivers who drove it."""
    return [driver for row in rows for driver in row.get("driver_results", [row])]


def _dump(doc: Doc) -> str:
    return json.dumps([doc.body, doc.rows, doc.csv, doc.type_name, doc.summary], sort_keys=False)


# ---- determinism ----------------------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("member/info", {}),
    ("member/awards", {}),
    ("series/seasons", {}),
    ("stats/member_recent_races", {}),
    ("results/search_series", {"finish_range_begin": "2026-01-02T00:00Z"}),
    ("results/search_hosted", {"start_range_begin": "2025-12-01T00:00Z", "cust_id": "100001"}),
    ("season/spectator_subsessionids", {}),
    ("driver_stats_by_category/road", {}),
    ("stats/world_records", {"car_id": "67", "track_id": "341"}),
]


def test_same_config_gives_byte_identical_documents() -> None:
    first, second = World(), World()
    for endpoint, params in REQUESTS:
        assert _dump(first.answer(endpoint, params, NOW)) == _dump(
            second.answer(endpoint, params, NOW)
        ), endpoint
    sid = str(first.subsessions_ending_between(NOW - DAY, NOW)[0])
    for endpoint in ("results/get", "results/event_log", "results/lap_data"):
        params = {"subsession_id": sid, "simsession_number": "0"}
        assert _dump(first.answer(endpoint, params, NOW)) == _dump(
            second.answer(endpoint, params, NOW)
        )


_DIGEST = """
import hashlib, json
from harvester.simulator.world import World
w, now = World(), 1_767_225_600.0 + 5 * 86_400
sid = w.subsessions_ending_between(now - 86_400, now)[0]
docs = [w.answer(e, p, now) for e, p in (
    ("results/search_series", {"finish_range_begin": "2026-01-04T00:00Z"}),
    ("results/get", {"subsession_id": str(sid)}),
    ("results/event_log", {"subsession_id": str(sid), "simsession_number": "0"}),
    ("member/info", {}),
    ("league/season_sessions", {"league_id": "5453", "season_id": "81665"}),
)]
text = json.dumps([[d.body, d.rows] for d in docs])
print(hashlib.sha256(text.encode()).hexdigest())
"""


@pytest.mark.slow
def test_documents_do_not_depend_on_the_process() -> None:
    """Hash randomisation and process state must not leak into documents."""
    root = str(REPO)
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        run = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_another_seed_gives_another_world() -> None:
    params = {"finish_range_begin": "2026-01-02T00:00Z"}
    a = World(WorldConfig(seed=1)).answer("results/search_series", params, NOW)
    b = World(WorldConfig(seed=2)).answer("results/search_series", params, NOW)
    assert a.rows != b.rows


def test_documents_are_fresh_objects(world: World) -> None:
    doc = world.answer("car/get", {}, NOW)
    doc.body.clear()
    assert world.answer("car/get", {}, NOW).body


def test_concurrent_readers_see_the_sequential_answers() -> None:
    sequential = World()
    ids = sequential.subsessions_ending_between(NOW - DAY, NOW)[:12]
    expected = {
        sid: _dump(sequential.answer("results/get", {"subsession_id": str(sid)}, NOW))
        for sid in ids
    }
    shared = World()
    seen: dict[int, str] = {}
    errors: list[BaseException] = []

    def read(chunk: list[int]) -> None:
        try:
            for sid in chunk * 3:
                seen[sid] = _dump(shared.answer("results/get", {"subsession_id": str(sid)}, NOW))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen == expected


# ---- a time-driven world --------------------------------------------------------------------


def test_races_appear_as_now_advances(world: World) -> None:
    params = {"finish_range_begin": "2026-01-01T00:00Z"}
    early = _search(world, now=ORIGIN + DAY, **params).rows
    late = _search(world, now=ORIGIN + 2 * DAY, **params).rows
    assert early is not None
    assert late is not None
    assert 0 < len(early) < len(late)
    assert {r["subsession_id"] for r in early} <= {r["subsession_id"] for r in late}
    for rows, now in ((early, ORIGIN + DAY), (late, ORIGIN + 2 * DAY)):
        assert all(parse_iso(r["end_time"]) <= now for r in rows)


def test_rows_are_ordered_by_id_and_ids_follow_start_time(world: World) -> None:
    rows = _search(world, finish_range_begin="2026-01-02T00:00Z").rows
    assert rows
    ids = [r["subsession_id"] for r in rows]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    starts = [parse_iso(r["start_time"]) for r in rows]
    assert starts == sorted(starts)
    for r in rows:
        assert 40 * 60 <= parse_iso(r["end_time"]) - parse_iso(r["start_time"]) <= 60 * 60


def test_splits_of_a_slot_have_consecutive_ids(world: World) -> None:
    sid = world.subsessions_ending_between(NOW - DAY, NOW)[0]
    doc = world.answer("results/get", {"subsession_id": str(sid)}, NOW).body
    assoc = doc["associated_subsession_ids"]
    assert assoc == list(range(assoc[0], assoc[0] + len(assoc)))
    assert sid in assoc
    assert [s["subsession_id"] for s in doc["session_splits"]] == assoc


def test_the_world_extends_back_before_origin(world: World) -> None:
    now = ORIGIN - 200 * DAY
    rows = _search(world, now=now, finish_range_begin=_iso(now - 3 * DAY)).rows
    assert rows
    sid = rows[0]["subsession_id"]
    assert world.answer("results/get", {"subsession_id": str(sid)}, ORIGIN).body


def test_subsessions_ending_between_matches_the_search(world: World) -> None:
    begin, end = ORIGIN + DAY, ORIGIN + 2 * DAY
    rows = _search(world, finish_range_begin=_iso(begin), finish_range_end=_iso(end)).rows
    assert rows is not None
    assert [r["subsession_id"] for r in rows] == world.subsessions_ending_between(begin, end)


def test_spectator_lists_the_running_subsessions(world: World) -> None:
    doc = world.answer("season/spectator_subsessionids", {}, NOW).body
    ids = doc["subsession_ids"]
    assert ids
    assert doc["success"] is True
    for sid in ids:
        error = _error(world, "results/get", {"subsession_id": str(sid)})
        assert error.status == 404  # running: no results yet
    later = NOW + 2 * 3600
    finished = world.subsessions_ending_between(NOW, later)
    assert set(ids) <= set(finished)
    for sid in ids:
        assert world.answer("results/get", {"subsession_id": str(sid)}, later).body
    none = world.answer("season/spectator_subsessionids", {"event_types": "2,3"}, NOW).body
    assert none["subsession_ids"] == []


# ---- consistent ids -------------------------------------------------------------------------


def test_a_searched_subsession_answers_everywhere(world: World) -> None:
    rows = _search(world, finish_range_begin="2026-01-04T00:00Z").rows
    assert rows
    solo = [r for r in rows if not r["driver_changes"]]  # team races: see test_teams.py
    row = solo[len(solo) // 2]
    sid = str(row["subsession_id"])
    result = world.answer("results/get", {"subsession_id": sid}, NOW).body
    for key in ("subsession_id", "session_id", "series_id", "season_id", "start_time", "end_time"):
        assert result[key] == row[key]
    assert result["event_best_lap_time"] == row["event_best_lap_time"]
    assert result["event_average_lap"] == row["event_average_lap"]
    assert result["num_drivers"] == row["num_drivers"]
    race = result["session_results"][-1]
    assert race["simsession_number"] == 0
    drivers = race["results"]
    assert len(drivers) == row["num_drivers"]
    winner = drivers[0]
    assert winner["finish_position"] == 0
    assert winner["cust_id"] == row["winner_group_id"]
    assert winner["average_lap"] == row["event_average_lap"]
    assert (
        min(d["best_lap_time"] for d in drivers if d["best_lap_time"] > 0)
        == (row["event_best_lap_time"])
    )

    log = world.answer("results/event_log", {"subsession_id": sid, "simsession_number": "0"}, NOW)
    assert log.body["session_info"]["subsession_id"] == row["subsession_id"]
    assert log.rows
    assert all(r["subsession_id"] == row["subsession_id"] for r in log.rows)
    assert [r["event_seq"] for r in log.rows] == list(range(1, len(log.rows) + 1))

    for driver in drivers:
        params = {"subsession_id": sid, "simsession_number": "0", "cust_id": str(driver["cust_id"])}
        laps = world.answer("results/lap_data", params, NOW)
        assert laps.rows is not None
        assert len(laps.rows) == driver["laps_complete"] + 1
        assert laps.body["best_lap_time"] == driver["best_lap_time"]
        timed = [lap["lap_time"] for lap in laps.rows if lap["lap_number"] > 0]
        if timed:
            assert min(timed) == driver["best_lap_time"]
            assert sum(timed) == driver["average_lap"] * len(timed)
            best = [lap["lap_number"] for lap in laps.rows if lap["personal_best_lap"]]
            assert best == [driver["best_lap_num"]]

    every = world.answer("results/lap_data", {"subsession_id": sid, "simsession_number": "0"}, NOW)
    assert every.rows is not None
    assert len(every.rows) == sum(d["laps_complete"] + 1 for d in drivers)


def test_ids_in_results_exist_in_the_catalogue_endpoints(world: World) -> None:
    sid = str(world.subsessions_ending_between(NOW - DAY, NOW)[3])
    result = world.answer("results/get", {"subsession_id": sid}, NOW).body
    cust_ids = [d["cust_id"] for s in result["session_results"] for d in s["results"]]
    members = world.answer("member/get", {"cust_ids": ",".join(map(str, cust_ids))}, NOW).body
    assert {m["cust_id"] for m in members["members"]} == set(cust_ids)
    series = {s["series_id"] for s in world.answer("series/get", {}, NOW).body}
    assert result["series_id"] in series
    tracks = {t["track_id"] for t in world.answer("track/get", {}, NOW).body}
    assert result["track"]["track_id"] in tracks
    cars = {c["car_id"] for c in world.answer("car/get", {}, NOW).body}
    assert {d["car_id"] for s in result["session_results"] for d in s["results"]} <= cars
    seasons = world.answer("series/seasons", {}, NOW).body
    assert result["season_id"] in {s["season_id"] for s in seasons}


def test_search_rows_use_the_served_series(world: World) -> None:
    rows = _search(world, finish_range_begin="2026-01-03T00:00Z").rows
    series = {s["series_id"]: s["series_name"] for s in world.answer("series/get", {}, NOW).body}
    assert rows
    assert {r["series_id"] for r in rows} == set(series)
    assert all(series[r["series_id"]] == r["series_name"] for r in rows)


def test_member_info_is_me_and_cust_ids_default_to_me(world: World) -> None:
    me = world.config.me_cust_id
    assert world.answer("member/info", {}, NOW).body["cust_id"] == me
    awards = world.answer("member/awards", {}, NOW)
    assert awards.summary == {"success": True, "cust_id": me, "award_count": len(awards.body)}
    assert awards.type_name == "member_awards"
    recent = world.answer("stats/member_recent_races", {}, NOW).body
    assert recent["cust_id"] == me
    assert 0 < len(recent["races"]) <= 10
    for race in recent["races"][:3]:
        result = world.answer("results/get", {"subsession_id": str(race["subsession_id"])}, NOW)
        race_rows = result.body["session_results"][-1]["results"]
        mine = next(d for d in driver_rows(race_rows) if d["cust_id"] == me)
        assert mine["finish_position"] + 1 == race["finish_position"]
    starts = [race["session_start_time"] for race in recent["races"]]
    assert starts == sorted(starts, reverse=True)


def test_member_summary_counts_the_races_of_the_year(world: World) -> None:
    me = world.config.me_cust_id
    summary = world.answer("stats/member_summary", {}, NOW).body["this_year"]
    rows = _search(world, start_range_begin="2026-01-01T00:00Z", cust_id=str(me)).rows
    assert rows is not None
    assert summary["num_official_sessions"] == len(rows) > 0
    mine = {me, *(t["team_id"] for t in world.answer("team/membership", {}, NOW).body)}
    assert summary["num_official_wins"] == sum(r["winner_group_id"] in mine for r in rows)
    assert summary["num_league_sessions"] > 0


def test_lookup_drivers_by_name_and_id(world: World) -> None:
    me = world.config.me_cust_id
    name = world.answer("member/info", {}, NOW).body["display_name"]
    by_id = world.answer("lookup/drivers", {"search_term": str(me)}, NOW).body
    assert [d["cust_id"] for d in by_id] == [me]
    by_name = world.answer("lookup/drivers", {"search_term": name.split()[-1].lower()}, NOW).body
    assert me in {d["cust_id"] for d in by_name}


# ---- searches -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"season_year": "2026"},
        {"season_quarter": "1"},
        {"start_range_end": "2026-01-02T00:00Z"},
        {"finish_range_begin": "2026-13-45T00:00Z"},
        {"finish_range_begin": "yesterday"},
        {"start_range_begin": "2025-01-01T00:00Z", "start_range_end": "2025-06-01T00:00Z"},
        {"finish_range_begin": "2026-01-03T00:00Z", "finish_range_end": "2026-01-02T00:00Z"},
        {"season_year": "2026", "season_quarter": "5"},
        {"finish_range_begin": "2026-01-02T00:00Z", "series_id": "two hundred"},
        {"finish_range_begin": "2026-01-02T00:00Z", "event_types": "5,,"},
        {"finish_range_begin": "2026-01-02T00:00Z", "official_only": "maybe"},
    ],
)
def test_search_series_rejects_bad_requests(world: World, params: dict[str, str]) -> None:
    error = _error(world, "results/search_series", params)
    assert error.status == 400
    assert error.body is not None
    assert error.body["error"] == "Bad Request"


def test_search_window_bounds_are_begin_inclusive_end_exclusive(world: World) -> None:
    rows = _search(world, finish_range_begin="2026-01-03T00:00Z").rows
    assert rows
    end = rows[5]["end_time"]
    inclusive = _search(world, finish_range_begin=end).rows
    assert inclusive is not None
    assert inclusive[0]["end_time"] == end
    exclusive = _search(world, finish_range_begin="2026-01-03T00:00Z", finish_range_end=end).rows
    assert exclusive is not None
    assert all(r["end_time"] < end for r in exclusive)
    start = rows[5]["start_time"]
    by_start = _search(world, start_range_begin=start, start_range_end=_iso(NOW)).rows
    assert by_start is not None
    assert min(r["start_time"] for r in by_start) == start


def test_search_end_defaults_to_ninety_days_capped_at_now(world: World) -> None:
    implicit = _search(world, finish_range_begin="2026-01-01T00:00Z")
    explicit = _search(world, finish_range_begin="2026-01-01T00:00Z", finish_range_end=_iso(NOW))
    assert implicit.rows == explicit.rows
    old = ORIGIN - 120 * DAY
    rows = _search(world, now=ORIGIN, finish_range_begin=_iso(old)).rows
    assert rows
    assert max(parse_iso(r["end_time"]) for r in rows) < old + 90 * DAY
    minutes = _search(world, finish_range_begin="2026-01-03T00:00Z")
    seconds = _search(world, finish_range_begin="2026-01-03T00:00:00Z")
    assert minutes.rows == seconds.rows


def test_search_series_envelope_echoes_typed_params(world: World) -> None:
    doc = _search(world, finish_range_begin="2026-01-03T00:00Z", series_id="201", bogus="x")
    assert doc.type_name == "search_series_results"
    params = doc.body["params"]
    assert doc.body["success"] is True
    assert params["series_id"] == 201
    assert params["finish_range_begin"] == "2026-01-03T00:00:00Z"
    assert isinstance(params["category_ids"], list)
    assert isinstance(params["event_types"], list)
    assert "bogus" not in params  # unknown parameters are ignored
    assert doc.rows
    assert {r["series_id"] for r in doc.rows} == {201}


def test_search_series_filters(world: World) -> None:
    me = world.config.me_cust_id
    begin = "2025-12-20T00:00Z"  # race weeks 12 (2025 Q4) and 0
    mine = _search(world, finish_range_begin=begin, cust_id=str(me)).rows
    assert mine
    for row in mine[:4]:
        result = world.answer("results/get", {"subsession_id": str(row["subsession_id"])}, NOW)
        assert me in {d["cust_id"] for d in result.body["session_results"][-1]["results"]}
    everything = _search(world, finish_range_begin=begin).rows
    assert everything is not None
    week = _search(world, finish_range_begin=begin, race_week_num="0").rows
    assert week
    assert all(r["race_week_num"] == 0 for r in week)
    assert len(week) < len(everything)
    oval = _search(world, finish_range_begin=begin, category_ids="1").rows
    assert oval
    assert {r["license_category_id"] for r in oval} == {1}
    assert _search(world, finish_range_begin=begin, event_types="2,3").rows == []
    assert _search(world, finish_range_begin=begin, team_id="1").rows == []
    season = _search(world, season_year="2026", season_quarter="1").rows
    assert season
    assert all((r["season_year"], r["season_quarter"]) == (2026, 1) for r in season)
    assert _search(world, season_year="2024", season_quarter="2").rows == []  # before history


def test_search_hosted_requirements_and_filters(world: World) -> None:
    me = world.config.me_cust_id
    assert _error(world, "results/search_hosted", {"cust_id": str(me)}).status == 400
    error = _error(world, "results/search_hosted", {"start_range_begin": "2026-01-01T00:00Z"})
    assert error.status == 400
    params = {"start_range_begin": "2025-12-01T00:00Z", "cust_id": str(me)}
    doc = world.answer("results/search_hosted", params, NOW)
    assert doc.type_name == "search_hosted_results"
    assert doc.rows
    league_row = next(r for r in doc.rows if r["league_id"])
    by_name = world.answer(
        "results/search_hosted",
        {"start_range_begin": "2025-12-01T00:00Z", "session_name": league_row["session_name"][:8]},
        NOW,
    ).rows
    assert by_name
    assert all(league_row["session_name"][:8] in r["session_name"] for r in by_name)
    host = league_row["host"]["cust_id"]
    by_host = world.answer(
        "results/search_hosted",
        {"start_range_begin": "2025-12-01T00:00Z", "host_cust_id": str(host)},
        NOW,
    ).rows
    assert by_host
    assert all(r["host"]["cust_id"] == host for r in by_host)


def test_private_hosted_sessions_are_forbidden(world: World) -> None:
    ids = world.subsessions_ending_between(ORIGIN - 30 * DAY, NOW, hosted=True)
    outcomes = {sid: _outcome(world, "results/get", {"subsession_id": str(sid)}) for sid in ids}
    assert all(o in ((200, None), (403, {"error": "Forbidden"})) for o in outcomes.values())
    forbidden = [sid for sid, (status, _) in outcomes.items() if status == 403]
    allowed = [sid for sid, (status, _) in outcomes.items() if status == 200]
    assert forbidden
    assert allowed
    assert len(forbidden) <= len(ids) // world.config.private_hosted_every + 1
    for endpoint in ("results/event_log", "results/lap_data"):
        params = {"subsession_id": str(forbidden[0]), "simsession_number": "0"}
        assert _error(world, endpoint, params).status == 403


def test_league_season_sessions(world: World) -> None:
    rows = world.answer(
        "results/search_hosted",
        {"start_range_begin": "2026-01-01T00:00Z", "cust_id": str(world.config.me_cust_id)},
        NOW,
    ).rows
    assert rows
    row = next(r for r in rows if r["league_id"])
    params = {"league_id": str(row["league_id"]), "season_id": str(row["league_season_id"])}
    doc = world.answer("league/season_sessions", params, NOW).body
    assert doc["success"] is True
    assert doc["league_id"] == row["league_id"]
    sessions = doc["sessions"]
    assert row["subsession_id"] in {s.get("subsession_id") for s in sessions}
    assert any(not s["has_results"] for s in sessions)  # scheduled ahead
    done = world.answer("league/season_sessions", {**params, "results_only": "true"}, NOW).body
    assert done["sessions"]
    assert all(s["has_results"] for s in done["sessions"])
    bad = {"league_id": str(row["league_id"]), "season_id": "1"}
    assert _error(world, "league/season_sessions", bad).status == 404


# ---- errors ---------------------------------------------------------------------------------


def test_unknown_endpoint_is_404_with_the_error_body(world: World) -> None:
    error = _error(world, "results/nothing_here", {})
    assert error.status == 404
    assert error.body == {"error": "Not Found"}


def test_unknown_or_unfinished_subsessions_are_404(world: World) -> None:
    for sid in ("1", "999999999999"):
        error = _error(world, "results/get", {"subsession_id": sid})
        assert error.status == 404
        assert error.body == {"error": "Not Found"}
    future = world.subsessions_ending_between(NOW + DAY, NOW + 2 * DAY)[0]
    assert _error(world, "results/get", {"subsession_id": str(future)}).status == 404
    assert world.answer("results/get", {"subsession_id": str(future)}, NOW + 3 * DAY).body
    done = str(world.subsessions_ending_between(NOW - DAY, NOW)[0])
    params = {"subsession_id": done, "simsession_number": "7"}
    assert _error(world, "results/event_log", params).status == 404
    assert _error(world, "member/awards", {"cust_id": "5"}).status == 404


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("results/get", {}),
        ("results/get", {"subsession_id": "12.5"}),
        ("results/event_log", {"subsession_id": "80000000"}),
        ("member/get", {}),
        ("member/get", {"cust_ids": "1,a"}),
        ("member/get", {"cust_ids": "100001", "include_licenses": "yes please"}),
        ("lookup/drivers", {}),
        ("season/list", {"season_year": "2026"}),
    ],
)
def test_missing_or_malformed_params_are_400(
    world: World, endpoint: str, params: dict[str, str]
) -> None:
    error = _error(world, endpoint, params)
    assert error.status == 400
    assert error.body is not None
    assert error.body["error"] == "Bad Request"


def test_lap_data_of_a_driver_outside_the_race_has_no_chunk_info(world: World) -> None:
    sid = str(world.subsessions_ending_between(NOW - DAY, NOW)[0])
    params = {"subsession_id": sid, "simsession_number": "0", "cust_id": "1"}
    doc = world.answer("results/lap_data", params, NOW)
    assert doc.rows is None  # the HTTP layer answers chunk_info: null, as the real one does
    assert doc.body["cust_id"] == 1


# ---- other documents ------------------------------------------------------------------------


def test_driver_stats_csv(world: World) -> None:
    doc = world.answer("driver_stats_by_category/road", {}, NOW)
    assert doc.body is None
    assert doc.csv
    rows = list(csv.DictReader(io.StringIO(doc.csv)))
    assert rows[0].keys() >= {"DRIVER", "CUSTID", "IRATING", "CLASS"}
    ratings = [int(r["IRATING"]) for r in rows]
    assert ratings == sorted(ratings, reverse=True)
    some = ",".join(r["CUSTID"] for r in rows[:5])
    assert len(world.answer("member/get", {"cust_ids": some}, NOW).body["members"]) == 5


def test_world_records(world: World) -> None:
    doc = world.answer("stats/world_records", {"car_id": "67", "track_id": "341"}, NOW)
    assert doc.type_name == "stats_world_records"
    assert doc.body["car_id"] == 67
    assert doc.body["track_id"] == 341
    assert doc.rows
    assert all(r["car_id"] == 67 for r in doc.rows)
    laps = [r["race_lap_time"] for r in doc.rows]
    assert laps == sorted(laps)


def test_results_get_size_is_realistic(world: World) -> None:
    sid = str(world.subsessions_ending_between(NOW - DAY, NOW)[0])
    body = world.answer("results/get", {"subsession_id": sid}, NOW).body
    size = len(json.dumps(body, separators=(",", ":")))
    assert 20_000 < size < 150_000


# ---- the real API's shapes, endpoints and parameters ----------------------------------------


# The real service's keys, types, envelopes, error bodies and catalogue are checked against the
# project's own test data in test_simulator_fidelity.py.


def test_the_required_endpoints_are_served(world: World) -> None:
    required = {
        "constants/categories": "direct",
        "member/info": "link",
        "member/get": "link",
        "member/awards": "data_url",
        "series/get": "link",
        "series/seasons": "link",
        "track/get": "link",
        "car/get": "link",
        "lookup/drivers": "link",
        "stats/member_recent_races": "link",
        "stats/member_summary": "link",
        "results/search_series": "direct_chunks",
        "results/search_hosted": "direct_chunks",
        "results/get": "link",
        "results/event_log": "link_chunks",
        "results/lap_data": "link_chunks",
        "league/season_sessions": "link",
        "season/spectator_subsessionids": "link",
        "driver_stats_by_category/road": "csv",
    }
    assert {path: world.endpoints[path].shape for path in required} == required


def test_catalogue_has_the_real_structure(world: World) -> None:
    catalogue = world.catalogue()
    assert set(catalogue) == {path.split("/")[0] for path in world.endpoints}
    entry = catalogue["results"]["get"]
    assert entry["link"] == "https://members-ng.iracing.com/data/results/get"
    assert entry["expirationSeconds"] == 900
    assert entry["parameters"]["subsession_id"] == {"type": "number", "required": True}
    assert "required" not in entry["parameters"]["include_licenses"]
    assert "parameters" not in catalogue["member"]["info"]
    assert catalogue["league"]["season_sessions"]["expirationSeconds"] == 60
    for service in catalogue.values():
        for method in service.values():
            assert set(method) <= {"link", "parameters", "note", "expirationSeconds"}
    for service, methods in catalogue.items():
        for method, entry in methods.items():
            assert entry["link"] == f"https://members-ng.iracing.com/data/{service}/{method}"


# ---- scale ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_dense_world_generates_100k_search_rows() -> None:
    """A dense world yields a six-figure result (its speed is a bench figure, not a timer here)."""
    dense = World(WorldConfig(series_count=40, race_interval_minutes=20, max_splits=6))
    now = ORIGIN + 20 * DAY
    params = {"finish_range_begin": "2026-01-01T00:00Z", "finish_range_end": "2026-01-11T00:00Z"}
    doc = dense.answer("results/search_series", params, now)
    assert doc.rows is not None
    assert len(doc.rows) >= 100_000
    per_row = len(json.dumps(doc.rows[:1000], separators=(",", ":"))) / 1000
    assert 500 < per_row < 1500
