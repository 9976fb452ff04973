"""Every endpoint of the real catalogue answers on the simulator, through harvester itself: the
library's `Api.get` resolves each one (links, data_url, chunks, CSV), and `harvester get` prints
each one, with the required parameters only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import harvester
from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester.simulator import RunningSimulator, Simulator, SimulatorTransport
from tests.helpers import env_for, make_settings
from tests.simulator.fidelity import NOW, catalogue, example_params

CATALOGUE = catalogue()
# no parameter is required by the catalogue, but its note asks for one of several
ONE_OF = {"results/search_series", "results/search_hosted"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def required_params(sim: Simulator, path: str) -> dict[str, str]:
    required = [n for n, p in CATALOGUE[path]["parameters"].items() if p["required"]]
    examples = example_params(sim.world)
    if path in ONE_OF:
        return dict(examples[path])
    params = {name: examples[path][name] for name in required}
    assert set(params) == set(required), path
    return params


def test_each_endpoint_has_example_values_for_its_required_parameters(sim: Simulator) -> None:
    for path in CATALOGUE:
        required_params(sim, path)


@pytest.mark.slow
def test_every_real_endpoint_resolves_through_the_library(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    answers: dict[str, Any] = {}
    with harvester.connect(settings, transport=SimulatorTransport(sim), clock=clock) as api:
        for path in CATALOGUE:
            answers[path] = api.get(path, required_params(sim, path))
    assert sorted(answers) == sorted(CATALOGUE)
    for path, data in answers.items():
        assert isinstance(data, dict | list), path
    assert isinstance(answers["driver_stats_by_category/road"], list)  # CSV rows
    assert answers["results/search_hosted"]
    assert answers["stats/season_driver_standings"]  # the season's races, in chunks
    assert answers["results/lap_chart_data"]
    states = sim.state()["endpoints"]
    assert {path for path in CATALOGUE} <= set(states)


def test_a_missing_required_parameter_is_the_real_400(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with harvester.connect(settings, transport=SimulatorTransport(sim), clock=clock) as api:
        for path, entry in CATALOGUE.items():
            required = [n for n, p in entry["parameters"].items() if p["required"]]
            if not required:
                continue
            params = required_params(sim, path)
            del params[required[0]]
            with pytest.raises(harvester.BadRequest):
                api.get(path, params)


@pytest.mark.slow
def test_harvester_get_prints_every_endpoint(
    run_cli: Callable[..., Any], tmp_path: Path, loopback: RunningSimulator, sim: Simulator
) -> None:
    env = env_for(make_settings(tmp_path, loopback.url))
    for path in CATALOGUE:
        args = [f"{n}={v}" for n, v in required_params(sim, path).items()]
        done = run_cli("get", path, *[x for a in args for x in ("-p", a)], env=env)
        assert done.code == 0, (path, done.err)
        assert isinstance(json.loads(done.out), dict | list), path
