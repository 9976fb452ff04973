"""The one jobs.yaml loader: bounded non-blocking reads, schedule limits, `{env:NAME}` from the
settings' environment, one-pass validation with honest counts, and one grammar of times."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester._config.incremental import parse_start
from harvester._config.jobs import JobsError
from harvester._config.jobs_file import MAX_JOBS_FILE_BYTES, fingerprint, load_jobs_file
from harvester._config.settings import load_settings
from harvester._config.templates import render
from harvester._core.clock import ManualClock, parse_iso
from harvester._core.durations import parse_moment
from harvester._core.errors import ConfigError
from harvester._observe.reports import parse_since
from tests.helpers import CliResult


def write(folder: Path, text: str) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(text)
    return path


def test_a_symlink_to_a_device_is_refused_without_reading(tmp_path: Path) -> None:
    link = tmp_path / "jobs.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"jobs.yaml: not a regular file \(a device\)"):
        load_jobs_file(link)
    assert fingerprint(link).startswith("unreadable")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "jobs.yaml"
    os.mkfifo(fifo)
    outcome: list[str] = []

    def load() -> None:
        try:
            load_jobs_file(fifo)
        except ConfigError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(10)  # a blocking open would never return (no writer)
    assert outcome and "not a regular file (a FIFO)" in outcome[0]


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "#" * (MAX_JOBS_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than 1,000,000 bytes"):
        load_jobs_file(path)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("every: 0.0001s", "jobs.a.every: '0.0001s' is under one second"),
        ("{every: 1m, jitter: 2m}", "jobs.a.jitter: '2m' is longer than the interval (1m)"),
    ],
)
def test_schedules_that_cannot_work_are_refused(
    tmp_path: Path, schedule: str, message: str
) -> None:
    body = schedule if schedule.startswith("{") else "{" + schedule + "}"
    text = "jobs:\n  a: " + body.replace("{", "{endpoint: member/info, ", 1) + "\n"
    with pytest.raises(JobsError) as caught:
        load_jobs_file(write(tmp_path, text))
    assert [str(p) for p in caught.value.problems] == [f"{tmp_path / 'jobs.yaml'}:2: {message}"]


def test_a_jitter_of_zero_is_accepted(tmp_path: Path) -> None:
    text = "jobs:\n  a: {endpoint: member/info, every: 1h, jitter: 0s}\n"
    assert load_jobs_file(write(tmp_path, text)).jobs["a"].schedule.jitter == 0


ENV_JOBS = """\
jobs:
  mine: {endpoint: member/info, every: 1h, params: {cust_id: "{env:MY_CUST_ID}"}}
  other: {endpoint: constants/categories, every: 1d}
"""


def test_env_templates_read_dotenv_and_an_unset_one_disables_only_its_job(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, ENV_JOBS)
    (tmp_path / ".env").write_text("MY_CUST_ID=123\n")
    settings = load_settings()
    config = load_jobs_file(path, strict=False, env=settings.env())
    assert config.jobs["mine"].enabled and render("{env:MY_CUST_ID}", 0, settings.env()) == "123"
    (tmp_path / ".env").write_text("")
    config = load_jobs_file(path, strict=False, env=load_settings().env())
    assert not config.jobs["mine"].enabled and config.jobs["other"].enabled
    (problem,) = config.problems_of("mine")
    assert "MY_CUST_ID is not set" in str(problem) and str(problem).startswith(f"{path}:2:")


def test_an_unset_variable_leaves_other_commands_working(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    write(tmp_path, ENV_JOBS)
    env = {"HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    listing: CliResult = run_cli("jobs", "--format", "json", env=env)
    assert listing.code == 0, listing.err
    refused: CliResult = run_cli("run", "mine", env=env)
    assert refused.code == 2 and "MY_CUST_ID is not set" in refused.err
    validate: CliResult = run_cli("jobs", "validate", env=env)
    assert validate.code == 1 and "MY_CUST_ID is not set" in validate.err


def test_a_job_reading_harvesters_own_secret_is_refused_at_its_line(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    """`{env:HARVESTER_HTTP_TOKEN}` as a parameter is an error at its line: the job never runs,
    so the token is never sent to iRacing nor stored in results.params."""
    text = ENV_JOBS.replace("MY_CUST_ID", "HARVESTER_HTTP_TOKEN")
    path = write(tmp_path, text)
    env = {
        "HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HARVESTER_HTTP_TOKEN": "dashboard-token-value",
    }
    validate: CliResult = run_cli("jobs", "validate", env=env)
    assert validate.code == 1
    assert validate.err.startswith(f"{path.name}:2: jobs.mine.params.cust_id:")
    assert "never template values" in validate.err
    assert "dashboard-token-value" not in validate.err + validate.out
    refused: CliResult = run_cli("run", "mine", env=env)
    assert refused.code != 0 and "dashboard-token-value" not in refused.err + refused.out
    assert not (tmp_path / "h.db").exists() or "dashboard-token-value" not in (
        tmp_path / "h.db"
    ).read_bytes().decode("latin-1")


def test_validate_counts_only_your_jobs_and_says_the_catalogue_was_skipped(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    write(tmp_path, "jobs:\n  a: {endpoint: member/info, every: 1h}\n")
    env = {"HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    result: CliResult = run_cli("jobs", "validate", env=env)
    assert result.code == 0, result.err
    assert "1 job(s), 1 enabled: valid" in result.out
    assert "catalogue checks skipped: no catalogue stored yet" in result.out


def test_one_grammar_of_times() -> None:
    now = parse_iso("2026-11-28T06:47:00Z")
    week_ago = now - 7 * 86400
    clock = ManualClock(now)
    for text in ("7d", "-7d", "now-7d", "1w"):
        assert parse_moment(text, now) == week_ago
        assert parse_start(text, now) == week_ago  # backfill --since, incremental.start
        assert parse_since(text, clock) == "2026-11-21T06:47:00Z"  # runs --since
    assert render("{-7d}", now, {}) == render("{now-7d}", now, {}) == "2026-11-21T06:47Z"
    assert render("{today-1d}", now, {}) == "2026-11-27"
    assert parse_moment("2026-09-01", now) == parse_start("2026-09-01", now)
    with pytest.raises(ValueError, match="is neither a date"):
        parse_moment("last week", now)


def test_jobs_shows_why_a_job_is_disabled(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    import json

    write(tmp_path, ENV_JOBS)
    env = {"HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    result: CliResult = run_cli("jobs", "--format", "json", env=env)
    rows = {row["job"]: row for row in json.loads(result.out)}
    assert "MY_CUST_ID is not set" in rows["mine"]["disabled"]
    assert rows["other"]["disabled"] is None


def test_a_finished_progress_bar_ends_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from harvester._cli.progress import ProgressBar

    bar = ProgressBar("job")
    bar.update(SimpleNamespace(done=1, total=2, rate_per_minute=1.0, eta_seconds=60.0))
    bar.update(SimpleNamespace(done=2, total=2, rate_per_minute=1.0, eta_seconds=0.0))
    bar.close()
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1


def test_a_backfill_run_is_not_the_jobs_last_run_for_scheduling(
    runtime: object, clock: ManualClock, tmp_path: Path
) -> None:
    from harvester._service.runtime import Runtime
    from harvester._service.service import Service

    assert isinstance(runtime, Runtime)
    runtime.archive.open_run("recent", "schedule")
    clock.advance(600)
    runtime.archive.open_run("recent", "backfill")
    service = Service(runtime, tmp_path / "jobs.yaml")
    assert service._last_started()["recent"] == clock.now() - 600
