"""Incremental harvesting: windows, templates, paths, cursor and fan-out jobs, backfills."""

from __future__ import annotations

import itertools
import json
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from harvester._config.incremental import (
    SETTLE_SECONDS,
    Window,
    advance,
    closed_windows,
    parse_start,
    plan_windows,
)
from harvester._config.jobs import JobsError, JobSpec
from harvester._config.jobs_yaml import parse_jobs
from harvester._config.settings import Settings
from harvester._config.templates import TemplateError, render
from harvester._core.clock import ManualClock, iso_seconds, parse_iso
from harvester._core.jsonpath import compile_path, extract
from harvester._service.backfill import Progress, run_backfill
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings

DAY = 86400.0


@pytest.fixture
def settings(tmp_path: Path, sim: Simulator, backend: str) -> Settings:
    """Cursors, fan-out and backfills run on both backends: SQLite and PostgreSQL."""
    return make_settings(tmp_path, sim.base_url, database_url=backend)


# -- pure pieces ------------------------------------------------------------------------------


def test_windows_cover_everything_without_gaps_or_overlap() -> None:
    windows = list(plan_windows(0.0, 10 * DAY, 3 * DAY))
    assert windows[0].begin == 0.0
    for before, after in itertools.pairwise(windows):
        assert before.end == after.begin  # the next begins exactly where one ends
        assert before.end is not None and before.end - before.begin <= 3 * DAY
    assert windows[-1].end is None and 10 * DAY - windows[-1].begin <= 3 * DAY
    assert list(plan_windows(5.0, 6.0, DAY)) == [Window(5.0, None)]


def test_closed_windows_cover_exactly() -> None:
    windows = closed_windows(0.0, 10 * DAY, 4 * DAY)
    assert [(w.begin, w.end) for w in windows] == [
        (0.0, 4 * DAY),
        (4 * DAY, 8 * DAY),
        (8 * DAY, 10 * DAY),
    ]


def test_the_cursor_never_moves_back_and_skips_settled_empty_windows() -> None:
    now = 100 * DAY
    assert advance(10.0, Window(10.0, None), None, now) == 10.0
    assert advance(10.0, Window(10.0, None), 5.0, now) == 10.0
    assert advance(10.0, Window(10.0, None), 50.0, now) == 50.0
    old = Window(10.0, 20.0)  # settled long ago, and nothing ended in it
    assert advance(10.0, old, None, now) == 20.0
    fresh = Window(now - 100, now - SETTLE_SECONDS / 2)  # not settled: stay where we are
    assert advance(now - 100, fresh, None, now) == now - 100
    # a value seen in the last hour moves the cursor only to an hour ago: late results are
    # asked for again next time (and counted as duplicates if they were already there)
    assert advance(0.0, Window(0.0, None), now - 60, now) == now - SETTLE_SECONDS


def test_start_values() -> None:
    now = parse_iso("2026-11-28T00:00:00Z")
    assert parse_start("2026-09-01", now) == parse_iso("2026-09-01T00:00:00Z")
    assert parse_start("2026-09-01T06:30Z", now) == parse_iso("2026-09-01T06:30:00Z")
    assert parse_start("-7d", now) == now - 7 * DAY
    with pytest.raises(ValueError, match="is neither a date"):
        parse_start("last week", now)


def test_templates() -> None:
    now = parse_iso("2026-11-28T06:47:33Z")
    env = {"CUST": "123"}
    assert render("{now}", now, env) == "2026-11-28T06:47Z"
    assert render("{today}", now, env) == "2026-11-28"
    assert render("{-7d}", now, env) == "2026-11-21T06:47Z"
    assert render("{now-12h}", now, env) == "2026-11-27T18:47Z"
    assert render("{today-1d}", now, env) == "2026-11-27"
    assert render("id-{env:CUST}", now, env) == "id-123"
    assert render("plain", now, env) == "plain"
    for bad in ("{nw}", "{env:MISSING}", "{-7x}", "{env:}"):
        with pytest.raises(TemplateError):
            render(bad, now, env)


