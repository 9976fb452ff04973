"""jobs.yaml: every mistake named by file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harvester._config.jobs import JobsConfig, JobsError
from harvester._config.jobs_file import load_jobs_file
from harvester._config.jobs_yaml import parse_jobs
from harvester._config.triggers import cron_error
from harvester._core.durations import format_duration, parse_duration
from harvester._core.errors import ConfigError
from harvester._core.text import query_value
from tests.helpers import REPO


def parse(text: str) -> JobsConfig:
    return parse_jobs(textwrap.dedent(text), "jobs.yaml", cron_check=cron_error)


def problems(text: str) -> list[str]:
    with pytest.raises(JobsError) as caught:
        parse(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1h", 3600),
        ("1d", 86400),
        ("2w", 1209600),
        ("1h30m", 5400),
        (" 5M ", 300),
        (45, 45),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m5", "-1h", "1.5.5h", True, 0, "0s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "15m", "1h30m", "1d", "1w2d"):
        assert format_duration(parse_duration(text)) == text


def test_a_full_file_with_defaults() -> None:
    config = parse("""
        defaults:
          every: 1h
          jitter: 30s
          retries: 2
          timeout: 5m
        jobs:
          member_info:
            endpoint: /data/member/info/
          season:
            endpoint: results/search_series
            params: {season_year: 2026, season_quarter: 4, event_types: [2, 5], official_only: true}
            cron: "0 */6 * * *"
            retries: 0
          paused:
            endpoint: series/get
            enabled: false
    """)
    jobs = config.jobs
    assert jobs["member_info"].endpoint == "member/info"
    assert jobs["member_info"].schedule.every == 3600
    assert jobs["member_info"].schedule.jitter == 30
    assert jobs["member_info"].retries == 2 and jobs["member_info"].timeout == 300
    assert jobs["season"].schedule.cron == "0 */6 * * *" and jobs["season"].schedule.every is None
    assert jobs["season"].retries == 0
    assert jobs["member_info"].line == 8
    assert not jobs["paused"].enabled
    params = {k: query_value(v) for k, v in jobs["season"].params.items()}
    assert params == {
        "season_year": "2026",
        "season_quarter": "4",
        "event_types": "2,5",
        "official_only": "true",
    }


def test_unknown_key_with_a_suggestion() -> None:
    assert problems("""
        jobs:
          a:
            endpoint: member/info
            evry: 1h
    """) == ["jobs.yaml:5: jobs.a.evry: unknown key; did you mean `every`?"]


def test_unknown_top_level_and_default_keys() -> None:
    found = problems("""
        defaults:
          jiter: 1m
        jbos:
          a: {endpoint: member/info, every: 1h}
    """)
    assert "jobs.yaml:3: defaults.jiter: unknown key; did you mean `jitter`?" in found
    assert "jobs.yaml:4: jbos: unknown key; did you mean `jobs`?" in found


def test_bad_duration_names_the_field() -> None:
    assert problems("""
        jobs:
          a:
            endpoint: member/info
            every: 5 minutes
    """) == ["jobs.yaml:5: jobs.a.every: '5 minutes' is not a duration (use 30s, 15m, 1h or 1d)"]


def test_duplicate_job_names() -> None:
    assert problems("""
        jobs:
          a: {endpoint: member/info, every: 1h}
          a: {endpoint: series/get, every: 1h}
    """) == ["jobs.yaml:4: jobs.a: duplicate key (first on line 3)"]


def test_missing_endpoint_and_schedule() -> None:
    found = problems("""
        jobs:
          a:
            params: {cust_id: 1}
    """)
    assert found == [
        "jobs.yaml:3: jobs.a.endpoint: missing: which /data endpoint, e.g. member/info",
        "jobs.yaml:3: jobs.a: needs a schedule: `every` (30s, 15m, 1h, 1d) or `cron`, here or "
        "in `defaults`",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "endpoint: member info\n    every: 1h",
            "jobs.yaml:3: jobs.a.endpoint: 'member info' is not an endpoint like `results/get`",
        ),
        (
            "endpoint: member/info\n    every: 1h\n    cron: '* * * * *'",
            "jobs.yaml:2: jobs.a: has both `every` and `cron`: choose one",
        ),
        (
            "endpoint: member/info\n    cron: '61 * * * *'",
            "jobs.yaml:4: jobs.a.cron: '61 * * * *': ",
        ),
        (
            "endpoint: member/info\n    cron: 'hourly'",
            "jobs.yaml:4: jobs.a.cron: 'hourly' is not a cron expression of five fields",
        ),
        (
            "endpoint: member/info\n    every: 1h\n    enabled: yes please",
            "jobs.yaml:5: jobs.a.enabled: expected true or false, got 'yes please'",
        ),
        (
            "endpoint: member/info\n    every: 1h\n    retries: -1",
            "jobs.yaml:5: jobs.a.retries: expected a whole number from 0 to 10, got -1",
        ),
        (
            "endpoint: member/info\n    every: 1h\n    params: {cust_id: {deep: 1}}",
            "jobs.yaml:5: jobs.a.params.cust_id: expected a value or a list of values, got dict",
        ),
        (
            "endpoint: member/info\n    every: 1h\n    params: [1, 2]",
            "jobs.yaml:5: jobs.a.params: expected a mapping of parameter names to values",
        ),
    ],
)
def test_each_mistake_has_its_line(body: str, expected: str) -> None:
    found = problems(f"jobs:\n  a:\n    {body}\n")
    assert any(p.startswith(expected) for p in found), found


def test_bad_job_name() -> None:
    found = problems("jobs:\n  'bad name!':\n    endpoint: member/info\n    every: 1h\n")
    assert found[0].startswith("jobs.yaml:2: jobs.bad name!: a job name is letters")


def test_yaml_syntax_error_has_its_line() -> None:
    found = problems("jobs:\n  a:\n    endpoint: member/info\n   every: [1h\n")
    assert found[0].startswith("jobs.yaml:")
    assert "not valid YAML" in found[0]


def test_the_error_line_is_one_line_with_a_count() -> None:
    with pytest.raises(JobsError) as caught:
        parse("jobs:\n  a: {evry: 1h}\n  b: {endpoint: x}\n")
    message = str(caught.value)
    assert "\n" not in message
    assert "more; `harvester jobs validate` lists them" in message


def test_empty_and_jobless_files() -> None:
    assert parse("").jobs == {}
    assert parse("jobs:\n").jobs == {}
    assert problems("defaults: {every: 1h}\n") == [
        "jobs.yaml:1: jobs: missing: add a `jobs:` mapping of job names"
    ]


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such jobs file") as raised:
        load_jobs_file(tmp_path / "nope.yaml")
    # the installed wheel has no example file to copy: the command that writes one
    assert "`harvester jobs init`" in str(raised.value)


def test_the_example_jobs_file_is_valid() -> None:
    config = load_jobs_file(REPO / "jobs.yaml")
    assert "member_info" in config.jobs
