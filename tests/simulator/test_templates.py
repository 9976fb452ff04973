"""The ready job sets of `harvester jobs init`: each template validates against the real
catalogue (the project's copy of its contract in tests/data/fidelity) and runs on the
simulator, and the analysis tables fill from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from harvester._cli.jobs_init import TEMPLATES, template_text
from harvester._config.catalog import check_jobs
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.clock import ManualClock
from harvester._service.runtime import Runtime
from harvester.simulator import Simulator
from tests.helpers import REPO
from tests.simulator.fidelity import NOW, catalogue

# the settings the templates ask for, as the simulated world has them
ENV = {
    "IRACING_CUST_ID": "100001",
    "IRACING_LEAGUE_ID": "5453",
    "IRACING_SERIES_ID": "200",
    "IRACING_CAR_CLASS_ID": "74",
}


def real_catalogue() -> dict[str, Any]:
    """The real /data/doc's contract (paths, parameters) in the structure /data/doc has."""
    doc: dict[str, Any] = {}
    for path, entry in catalogue().items():
        service, method = path.split("/")
        doc.setdefault(service, {})[method] = {
            "link": f"https://members-ng.iracing.com/data/{path}",
            "parameters": {
                name: {"type": p["type"], **({"required": True} if p["required"] else {})}
                for name, p in entry["parameters"].items()
            },
            "expirationSeconds": entry["expirationSeconds"],
        }
    return doc


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def test_the_starter_template_is_the_example_jobs_file() -> None:
    assert template_text("starter") == (REPO / "jobs.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_each_template_validates_against_the_real_catalogue(name: str) -> None:
    config = parse_jobs(template_text(name), f"{name}.yaml", env=ENV)
    assert config.jobs
    problems, warnings = check_jobs(config, real_catalogue(), "the reference catalogue")
    assert not problems, [str(p) for p in problems]
    assert not warnings, [str(w) for w in warnings]
    assert template_text(name).startswith(f"# {name}") or name == "starter"


def test_a_template_needs_its_settings() -> None:
    """Without IRACING_CUST_ID the jobs that need it are disabled, each with the reason."""
    config = parse_jobs(template_text("my-results"), "my-results.yaml", env={})
    refused = {p.field.split(".")[1]: p.message for p in config.rejected}
    assert {"my_results", "my_laps"} <= set(refused)
    assert all("IRACING_CUST_ID is not set" in m for m in refused.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_each_template_runs_on_the_simulator(
    name: str, runtime: Runtime, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = parse_jobs(template_text(name), f"{name}.yaml", env=ENV)
    fetched = {}
    for job in config.jobs.values():  # each file lists a fan-out's parent before it
        outcome = runtime.runner.run(job, trigger="cli")
        assert outcome.ok, (job.name, outcome.error)
        fetched[job.name] = outcome.counts.requests
    assert all(fetched.values()), fetched  # every job asked iRacing something
    if name == "my-results":
        with runtime.engine.connect() as conn:
            races = conn.execute(text("SELECT count(DISTINCT subsession_id) FROM session_results"))
            charts = conn.execute(text("SELECT count(*) FROM member_charts"))
            assert races.scalar_one() >= 1
            assert charts.scalar_one() >= 1


def test_jobs_init_writes_a_template_and_keeps_an_existing_file(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    target = tmp_path / "league.yaml"
    done = run_cli("jobs", "init", "--template", "league", str(target))
    assert done.code == 0, done.err
    assert target.read_text(encoding="utf-8") == template_text("league")
    assert "IRACING_LEAGUE_ID" in done.out
    again = run_cli("jobs", "init", "--template", "series", str(target))
    assert again.code == 2
    assert "exists" in again.err and "--force" in again.err
    assert target.read_text(encoding="utf-8") == template_text("league")
    forced = run_cli("jobs", "init", "--template", "series", "--force", str(target))
    assert forced.code == 0
    assert target.read_text(encoding="utf-8") == template_text("series")
    unknown = run_cli("jobs", "init", "--template", "nope", str(tmp_path / "x.yaml"))
    assert unknown.code == 2 and "nope" in unknown.err
    listed = run_cli("jobs", "init", "--list")
    assert [line.split()[0] for line in listed.out.splitlines()] == list(TEMPLATES)


def test_jobs_init_defaults_to_the_settings_jobs_file(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    target = tmp_path / "conf" / "my-jobs.yaml"
    done = run_cli("jobs", "init", env={"HARVESTER_JOBS": str(target)})
    assert done.code == 0, done.err
    assert target.read_text(encoding="utf-8") == template_text("starter")
    # the starter's comments mention {env:NAME} and {env:IRACING_CUST_ID}; its jobs need none
    assert done.out.splitlines()[-1] == f"next: harvester jobs validate {target}"


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_the_tables_a_template_names_exist(name: str) -> None:
    """A comment's `The tables fill from these jobs: a, b...` names real analysis tables."""
    from harvester._tables import TABLE_NAMES

    comments = " ".join(
        line.lstrip("# ") for line in template_text(name).splitlines() if line.startswith("#")
    )
    for listed in re.findall(r"tables fill from these jobs: ([\w, ]+)", comments):
        named = [word.strip() for word in listed.split(",") if word.strip()]
        assert named and set(named) <= set(TABLE_NAMES), (name, named)
