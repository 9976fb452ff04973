"""Compare simulator documents with the fidelity targets in tests/data/fidelity (written from the
real captures by tests/data/fidelity/make_fidelity.py, which takes `kind` and `ID_KEY` from
here): keys and JSON types, at every level."""

from __future__ import annotations

import json
from typing import Any

from harvester.simulator.world import World
from harvester.simulator.world.time_trials import ta_season
from tests.helpers import REPO

ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00Z: the simulated world's origin
NOW = ORIGIN + 5 * 86_400 + 3_333.0
DATA = REPO / "tests" / "data" / "fidelity"
ID_KEY = "<n>"  # an object keyed by ids (car/get's paint_rules): every numeric key is one
ROWS_CHECKED = 60  # members of a list compared with the description (the first ones)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def catalogue() -> dict[str, Any]:
    """The real catalogue's endpoints: {path: {parameters: {name: {type, required}}, ...}}."""
    data: dict[str, Any] = load("catalogue.json")
    return data


def _targets(folder: str) -> dict[str, dict[str, Any]]:
    targets = (json.loads(p.read_text(encoding="utf-8")) for p in (DATA / folder).glob("*.json"))
    return {t["endpoint"]: t for t in sorted(targets, key=lambda t: t["endpoint"])}


def captured() -> dict[str, dict[str, Any]]:
    """Every captured endpoint's target: {path: {endpoint, shape, parts}}."""
    return _targets("fields")


def modelled() -> dict[str, dict[str, Any]]:
    """Every endpoint the public clients' models describe: {path: {endpoint, source, parts}}."""
    return _targets("models")