@pytest.mark.parametrize(
    "name",
    [
        "HARVESTER_HTTP_TOKEN",
        "HARVESTER_ALERT_WEBHOOK",
        "HARVESTER_DATABASE_URL",
        "HARVESTER_READ_DATABASE_URL",
        "HARVESTER_KEY",
        "harvester_key_file",
        "IRACING_PASSWORD",
        "IRACING_CLIENT_SECRET",
        "IRACING_USERNAME",
        "PGPASSWORD",
        "GITHUB_TOKEN",
        "MY_API_KEY",
    ],
)
def test_a_secret_variable_is_never_a_template_value(name: str) -> None:
    """`{env:HARVESTER_HTTP_TOKEN}` in a job's params was sent to iRacing in the query string
    and stored in results.params; every harvester setting and any secret-named variable is
    refused, even when set, and the error names it without its value."""
    env = {name: "s3cr3t-value"}
    with pytest.raises(TemplateError, match="never template values") as refused:
        render(f"{{env:{name}}}", 0.0, env)
    assert name in str(refused.value) and "s3cr3t-value" not in str(refused.value)


def test_the_cust_id_and_other_plain_variables_are_template_values() -> None:
    env = {"IRACING_CUST_ID": "123", "LEAGUE_ID": "7", "HOME_TRACK": "spa"}
    assert [render(f"{{env:{n}}}", 0.0, env) for n in env] == ["123", "7", "spa"]


def test_json_paths() -> None:
    document = {"races": [{"subsession_id": 1}, {"subsession_id": 2}, {"other": 3}]}
    assert list(extract(document, compile_path("$.races[*].subsession_id"))) == [1, 2]
    assert list(extract(document, compile_path("$['races'][0].subsession_id"))) == [1]
    assert list(extract([{"a": 1}, {"a": 2}], compile_path("$[*].a"))) == [1, 2]
    assert list(extract({"x": 1}, compile_path("$[*].a"))) == []
    assert list(extract(document, compile_path("$.races[-1].other"))) == [3]
    for bad in ("races[*]", "$.races[*", "$..races", "$.races[x]"):
        with pytest.raises(ValueError, match=r"must start with|cannot read"):
            compile_path(bad)


# -- jobs.yaml -------------------------------------------------------------------------------

VALID = """
jobs:
  recent_results:
    endpoint: results/search_series
    every: 1h
    incremental: {cursor: end_time, param: finish_range_begin, start: 2026-09-01,
                  window: 90d, key: subsession_id}
  details:
    endpoint: results/get
    every: 1h
    for_each: {job: recent_results, path: "$[*].subsession_id", param: subsession_id}
"""


def test_cursor_and_fan_out_jobs_parse() -> None:
    config = parse_jobs(textwrap.dedent(VALID))
    cursor = config.jobs["recent_results"].incremental
    assert cursor is not None
    assert (cursor.cursor, cursor.param, cursor.end_param) == (
        "end_time",
        "finish_range_begin",
        "finish_range_end",
    )
    assert cursor.window == 90 * DAY and cursor.key == "subsession_id"
    fan = config.jobs["details"].for_each
    assert fan is not None and (fan.job, fan.param) == ("recent_results", "subsession_id")


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("start: 2026-09-01", "start: someday"),
        ("job: recent_results", "job: recent_result"),
        ('path: "$[*].subsession_id"', 'path: "subsession_id"'),
        ("cursor: end_time, ", ""),
    ],
)
def test_mistakes_in_incremental_jobs(replace: str, expected: str) -> None:
    broken = textwrap.dedent(VALID).replace(replace, expected)
    with pytest.raises(JobsError) as caught:
        parse_jobs(broken)
    message = " ".join(str(p) for p in caught.value.problems)
    hint = {
        "start: someday": "jobs.recent_results.incremental.start: 'someday' is neither a date",
        "job: recent_result": "no job named 'recent_result' in this file; did you mean "
        "`recent_results`?",
        'path: "subsession_id"': "must start with $",
        "": "jobs.recent_results.incremental.cursor: missing",
    }[expected]
    assert hint in message


def test_a_fan_out_cycle_and_a_param_set_twice_are_refused() -> None:
    circle = """
    jobs:
      a: {endpoint: results/get, every: 1h, for_each: {job: b, path: "$[*].x", param: x}}
      b: {endpoint: results/get, every: 1h, for_each: {job: a, path: "$[*].x", param: x}}
      c:
        endpoint: results/get
        every: 1h
        params: {subsession_id: 1}
        for_each: {job: a, path: "$[*].x", param: subsession_id}
    """
    with pytest.raises(JobsError) as caught:
        parse_jobs(textwrap.dedent(circle))
    message = " ".join(str(p) for p in caught.value.problems)
    assert "the jobs form a cycle (a -> b -> a)" in message
    assert "jobs.c.params.subsession_id: is set by `for_each`" in message


