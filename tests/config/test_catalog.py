"""The /data/doc catalogue: stored by the built-in job, used to check jobs.yaml, diffed."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester._config.catalog import CATALOG_JOB, check_jobs, diff, parse_catalogue
from harvester._config.jobs import JobsConfig, JobSpec
from harvester._config.jobs_file import load_jobs_file
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.text import ParamValue
from harvester._service.runtime import Runtime
from harvester.simulator import RunningSimulator, Simulator
from harvester.simulator.world import World
from tests.helpers import CliResult, env_for, make_settings


@pytest.fixture(scope="module")
def real_catalogue() -> Any:
    """The repository's own copy of iRacing's /data/doc: the simulator's catalogue, which the
    simulator's fidelity tests hold to the real one (every endpoint, parameter, type and
    required flag), so these tests run on every clone."""
    return World().catalogue()


def sample(kind: str) -> ParamValue:
    samples: dict[str, ParamValue] = {"number": 1, "numbers": [1, 2], "boolean": True}
    return samples.get(kind, "x")


def check(text: str, catalogue: Any) -> tuple[list[str], list[str]]:
    config = parse_jobs(textwrap.dedent(text), env={"HOME": "/home/me"})
    problems, warnings = check_jobs(config, catalogue, "2026-02-18")
    return [str(p) for p in problems], [str(w) for w in warnings]


def test_every_real_endpoint_validates_with_its_required_parameters(real_catalogue: Any) -> None:
    endpoints = parse_catalogue(real_catalogue)
    assert len(endpoints) == 74
    jobs = {}
    for path, endpoint in endpoints.items():
        params = {n: sample(p.type) for n, p in endpoint.params.items() if p.required}
        name = path.replace("/", "_")
        jobs[name] = JobSpec(name=name, endpoint=path, params=params)
    problems, _ = check_jobs(JobsConfig("jobs.yaml", jobs), real_catalogue, "2026-02-18")
    assert problems == []


def test_an_unknown_endpoint_names_the_closest(real_catalogue: Any) -> None:
    problems, _ = check(
        """
        jobs:
          a:
            endpoint: results/serch_series
            every: 1h
    """,
        real_catalogue,
    )
    assert problems == [
        "jobs.yaml:4: jobs.a.endpoint: 'results/serch_series' is not in the /data catalogue of "
        "2026-02-18; closest: results/search_series, results/search_hosted, "
        "results/season_results"
    ]


def test_unknown_parameter_missing_required_and_wrong_types(real_catalogue: Any) -> None:
    problems, _ = check(
        """
        jobs:
          a:
            endpoint: results/get
            every: 1h
            params: {subsesion_id: 5}
          b:
            endpoint: member/get
            every: 1h
            params: {cust_ids: "12,abc", include_licenses: maybe}
          c:
            endpoint: results/lap_data
            every: 1h
            params: {subsession_id: 1}
    """,
        real_catalogue,
    )
    assert (
        "jobs.yaml:6: jobs.a.params.subsesion_id: results/get has no parameter "
        "'subsesion_id'; did you mean `subsession_id`?" in problems
    )
    assert "jobs.yaml:4: jobs.a: results/get requires subsession_id" in problems
    assert (
        "jobs.yaml:10: jobs.b.params.cust_ids: expected a numbers (e.g. [1, 2] or '1,2'), "
        "got '12,abc'" in problems
    )
    assert (
        "jobs.yaml:10: jobs.b.params.include_licenses: expected a boolean (true or false), "
        "got 'maybe'" in problems
    )
    assert "jobs.yaml:12: jobs.c: results/lap_data requires simsession_number" in problems


def test_parameters_fed_by_a_cursor_or_fan_out_count_as_given(real_catalogue: Any) -> None:
    problems, _ = check(
        """
        jobs:
          recent:
            endpoint: results/search_series
            every: 1h
            incremental: {cursor: end_time, param: finish_range_begin, start: -7d}
          details:
            endpoint: results/get
            every: 1h
            for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id}
          templated:
            endpoint: stats/member_summary
            every: 1h
            params: {cust_id: "{env:HOME}"}
    """,
        real_catalogue,
    )
    assert problems == []


def test_polling_faster_than_the_data_changes_is_a_warning(real_catalogue: Any) -> None:
    problems, warnings = check(
        """
        jobs:
          a:
            endpoint: member/info
            every: 1m
    """,
        real_catalogue,
    )
    assert problems == []
    assert warnings == [
        "jobs.yaml:5: jobs.a.every: every 60s is shorter than the 900s for which member/info "
        "does not change: most polls will fetch the same document"
    ]


def test_diff_says_what_changed() -> None:
    old = {
        "results": {
            "get": {
                "parameters": {"subsession_id": {"type": "number", "required": True}},
                "expirationSeconds": 900,
            },
            "old": {"parameters": {}},
        }
    }
    new = {
        "results": {
            "get": {
                "parameters": {
                    "subsession_id": {"type": "number", "required": True},
                    "include_licenses": {"type": "boolean"},
                },
                "expirationSeconds": 60,
            },
            "new": {"parameters": {"x": {"type": "string"}}},
        }
    }
    assert diff(old, new) == [
        "+ results/new: new endpoint (x: string)",
        "- results/old: endpoint removed",
        "~ results/get: parameter include_licenses added (boolean)",
        "~ results/get: expirationSeconds 900 -> 60",
    ]


def test_the_catalogue_job_is_built_in(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  a: {endpoint: member/info, every: 1h}\n")
    config = load_jobs_file(jobs)
    assert config.jobs["catalog"] == CATALOG_JOB
    jobs.write_text("jobs:\n  catalog: {endpoint: doc, every: 7d}\n")
    assert load_jobs_file(jobs).jobs["catalog"].schedule.every == 7 * 86400


def test_validation_uses_the_stored_catalogue(runtime: Runtime, tmp_path: Path) -> None:
    assert runtime.runner.run(CATALOG_JOB).ok
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  a: {endpoint: member/infoo, every: 1h}\n")
    from harvester._config.jobs import JobsError

    with pytest.raises(JobsError, match="closest: member/info"):
        load_jobs_file(jobs, runtime.engine)
    assert "member/infoo" in str(load_jobs_file(jobs).jobs["a"].endpoint)  # without: unchecked


def test_catalog_commands(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator, sim: Simulator
) -> None:
    (tmp_path / "jobs.yaml").write_text("jobs:\n  a: {endpoint: member/info, every: 1h}\n")
    env = env_for(make_settings(tmp_path, loopback.url))
    listed = run_cli("catalog", "--format", "csv", env=env)
    assert listed.code == 0, listed.err
    assert "results/search_series," in listed.out
    assert "subsession_id*:number" in listed.out
    assert sim.state()["endpoints"]["doc"] == 1
    assert run_cli("catalog", "diff", env=env).out.startswith("fewer than two")
    sim.config.catalog_changes = {
        "results": {"get": {"parameters": {"include_licenses": None}}},
        "member": {"info": None},
    }
    assert run_cli("run", "catalog", env=env).code == 0
    changed = run_cli("catalog", "diff", env=env).out.splitlines()
    assert changed[0].endswith("2 change(s)")
    assert "- member/info: endpoint removed" in changed
    assert "~ results/get: parameter include_licenses removed" in changed
    invalid = run_cli("jobs", "validate", env=env)
    assert invalid.code == 1 and "'member/info' is not in the /data catalogue" in invalid.err


def test_a_job_the_catalogue_contradicts_is_disabled_not_fatal(
    runtime: Runtime, tmp_path: Path
) -> None:
    from harvester._service.service import Service

    assert runtime.runner.run(CATALOG_JOB).ok
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n  good: {endpoint: member/info, every: 1h}\n"
        "  renamed: {endpoint: member/infoo, every: 1h}\n"
        "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
    )
    service = Service(runtime, jobs)
    service.start()
    try:
        assert set(service.scheduler.next_runs()) == {"good"}
        assert [p.field for p in service.config.rejected] == ["jobs.renamed.endpoint"]
    finally:
        service.stop()


def test_validation_reports_layout_and_catalogue_problems_in_one_pass(
    runtime: Runtime, tmp_path: Path
) -> None:
    from harvester._config.jobs import JobsError

    assert runtime.runner.run(CATALOG_JOB).ok
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n  a: {endpoint: member/infoo, every: 1h}\n  b: {endpoint: member/info, evry: 1h}\n"
    )
    with pytest.raises(JobsError) as caught:
        load_jobs_file(jobs, runtime.engine)
    fields = [problem.field for problem in caught.value.problems]
    assert "jobs.a.endpoint" in fields and "jobs.b.evry" in fields


def test_no_expiration_warning_for_jobs_whose_requests_differ(
    runtime: Runtime, tmp_path: Path
) -> None:
    assert runtime.runner.run(CATALOG_JOB).ok
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n"
        "  s: {endpoint: results/search_series, every: 1m, incremental: "
        "{cursor: end_time, param: finish_range_begin, start: -1d}}\n"
        "  d: {endpoint: results/get, every: 1m, for_each: "
        '{job: s, path: "$[*].subsession_id", param: subsession_id}}\n'
        "  m: {endpoint: member/info, every: 1s}\n"
    )
    config = load_jobs_file(jobs, runtime.engine)
    assert {problem.field.split(".")[1] for problem in config.warnings} <= {"m"}


def test_catalog_endpoint_shows_one_endpoint_whole(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator, sim: Simulator
) -> None:
    env = env_for(make_settings(tmp_path, loopback.url))
    shown = run_cli("catalog", "/data/results/search_series", env=env)  # fetched first
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == "results/search_series"
    assert "  expirationSeconds: 900" in lines
    note = "Scrape incrementally from the largest end_time seen."
    assert any(line.startswith("  note: ") and line.endswith(note) for line in lines)  # not cut
    (season_year,) = [line.split() for line in lines if line.split()[:1] == ["season_year"]]
    assert season_year[:2] == ["season_year", "number"] and "required" not in season_year
    required = run_cli("catalog", "league/get", env=env).out.splitlines()
    assert ["league_id", "number", "required"] in [line.split() for line in required]
    entry = json.loads(run_cli("catalog", "league/get", "--format", "json", env=env).out)
    assert entry["endpoint"] == "league/get" and entry["expirationSeconds"] == 900
    assert entry["parameters"]["league_id"] == {"type": "number", "required": True}
    assert json.loads(run_cli("catalog", "--format", "json", "league/get", env=env).out) == entry
    assert sim.state()["endpoints"]["doc"] == 1  # the stored catalogue, fetched once
    assert run_cli("catalog", "diff", env=env).code == 0  # still the subcommand


def test_catalog_of_an_unknown_endpoint_is_one_line_with_the_closest(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    (tmp_path / "jobs.yaml").write_text("jobs: {}\n")
    env = env_for(make_settings(tmp_path, loopback.url))
    assert run_cli("run", "catalog", env=env).code == 0
    wrong = run_cli("catalog", "member/inof", env=env)
    assert wrong.code == 2 and wrong.out == ""
    assert len(wrong.err.strip().splitlines()) == 1
    assert "'member/inof' is not in the /data catalogue" in wrong.err
    assert "did you mean `member/info`" in wrong.err
    nothing = run_cli("catalog", "zzzz", env=env)
    assert nothing.code == 2 and "`harvester catalog` lists them" in nothing.err
