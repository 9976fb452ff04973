"""The running figures of the runs (`run_hours`, `run_totals`, migration 0013): kept by
triggers on every way a run gets its final status, filled from the runs already there, and
what the dashboard, /metrics, /healthz and `harvester jobs` read from them is what counting
every run gives (the reads before 0013 are the references here)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from harvester._core.clock import parse_iso
from harvester._observe.reports import run_counts_since
from harvester._observe.web.reads import FAILURES, failure_streaks, run_history
from harvester._store import db
from tests.feeds.test_migration import migrate

JOBS = ("alpha", "beta", "gamma", "delta")
FINAL = ("success", "failed", "forbidden", "not_found", "maintenance", "skipped", "interrupted")
COLUMNS = "job, trigger, status, started_at, finished_at, ratelimit_remaining, duration_seconds"
INSERT = text(
    "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, bytes, "
    "documents_new, documents_dup, rows_new, rows_dup, ratelimit_remaining, duration_seconds) "
    "VALUES (:job, 'schedule', :status, :started, :finished, 0, 0, 0, 0, 0, 0, :left, :real)"
)


def stamp(seconds: int) -> str:
    day, rest = divmod(seconds, 86400)
    return f"2026-12-{1 + day:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z"


def random_runs(engine: Engine, count: int, seed: int) -> None:
    """Runs of every kind a writer makes: inserted final (skipped, a copy, a script), opened
    `running` then closed, left running, and edited after they closed (counted once)."""
    rng = random.Random(seed)
    with db.write(engine) as conn:
        for _ in range(count):
            start = rng.randrange(0, 3 * 86400)  # not in id order: a clock is not the ids
            status = rng.choice(FINAL)
            finished = None if rng.random() < 0.1 else stamp(start + rng.randrange(0, 90))
            row = {
                "job": rng.choice(JOBS),
                "status": status,
                "started": stamp(start),
                "finished": finished,
                "left": rng.choice((None, rng.randrange(0, 240))),
                "real": rng.choice((None, round(rng.uniform(0, 60), 3))),
            }
            way = rng.randrange(4)
            if way == 0:
                conn.execute(INSERT, row)
                continue
            conn.execute(INSERT, {**row, "status": "running", "finished": None})
            run_id = conn.execute(text("SELECT max(id) FROM runs")).scalar_one()
            if way == 1:
                continue  # still running: not counted
            conn.execute(
                text("UPDATE runs SET status = :status, finished_at = :finished WHERE id = :id"),
                {**row, "id": run_id},
            )
            if way == 3:  # a closed run edited again: no second count
                conn.execute(text("UPDATE runs SET error = 'x' WHERE id = :id"), {"id": run_id})


def seconds_of(status: str, started: str, finished: str | None, real: float | None) -> Any:
    if finished is None or status == "skipped":
        return None
    return real if real is not None else parse_iso(finished) - parse_iso(started)


def counted(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """run_hours and run_totals as counting every finished run gives them."""
    hours: dict[Any, list[Any]] = {}
    totals: dict[Any, list[Any]] = {}
    with db.read(engine) as conn:
        rows = conn.execute(text(f"SELECT {COLUMNS} FROM runs WHERE status <> 'running'")).all()
    for job, _, status, started, finished, left, real in rows:
        seconds = seconds_of(status, started, finished, real)
        h = hours.setdefault((started[:13], job, status), [0, 0, 0.0, None, None])
        h[0] += 1
        if seconds is not None:
            h[1] += 1
            h[2] += seconds
            h[3] = seconds if h[3] is None else max(h[3], seconds)
        if left is not None:
            h[4] = left if h[4] is None else min(h[4], left)
        t = totals.setdefault((job, status), [0, None, None])
        t[0] += 1
        t[1] = started if t[1] is None else max(t[1], started)
        if finished is not None:
            t[2] = finished if t[2] is None else max(t[2], finished)
    return (
        {k: (v[0], v[1], round(v[2], 3), v[3] and round(v[3], 3), v[4]) for k, v in hours.items()},
        {k: tuple(v) for k, v in totals.items()},
    )


def kept(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    with db.read(engine) as conn:
        hours = {
            (h, j, s): (n, sn, round(ss or 0.0, 3), sm and round(sm, 3), rl)
            for h, j, s, n, sn, ss, sm, rl in conn.execute(text("SELECT * FROM run_hours"))
        }
        totals = {
            (j, s): (n, ls, lf)
            for j, s, n, ls, lf in conn.execute(text("SELECT * FROM run_totals"))
        }
    return hours, totals


@pytest.mark.slow
def test_the_triggers_keep_the_figures_of_every_finished_run(backend: str) -> None:
    engine = db.open_database(backend)
    random_runs(engine, 400, seed=5)
    assert kept(engine) == counted(engine)
    engine.dispose()


@pytest.mark.migrations
@pytest.mark.slow
def test_0013_fills_the_figures_from_the_runs_there_and_its_downgrade_drops_them(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'harvester.db'}"
    migrate(url, "0012")
    engine = db.create_db_engine(url)
    random_runs(engine, 300, seed=8)  # before 0013: no triggers yet
    migrate(url, "0013")
    assert kept(engine) == counted(engine)
    random_runs(engine, 100, seed=9)  # and kept from there on
    assert kept(engine) == counted(engine)
    migrate(url, "0012", down=True)
    with db.read(engine) as conn:
        names = set(conn.execute(text("SELECT name FROM sqlite_master")).scalars())
    assert not {"run_hours", "run_totals", "runs_figures_insert", "ix_runs_job_id"} & names
    engine.dispose()


@pytest.mark.migrations
@pytest.mark.slow
def test_0013_on_postgresql_fills_and_keeps_the_figures(request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("postgres_server")
    url = server.new_database(migrated=False)
    migrate(url, "0012")
    engine = db.create_db_engine(url)
    random_runs(engine, 200, seed=3)
    migrate(url, "0013")
    random_runs(engine, 100, seed=4)
    assert kept(engine) == counted(engine)
    engine.dispose()
    migrate(url, "0012", down=True)
    migrate(url, "0013")


# -- the reads against counting every run --------------------------------------------------------


def history_by_counting(engine: Engine, since: str) -> tuple[Any, Any, Any]:
    """run_history as it was before 0013: a loop over every run of the hours plotted."""
    runs: dict[Any, int] = {}
    spans: dict[Any, list[float]] = {}
    lowest: dict[str, int] = {}
    with db.read(engine) as conn:
        rows = conn.execute(
            text(f"SELECT {COLUMNS} FROM runs WHERE started_at >= :s AND status <> 'running'"),
            {"s": since},
        ).all()
    for job, _, status, started, finished, left, real in rows:
        hour = started[:13]
        runs[(hour, status)] = runs.get((hour, status), 0) + 1
        if left is not None and (hour not in lowest or left < lowest[hour]):
            lowest[hour] = left
        seconds = seconds_of(status, started, finished, real)
        if seconds is not None:
            spans.setdefault((job, hour), []).append(seconds)
    durations: dict[str, list[Any]] = {}
    for (job, hour), values in sorted(spans.items()):
        durations.setdefault(job, []).append(
            (hour, round(sum(values) / len(values), 3), round(max(values), 3))
        )
    return runs, durations, sorted(lowest.items())


def streaks_by_counting(engine: Engine) -> dict[str, int]:
    """failure_streaks as it was before 0013: every job's newest 200 runs, one by one."""
    streaks = {}
    with db.read(engine) as conn:
        for job in JOBS:
            statuses = conn.execute(
                text(
                    "SELECT status FROM runs WHERE job = :j "
                    "ORDER BY started_at DESC, id DESC LIMIT 200"
                ),
                {"j": job},
            ).scalars()
            streak = 0
            for status in statuses:
                if status == "success":
                    break
                streak += status in FAILURES
            if streak:
                streaks[job] = streak
    return streaks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_dashboard_history_is_what_counting_every_run_gives(tmp_path: Path, seed: int) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    random_runs(engine, 300, seed=seed)
    since = stamp(86400 + 5 * 3600 + 17)  # mid-hour: the whole hour is plotted
    history = run_history(engine, since)
    runs, durations, lowest = history_by_counting(engine, since[:13])
    assert history.runs == runs
    assert {
        job: [(h, round(m, 3), round(x, 3)) for h, m, x in points]
        for job, points in history.durations.items()
    } == durations
    assert history.budget == lowest
    engine.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_failure_streaks_are_what_reading_every_job_gives(tmp_path: Path, seed: int) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    random_runs(engine, 60, seed=seed)  # few runs: some jobs end failing, some not
    assert failure_streaks(engine, JOBS) == streaks_by_counting(engine)
    assert failure_streaks(engine, ["alpha"]) == {
        j: n for j, n in streaks_by_counting(engine).items() if j == "alpha"
    }
    engine.dispose()