def kind(value: Any) -> str:
    """A value's JSON kind, `int` and `float` apart (as the service sends them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "object"


def newer_fields() -> dict[str, list[str]]:
    """Keys newer than the captures, accepted where listed (data/fidelity/newer_fields.json)."""
    data: dict[str, list[str]] = load("newer_fields.json")
    return {where: keys for where, keys in data.items() if not where.startswith("_")}


NEWER = newer_fields()
# the models' description of each answer's document (behind its link or data_url)
MODELS_KEYS = {path: t["parts"]["body"] for path, t in modelled().items() if "body" in t["parts"]}


def differences(
    ours: Any,
    target: dict[str, Any],
    where: str,
    *,
    every_key: bool = True,
    typed_null: bool = False,
    invented: bool = True,
) -> list[str]:
    """What in `ours` differs from the description `target`: missing or invented keys, other
    JSON types (an int stands for a float: JSON writes 2.0 as 2; a float never for an int).

    `every_key`: a key only some described rows carry must show in some of ours too (a
    capture's rows are all real ones). `typed_null`: null only where the description allows it
    (a typed client's model says so); else a null stands for an absent value of any type.
    `invented`: a key the description lacks is a difference (off where another description,
    the models' one, holds the keys of the same answer)."""
    problems: list[str] = []
    allowed = set(target["types"])
    if "any" in allowed:
        return problems
    mine = kind(ours)
    if mine == "int" and "float" in allowed:
        mine = "float"
    if mine == "null" and allowed - {"null"} and not typed_null:
        return problems  # an absent value: its type cannot be compared
    if mine not in allowed and not allowed <= {"null"}:
        return [f"{where}: {kind(ours)}, the real service sends {sorted(allowed)}"]
    if isinstance(ours, dict) and "keys" in target:
        keys = target["keys"]
        folded: dict[str, list[Any]] = {}
        for key, value in ours.items():
            folded.setdefault(ID_KEY if key.isdigit() and ID_KEY in keys else key, []).append(value)
        missing = [k for k in target["always"] if k not in folded]
        unknown = [k for k in folded if k not in keys and k not in NEWER.get(where, ())]
        if missing:
            problems.append(f"{where}: misses {missing}")
        if invented and unknown:
            problems.append(f"{where}: has keys the real service does not send {unknown}")
        for key, values in folded.items():
            if key in keys:
                for value in values[:ROWS_CHECKED]:
                    problems.extend(
                        differences(
                            value,
                            keys[key],
                            f"{where}.{key}",
                            every_key=every_key,
                            typed_null=typed_null,
                            invented=invented,
                        )
                    )
    if isinstance(ours, list) and "items" in target:
        for item in ours[:ROWS_CHECKED]:
            problems.extend(
                differences(
                    item,
                    target["items"],
                    f"{where}[]",
                    every_key=every_key,
                    typed_null=typed_null,
                    invented=invented,
                )
            )
        # a key only some real rows carry must show in some of ours too
        seen = {key for item in ours if isinstance(item, dict) for key in item}
        if every_key and seen and "keys" in target["items"]:
            never = [k for k in target["items"]["keys"] if k not in seen and k != ID_KEY]
            if never:
                problems.append(f"{where}[]: no row has {never}")
    return sorted(set(problems))


def example_params(world: World, now: float = NOW) -> dict[str, dict[str, str]]:
    """Parameters that give a non-empty answer, per endpoint (required ones at least)."""
    m = world.model
    sid = str(world.subsessions_ending_between(now - 86_400, now)[0])
    league, league_season = str(m.league_id(1)), str(m.league_season_id(1, 2026, 1))
    season = str(m.season_id(0, 2026, 1))
    subsession = {"subsession_id": sid, "simsession_number": "0"}
    winner = world.detail(int(sid)).sessions[-1].entries[0].d
    standings = {"season_id": season, "car_class_id": "74"}
    team_series = {"season_id": str(m.season_id(2, 2026, 1)), "car_class_id": "2708"}
    super_series = {"season_id": str(m.season_id(3, 2026, 1)), "car_class_id": "2876"}
    tt_series = {"season_id": str(m.season_id(1, 2026, 1)), "car_class_id": "4011"}
    return {
        "member/get": {"cust_ids": "100001,100002", "include_licenses": "true"},
        "member/award_instances": {"award_id": "88"},
        "member/chart_data": {"category_id": "5", "chart_type": "1"},
        "lookup/drivers": {"search_term": "100001"},
        "season/list": {"season_year": "2026", "season_quarter": "1"},
        # the searches echo their parameters: those of the captured requests
        "results/search_series": {
            "season_year": "2026",
            "season_quarter": "1",
            "series_id": "200",
            "official_only": "false",
        },
        "results/search_hosted": {
            "start_range_begin": "2025-12-01T00:00Z",
            "session_name": "Missed Apex",
        },
        "results/get": {"subsession_id": sid},
        "results/event_log": subsession,
        "results/lap_data": {**subsession, "cust_id": str(m.cust(winner))},
        "results/lap_chart_data": subsession,
        "results/season_results": {"season_id": season},
        "league/get": {"league_id": league},
        "league/get_points_systems": {"league_id": league},
        "league/roster": {"league_id": league},
        "league/seasons": {"league_id": league},
        "league/season_sessions": {
            "league_id": league,
            "season_id": league_season,
            "results_only": "true",
        },
        "league/season_standings": {"league_id": league, "season_id": league_season},
        "series/past_seasons": {"series_id": "200"},
        "series/season_schedule": {"season_id": season},
        "session/reg_drivers_list": {"subsession_id": sid},
        "stats/member_division": {"season_id": season, "event_type": "5"},
        "stats/season_driver_standings": standings,
        "stats/season_supersession_standings": super_series,
        "stats/season_team_standings": team_series,
        "stats/season_tt_standings": tt_series,
        "stats/season_tt_results": {**tt_series, "race_week_num": "0"},
        "stats/season_qualify_results": {**standings, "race_week_num": "0"},
        "stats/world_records": {"car_id": "67", "track_id": "341"},
        "team/get": {"team_id": "310001"},
        "time_attack/member_season_results": {"ta_comp_season_id": str(ta_season(2026, 1))},
    }