def test_unknown_templates_are_caught_with_their_line() -> None:
    text_ = "jobs:\n  a:\n    endpoint: member/info\n    every: 1h\n    params: {x: '{nw}'}\n"
    with pytest.raises(JobsError) as caught:
        parse_jobs(text_, env={})
    assert str(caught.value).startswith("jobs.yaml:5: jobs.a.params.x: unknown template {nw}")
    # an unset variable disables that job only, with its reason (jobs validate reports it)
    config = parse_jobs(text_.replace("{nw}", "{env:NOPE}"), env={})
    assert not config.jobs["a"].enabled
    assert "NOPE is not set" in str(config.problems_of("a")[0])


# -- against the simulator -------------------------------------------------------------------


def cursor_job(start: str, window: str = "2d") -> tuple[JobSpec, JobSpec, JobSpec]:
    config = parse_jobs(
        textwrap.dedent(f"""
        jobs:
          recent_results:
            endpoint: results/search_series
            every: 1h
            incremental: {{cursor: end_time, param: finish_range_begin, start: "{start}",
                          window: {window}, key: subsession_id}}
          details:
            endpoint: results/get
            every: 1h
            for_each: {{job: recent_results, path: "$[*].subsession_id", param: subsession_id}}
          laps:
            endpoint: results/event_log
            every: 1h
            params: {{simsession_number: 0}}
            for_each: {{job: recent_results, path: "$[*].subsession_id", param: subsession_id}}
    """)
    )
    return config.jobs["recent_results"], config.jobs["details"], config.jobs["laps"]


def fetched(rt: Runtime, job: str, param: str) -> Counter[str]:
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT params FROM results WHERE job = :job AND part = 0"), {"job": job}
        )
        return Counter(str(json.loads(r[0])[param]) for r in rows)