def test_a_job_whose_failure_started_before_its_success_is_not_failing(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    with db.write(engine) as conn:
        for job, status, started in (
            ("alpha", "success", stamp(100)),
            ("alpha", "failed", stamp(50)),  # recorded later, started earlier
            ("beta", "failed", stamp(10)),
            ("beta", "skipped", stamp(20)),
            ("gamma", "success", stamp(10)),
            ("gamma", "not_found", stamp(10)),  # the same second: newer by id
        ):
            conn.execute(
                INSERT,
                {"job": job, "status": status, "started": started, "finished": started}
                | {"left": None, "real": 1.0},
            )
    assert failure_streaks(engine, JOBS) == {"beta": 1, "gamma": 1}
    assert streaks_by_counting(engine) == {"beta": 1, "gamma": 1}
    engine.dispose()


def test_runs_counted_since_a_time_include_the_running(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    random_runs(engine, 200, seed=12)
    since = stamp(2 * 86400)
    with db.read(engine) as conn:
        expected: dict[str, int] = dict(
            conn.execute(
                text("SELECT status, count(*) FROM runs WHERE started_at >= :s GROUP BY status"),
                {"s": since},
            ).all()
        )
    assert "running" in expected
    assert run_counts_since(engine, since) == expected
    engine.dispose()
