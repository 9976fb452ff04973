"""The simulated world hangs together: ratings chain race by race and the charts draw them; team
races, super sessions, time trials, time attack and spectated races have data that agrees from
one endpoint to another; every id the world hands out is one a client can look up."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from harvester._core.clock import parse_iso
from harvester.simulator.world import Doc, World, WorldConfig
from harvester.simulator.world.figures import best_lap
from harvester.simulator.world.season_docs import SUPER_SESSION_EVERY
from harvester.simulator.world.time_trials import ta_season
from tests.simulator.fidelity import MODELS_KEYS, differences

ORIGIN = WorldConfig().origin  # 2026-01-01T00:00Z
DAY = 86_400.0
NOW = ORIGIN + 5 * DAY + 3_333.0
TEAM_LANE, SUPER_LANE, TT_LANE = 2, 3, 1  # the GT team series, the stock cars, the F3 series


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(epoch))


def ask(world: World, endpoint: str, now: float = NOW, **params: Any) -> Doc:
    return world.answer(endpoint, {k: str(v) for k, v in params.items()}, now)


def answer(world: World, endpoint: str, **params: Any) -> Any:
    return ask(world, endpoint, **params).body


def search(world: World, **params: Any) -> list[dict[str, Any]]:
    doc = world.answer("results/search_series", {k: str(v) for k, v in params.items()}, NOW)
    assert doc.rows is not None
    return doc.rows


def drivers_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result rows by driver: a team's row gives its drivers' rows."""
    return [driver for row in rows for driver in row.get("driver_results", [row])]


def race_rows(world: World, subsession_id: int) -> list[dict[str, Any]]:
    body = answer(world, "results/get", subsession_id=subsession_id)
    rows: list[dict[str, Any]] = body["session_results"][-1]["results"]
    return rows


# ---- ratings --------------------------------------------------------------------------------