@pytest.mark.slow
def test_a_simulated_week_fetches_every_subsession_exactly_once(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    start = clock.now() - 2 * DAY
    recent, details, laps = cursor_job(iso_seconds(start))
    sim.config.chunk_size = 100
    step = 0
    while clock.now() < start + 9 * DAY:  # a week of polling after a first catch-up
        for spec in (recent, details, laps):
            outcome = runtime.runner.run(spec)
            assert outcome.status == "success", outcome.error
        step += 1
        clock.advance(3600 * (1 + step % 3))  # irregular polling: 1, 2, 3 hours
    with runtime.engine.connect() as conn:  # closed: a PostgreSQL connection must not leak
        value = conn.execute(text("SELECT value FROM cursors WHERE job = 'recent_results'"))
        cursor = parse_iso(str(value.scalar()))
    expected = {str(s) for s in sim.world.subsessions_ending_between(start, cursor)}
    got = fetched(runtime, "details", "subsession_id")
    assert expected <= set(got)  # nothing missed, at any window edge
    assert all(count == 1 for count in got.values())  # nothing fetched twice
    assert set(got) <= {str(s) for s in sim.world.subsessions_ending_between(start, clock.now())}
    assert set(fetched(runtime, "laps", "subsession_id")) == set(got)
    with runtime.engine.connect() as conn:
        rows_new, rows_dup = conn.execute(
            text("SELECT sum(rows_new), sum(rows_dup) FROM runs WHERE job = 'recent_results'")
        ).one()
    assert rows_new == len(got)  # each row counted new once; the edges again as duplicates
    assert rows_dup > 0


@pytest.mark.slow
def test_no_gap_at_a_window_edge(runtime: Runtime, sim: Simulator, clock: ManualClock) -> None:
    ends = sim.world.subsessions_ending_between(clock.now() - 3 * DAY, clock.now())
    first = ends[0]
    detail = sim.world.answer("results/get", {"subsession_id": str(first)}, clock.now()).body
    edge = parse_iso(detail["end_time"])  # a window begins exactly at a race's end
    recent, details, _ = cursor_job(iso_seconds(edge - DAY), window="1d")
    assert runtime.runner.run(recent).ok
    assert runtime.runner.run(details).ok
    assert str(first) in fetched(runtime, "details", "subsession_id")


def test_forbidden_and_missing_items_are_remembered_not_asked_again(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    config = parse_jobs(
        textwrap.dedent("""
        jobs:
          hosted:
            endpoint: results/search_hosted
            every: 1h
            params: {host_cust_id: 100001, session_name: ""}
            incremental: {cursor: end_time, param: finish_range_begin, start: -20d,
                          key: subsession_id}
          hosted_details:
            endpoint: results/get
            every: 1h
            for_each: {job: hosted, path: "$[*].subsession_id", param: subsession_id}
    """)
    )
    hosted = config.jobs["hosted"]
    hosted = JobSpec(
        name=hosted.name,
        endpoint=hosted.endpoint,
        params={"cust_id": 100001},
        incremental=hosted.incremental,
    )
    assert runtime.runner.run(hosted).ok
    first = runtime.runner.run(config.jobs["hosted_details"])
    assert first.status == "success", first.error
    assert first.counts.items_skipped >= 1  # private sessions answered 403
    requests = sim.state()["endpoints"]["results/get"]
    again = runtime.runner.run(config.jobs["hosted_details"])
    assert again.counts.requests == 0
    assert sim.state()["endpoints"]["results/get"] == requests
    with runtime.engine.connect() as conn:
        statuses: dict[str, int] = dict(
            conn.execute(text("SELECT status, count(*) FROM fanout_items GROUP BY status")).all()
        )
    assert set(statuses) == {"success", "forbidden"}


def test_failed_items_are_tried_again_next_run(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    recent, details, _ = cursor_job(iso_seconds(clock.now() - DAY / 4))
    assert runtime.runner.run(recent).ok
    runtime.session.login()
    sim.control({"fail_next": ["500"] * 4})  # the first item gives up
    first = runtime.runner.run(details)
    assert first.status == "failed"
    assert "1 of" in str(first.error) and "tried again next run" in str(first.error)
    second = runtime.runner.run(details)
    assert second.status == "success"
    assert second.counts.items_ok == 1


@pytest.mark.slow
def test_backfill_interrupted_and_resumed_equals_an_uninterrupted_one(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    since = clock.now() - 20 * DAY
    until = clock.now() - 2 * DAY
    recent, _, _ = cursor_job("-1d", window="2d")

    def archive_of(folder: str, interrupt_after: int | None) -> set[tuple[str, int, str]]:
        settings = make_settings(tmp_path / folder, sim.base_url)
        with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
            stop = threading.Event()
            seen: list[Progress] = []

            def report(progress: Progress) -> None:
                seen.append(progress)
                if interrupt_after is not None and progress.done == interrupt_after:
                    stop.set()

            first = run_backfill(rt, recent, since, until, report, stop)
            if interrupt_after is not None:
                assert first.status == "interrupted"
                resumed = run_backfill(rt, recent, since, None, report)
                assert resumed.ok, resumed.error
                assert seen[-1].done == seen[-1].total == 9
                assert resumed.counts.requests == 9 - interrupt_after
            else:
                assert first.ok and [p.done for p in seen] == list(range(10))
            with rt.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM cursors")).scalar() == 0
                return {
                    (str(p), int(n), str(s))
                    for p, n, s in conn.execute(
                        text(
                            "SELECT params, part, sha256 FROM results WHERE job = 'recent_results'"
                        )
                    )
                }

    assert archive_of("whole", None) == archive_of("resumed", 4)


def test_backfill_needs_a_cursor_job(runtime: Runtime, clock: ManualClock) -> None:
    from harvester._core.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a cursor job"):
        run_backfill(runtime, JobSpec(name="x", endpoint="member/info"), 0.0, None, lambda p: None)


@pytest.mark.slow
def test_parallel_fan_outs_ask_for_each_value_once(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    from harvester._archive import bookkeeping
    from harvester._core.counts import RunCounts

    recent, details, _ = cursor_job(iso_seconds(clock.now() - DAY / 2))
    assert runtime.runner.run(recent).ok
    spec = details.for_each
    assert spec is not None
    total = bookkeeping.collect_fanout_values(
        runtime.engine, details.name, spec.job, spec.steps, iso_seconds(clock.now())
    )
    assert total >= 4
    beside = runtime.archive.open_run(details.name, "cli")  # another run of it, in flight
    claimed = bookkeeping.claim_items(runtime.engine, details.name, beside, 3)
    before = sim.state()["endpoints"].get("results/get", 0)

    outcome = runtime.runner.run(details)
    assert outcome.ok, outcome.error
    assert outcome.counts.items_ok == total - len(claimed)  # the claimed three are left alone
    assert not set(claimed) & set(fetched(runtime, details.name, "subsession_id"))

    runtime.archive.finish_run(beside, "interrupted", RunCounts(), "it stopped")
    later = runtime.runner.run(details)  # a claim of a run that ended is taken over
    assert later.counts.items_ok == len(claimed)
    assert sim.state()["endpoints"]["results/get"] - before == total  # each value asked once
