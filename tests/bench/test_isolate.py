"""The bench runs each scenario in a process of its own: one that crashes, hangs or leaves a
process behind is reported as such, and its processes are gone when the bench goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.common import Options, Result
from bench.isolate import CRASHED, OK, TIMED_OUT, run_isolated
from bench.scenarios import SCENARIOS, Scenario, load
from tests.helpers import wait_for

PID_FILE = "BENCH_TEST_PID_FILE"
HERE = "tests.bench.test_isolate"


# -- scenarios the child processes run -------------------------------------------------------


def fine(options: Options) -> list[Result]:
    return [Result("fine", "a figure", "ms", 1.5 if options.quick else 2.5)]


def crash(options: Options) -> list[Result]:
    raise RuntimeError("the simulator answered 500")


def hang(options: Options) -> list[Result]:
    """Blocks for good with a process of its own, as a scenario stuck on its simulator would."""
    _start_sleeper()
    while True:
        time.sleep(3600)


def leave_a_process(options: Options) -> list[Result]:
    _start_sleeper()
    return fine(options)


def _start_sleeper() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(os.environ[PID_FILE]).write_text(str(sleeper.pid))


# -- the tests ----------------------------------------------------------------------------------


def scenario(function: str) -> Scenario:
    return Scenario(function, "a test scenario", 60, 60, target=f"{HERE}:{function}")


@pytest.fixture
def pid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sleeper.pid"
    monkeypatch.setenv(PID_FILE, str(path))
    return path


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_a_scenario_that_finishes_gives_its_rows() -> None:
    outcome = run_isolated(scenario("fine"), Options(quick=True), limit=120)
    assert outcome.status == OK
    assert outcome.rows == [Result("fine", "a figure", "ms", 1.5)]
    assert not outcome.left_behind


@pytest.mark.slow
def test_a_scenario_that_crashes_is_reported_with_its_error() -> None:
    outcome = run_isolated(scenario("crash"), Options(), limit=120)
    assert outcome.status == CRASHED
    assert outcome.error == "RuntimeError: the simulator answered 500"
    (row,) = outcome.table_rows()
    assert (row.scenario, row.measurement, row.note) == (
        "crash",
        "scenario crashed",
        "RuntimeError: the simulator answered 500",
    )


@pytest.mark.slow
def test_a_scenario_that_hangs_is_stopped_at_its_limit_with_its_processes(
    pid_file: Path,
) -> None:
    outcome = run_isolated(scenario("hang"), Options(), limit=5)
    assert outcome.status == TIMED_OUT
    assert outcome.table_rows()[0].measurement == "scenario timed out"
    assert "time limit of 5 s" in outcome.error
    if pid_file.exists():  # the child got as far as starting its process (a loaded machine may not)
        sleeper = int(pid_file.read_text())
        wait_for(lambda: gone(sleeper))


@pytest.mark.slow
def test_a_process_a_scenario_leaves_behind_is_killed_and_reported(pid_file: Path) -> None:
    outcome = run_isolated(scenario("leave_a_process"), Options(), limit=120)
    assert outcome.status == OK
    assert outcome.left_behind
    sleeper = int(pid_file.read_text())
    wait_for(lambda: gone(sleeper))


def test_every_scenario_names_a_function_of_the_bench() -> None:
    for name, entry in SCENARIOS.items():
        assert entry.name == name
        assert entry.quick_limit < entry.full_limit
        assert callable(load(entry.entry))