def _my_races(world: World, category: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(search row, my result row) of my races of the last 20 days in a category, oldest first."""
    me = world.config.me_cust_id
    rows = search(world, cust_id=me, start_range_begin=_iso(NOW - 20 * DAY), category_ids=category)
    found = []
    for row in sorted(rows, key=lambda r: r["start_time"]):
        mine = next(
            r for r in drivers_of(race_rows(world, row["subsession_id"])) if r["cust_id"] == me
        )
        found.append((row, mine))
    return found


@pytest.mark.parametrize("category", [5, 1])
def test_ratings_chain_race_by_race_and_the_chart_draws_them(world: World, category: int) -> None:
    races = _my_races(world, category)
    assert len(races) >= 5
    for (_, before), (_, after) in itertools.pairwise(races):
        assert after["oldi_rating"] == before["newi_rating"]
        assert after["old_sub_level"] == before["new_sub_level"]
        rose = after["new_sub_level"] > after["old_sub_level"]
        assert (after["new_cpi"] > after["old_cpi"]) == rose
    assert len({mine["newi_rating"] for _, mine in races}) > 1, "the rating moves"
    assert len({mine["new_sub_level"] for _, mine in races}) > 1, "the safety rating moves"

    chart = answer(world, "member/chart_data", category_id=category, chart_type=1)["data"]
    by_day = {point["when"]: point["value"] for point in chart}
    last_of_day = {row["end_time"][:10]: mine["newi_rating"] for row, mine in races}
    for day, value in last_of_day.items():
        assert by_day[day] == value, day

    licenses = answer(world, "member/info")["licenses"]
    lic = next(v for v in licenses.values() if v["category_id"] == category)
    assert lic["irating"] == races[-1][1]["newi_rating"]
    assert lic["safety_rating"] == races[-1][1]["new_sub_level"] / 100


def test_a_race_moves_ratings_by_result(world: World) -> None:
    """Over many races, the front half of a field gains more iRating than the back half."""
    front: list[int] = []
    back: list[int] = []
    for row in search(world, finish_range_begin=_iso(NOW - DAY))[:40]:
        rows = drivers_of(race_rows(world, row["subsession_id"]))
        half = len(rows) // 2
        for i, r in enumerate(rows):
            (front if i < half else back).append(r["newi_rating"] - r["oldi_rating"])
    assert sum(front) / len(front) > sum(back) / len(back) + 20


def test_hosted_races_move_no_rating(world: World) -> None:
    doc = world.answer(
        "results/search_hosted",
        {"start_range_begin": _iso(NOW - 3 * DAY), "cust_id": str(world.config.me_cust_id)},
        NOW,
    )
    assert doc.rows
    for row in doc.rows[:3]:
        for r in race_rows(world, row["subsession_id"]):
            assert r["oldi_rating"] == r["newi_rating"]


def test_averages_that_iracing_sends_whole_stay_integers(world: World) -> None:
    career = answer(world, "stats/member_career")["stats"]
    yearly = answer(world, "stats/member_yearly")["stats"]
    recap = answer(world, "stats/member_recap")["stats"]
    for row in [*career, *yearly, recap]:
        for key in ("avg_start_position", "avg_finish_position"):
            assert type(row[key]) is int, key
    assert all(type(row["avg_points"]) is int for row in [*career, *yearly])


# ---- teams ----------------------------------------------------------------------------------


def test_team_races_hang_together(world: World) -> None:
    (mine,) = answer(world, "team/membership")
    team = answer(world, "team/get", team_id=mine["team_id"])
    roster = {r["cust_id"] for r in team["roster"]}
    assert world.config.me_cust_id in roster and team["is_member"]

    rows = search(world, team_id=mine["team_id"], start_range_begin=_iso(NOW - 20 * DAY))
    assert rows and all(r["driver_changes"] for r in rows)
    results = answer(world, "results/get", subsession_id=rows[-1]["subsession_id"])
    assert results["driver_changes"] and results["max_team_drivers"] == 3
    cars = results["session_results"][-1]["results"]
    ours = next(r for r in cars if r["team_id"] == mine["team_id"])
    assert ours["display_name"] == team["team_name"] and "cust_id" not in ours
    drove = ours["driver_results"]
    assert {d["cust_id"] for d in drove} <= roster
    assert all(d["team_id"] == mine["team_id"] for d in drove)
    assert sum(d["laps_complete"] for d in drove) == ours["laps_complete"]
    assert sum(d["incidents"] for d in drove) == ours["incidents"]
    for car in cars:  # every team a result names is one team/get knows
        assert answer(world, "team/get", team_id=car["team_id"])["team_id"] == car["team_id"]

    race = {"subsession_id": rows[-1]["subsession_id"], "simsession_number": 0}
    laps = ask(world, "results/lap_data", **race, team_id=mine["team_id"])
    assert laps.rows is not None and len(laps.rows) == ours["laps_complete"] + 1
    assert {lap["group_id"] for lap in laps.rows} == {mine["team_id"]}
    assert {lap["cust_id"] for lap in laps.rows} <= roster
    for driver in drove:
        own = ask(world, "results/lap_data", **race, cust_id=driver["cust_id"])
        assert own.rows is not None
        assert len(own.rows) == driver["laps_complete"] + 1
        assert {lap["cust_id"] for lap in own.rows[1:]} <= {driver["cust_id"]}
    log = ask(world, "results/event_log", **race).rows
    assert log is not None
    team_ids = {car["team_id"] for car in cars}
    assert {e["group_id"] for e in log if e["event_code"] != 3} <= team_ids

    entries = answer(world, "session/reg_drivers_list", subsession_id=race["subsession_id"])
    assert {e["team_id"] for e in entries["entries"]} == team_ids


def test_team_documents_have_the_models_keys(world: World) -> None:
    """A team race's results/get as the clients' models have it: a team's row is a result row
    with team_id and driver_results (and no cust_id), each driver's row a full one."""
    (mine,) = answer(world, "team/membership")
    rows = search(world, team_id=mine["team_id"], start_range_begin=_iso(NOW - 20 * DAY))
    body = answer(world, "results/get", subsession_id=rows[0]["subsession_id"])
    problems = differences(
        body, MODELS_KEYS["results/get"], "results/get body", every_key=False, typed_null=True
    )
    assert [p for p in problems if "misses ['cust_id']" not in p] == []
    cars = body["session_results"][-1]["results"]
    assert all("driver_results" in car and "cust_id" not in car for car in cars)


def test_team_standings_count_the_team_races(world: World) -> None:
    (mine,) = answer(world, "team/membership")
    season = world.model.season_id(TEAM_LANE, 2026, 1)
    standings = world.answer(
        "stats/season_team_standings", {"season_id": str(season), "car_class_id": "2708"}, NOW
    )
    assert standings.rows
    ours = next(r for r in standings.rows if r["team_id"] == mine["team_id"])
    raced = search(world, team_id=mine["team_id"], season_year=2026, season_quarter=1)
    assert ours["starts"] == len(raced)
    assert ours["wins"] == sum(r["winner_group_id"] == mine["team_id"] for r in raced)
    assert [d["rank"] for d in ours["drivers"]] == list(range(1, len(ours["drivers"]) + 1))


# ---- super sessions, time trials, time attack, spectators -----------------------------------


def test_super_session_standings_count_the_super_sessions(world: World) -> None:
    season = world.model.season_id(SUPER_LANE, 2026, 1)
    params = {"season_id": str(season), "car_class_id": "2876"}
    standings = world.answer("stats/season_supersession_standings", params, NOW)
    assert standings.rows
    top = standings.rows[0]
    raced = search(world, cust_id=top["cust_id"], season_year=2026, season_quarter=1)
    supers = [
        r
        for r in raced
        if (where := world.model.locate(r["subsession_id"])) and where[0] % SUPER_SESSION_EVERY == 0
    ]
    assert top["starts"] == len(supers) > 0
    k = world.model.k_at(NOW) // SUPER_SESSION_EVERY * SUPER_SESSION_EVERY
    at = world.model.slot_start(k, SUPER_LANE) - 60
    guide = answer(world, "season/race_guide", **{"from": _iso(at)})["sessions"]
    assert [s["series_id"] for s in guide if s["super_session"]] == [200 + SUPER_LANE]
    assert not world.answer(
        "stats/season_supersession_standings",
        {"season_id": str(world.model.season_id(0, 2026, 1)), "car_class_id": "74"},
        NOW,
    ).rows


def test_time_trial_results_add_up_to_the_standings(world: World) -> None:
    season = {"season_id": str(world.model.season_id(TT_LANE, 2026, 1)), "car_class_id": "4011"}
    week = world.answer("stats/season_tt_results", {**season, "race_week_num": "0"}, NOW).rows
    assert week
    assert [r["rank"] for r in week] == list(range(1, len(week) + 1))
    times = [r["best_nlaps_time"] for r in week]
    assert times == sorted(times)
    standings = world.answer("stats/season_tt_standings", season, NOW).rows
    assert standings is not None
    by_driver = {r["cust_id"]: r for r in standings}
    for row in week:
        total = by_driver[row["cust_id"]]
        assert total["weeks_counted"] == 1 and total["starts"] == row["starts"]
        assert total["raw_points"] == row["raw_points"]


def test_time_attack_results_name_real_tracks_of_the_quarter(world: World) -> None:
    later = NOW + 80 * DAY
    rows = world.answer(
        "time_attack/member_season_results", {"ta_comp_season_id": str(ta_season(2026, 1))}, later
    ).body
    assert rows
    tracks = {t["track_id"] for t in answer(world, "track/get")}
    for row in rows:
        assert row["track_id"] in tracks and row["cust_id"] == world.config.me_cust_id
        assert ORIGIN <= parse_iso(row["best_lap_at"]) <= later
    assert (
        world.answer("time_attack/member_season_results", {"ta_comp_season_id": "1"}, NOW).body
        == []
    )


def test_spectated_subsessions_are_known_then_answer_results(world: World) -> None:
    running = answer(world, "season/spectator_subsessionids")["subsession_ids"]
    assert running
    for sid in running[:4]:
        field = answer(world, "session/reg_drivers_list", subsession_id=sid)["entries"]
        assert field
        done = ask(world, "results/get", NOW + 2 * 3600, subsession_id=sid).body
        cars = done["session_results"][-1]["results"]
        drove = {r["cust_id"] for r in drivers_of(cars)}
        registered = {e["cust_id"] for e in field}
        assert drove <= registered  # a team's registered drivers need not all drive
        entrants = {r.get("team_id", r.get("cust_id")) for r in cars}
        assert {e.get("team_id", e["cust_id"]) for e in field} == entrants


# ---- ids a client can find ------------------------------------------------------------------


def test_award_races_leagues_and_seasons_can_be_looked_up(world: World) -> None:
    awards = world.answer("member/awards", {}, NOW).body
    earned = [a for a in awards if a.get("subsession_id")]
    assert earned
    for award in earned[:4]:
        result = answer(world, "results/get", subsession_id=award["subsession_id"])
        me = world.config.me_cust_id
        assert me in {r["cust_id"] for r in drivers_of(result["session_results"][-1]["results"])}
    for league in answer(world, "league/membership"):
        seasons = answer(world, "league/seasons", league_id=league["league_id"], retired=1)
        assert seasons["seasons"]
        for season in seasons["seasons"][-2:]:
            params = {"league_id": league["league_id"], "season_id": season["season_id"]}
            assert answer(world, "league/season_standings", **params)["success"]
            assert answer(world, "league/season_sessions", **params)["sessions"]


def test_a_drivers_figures_equal_his_entry_in_the_race(world: World) -> None:
    """What statistics count (a race in figures) is what results/get shows, team races too."""
    m = world.model
    rows = search(world, finish_range_begin=_iso(NOW - DAY))[:12]
    assert any(r["driver_changes"] for r in rows)
    for row in rows:
        slot, split = m.find(row["subsession_id"]) or (None, None)
        assert slot is not None and split is not None
        for car in race_rows(world, row["subsession_id"]):
            for driver in car.get("driver_results", [car]):
                d = m.index_of(driver["cust_id"])
                assert d is not None
                figures = world.state.race_summary(row["subsession_id"], slot.lane, d)
                assert figures.position == driver["finish_position"]
                assert figures.start_position == driver["starting_position"]
                assert figures.laps_complete == driver["laps_complete"]
                assert figures.laps_lead == driver["laps_lead"]
                assert figures.incidents == driver["incidents"]
                assert figures.champ_points == driver["champ_points"]
                best = best_lap(m, split, figures.position, d)
                assert best == driver["best_lap_time"]


def test_the_heat_racing_series_describes_its_heats(world: World) -> None:
    seasons = answer(world, "series/seasons")
    heats = {s["series_id"]: s.get("heat_ses_info") for s in seasons if s["is_heat_racing"]}
    assert list(heats) == [205]  # the dirt sprint cars
    assert heats[205]["main_max_field_size"] == world.config.drivers_per_split
    assert all("heat_ses_info" not in s for s in seasons if not s["is_heat_racing"])
