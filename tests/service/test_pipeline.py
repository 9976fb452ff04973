"""The service as a pipeline, on the simulator and on both backends: a chain of three (a search,
each race's result, its laps) and a job `after` it flow through in one pass at start-up and
after a reload, follow each parent run that finds new values, never run twice for one parent
run, and `runs` records what started each run."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from harvester._core.clock import ManualClock
from harvester._core.logs import configure_logging
from harvester._service.service import Service
from harvester.simulator import Simulator
from tests.helpers import CliResult, HeldRequest, env_for, wait_for
from tests.service.test_scheduler import Harness

ME = 100_001  # the simulator's authenticated member: whose races the search asks for

CHAIN = f"""\
jobs:
  search:
    endpoint: results/search_series
    every: 1h
    params: {{cust_id: {ME}}}
    incremental: {{cursor: end_time, param: finish_range_begin, start: -7d, key: subsession_id}}
  details:
    endpoint: results/get
    every: 1d
    for_each: {{job: search, path: "$[*].subsession_id", param: subsession_id}}
  laps:
    endpoint: results/lap_data
    every: 1d
    params: {{simsession_number: 0, cust_id: {ME}}}
    for_each: {{job: details, path: "$.subsession_id", param: subsession_id}}
  charts:
    endpoint: member/chart_data
    params: {{category_id: 5, chart_type: 1}}
    every: 1d
    after: details
  recent:
    endpoint: stats/member_recent_races
    every: 1d
    after: search
"""


@pytest.fixture
def harness(tmp_path: Path, sim: Simulator, clock: ManualClock, backend: str) -> Iterator[Harness]:
    h = Harness(tmp_path, sim, clock, database_url=backend)
    h.runtime.session.login()
    yield h
    h.close()


def rows(h: Harness, sql: str) -> list[dict[str, object]]:
    with h.runtime.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def runs_of(h: Harness, job: str) -> list[tuple[object, ...]]:
    """(id, trigger, parent_run_id, status) of a job's runs, oldest first."""
    return [
        (r["id"], r["trigger"], r["parent_run_id"], r["status"])
        for r in rows(
            h,
            f"SELECT id, trigger, parent_run_id, status FROM runs WHERE job = '{job}' ORDER BY id",
        )
    ]


def settle(service: Service, clock: ManualClock) -> None:
    """Every run due by now has been handed out and has ended, and nothing waits."""
    now = clock.now()

    def settled() -> bool:
        looked_at = service.scheduler.looked_at
        idle = not service.running and not service.pipeline.waiting
        return looked_at is not None and looked_at >= now and idle

    wait_for(settled)


def step(service: Service, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    service.scheduler.wakeup()
    settle(service, clock)


def test_a_chain_of_three_flows_through_in_one_pass_at_start_up(
    harness: Harness, clock: ManualClock, run_cli: Callable[..., CliResult]
) -> None:
    harness.write(CHAIN)
    service = harness.start()
    settle(service, clock)
    [(search, trigger, parent, status)] = runs_of(harness, "search")
    assert (trigger, parent, status) == ("startup", None, "success")
    # each child waited for its parent's run, and ran once after it, on what it committed
    [(details, *rest)] = runs_of(harness, "details")
    assert rest == ["startup", search, "success"]
    [(laps, *rest)] = runs_of(harness, "laps")
    assert rest == ["startup", details, "success"]
    assert [tuple(r[1:]) for r in runs_of(harness, "charts")] == [("startup", details, "success")]
    assert [tuple(r[1:]) for r in runs_of(harness, "recent")] == [("startup", search, "success")]
    assert int(str(search)) < int(str(details)) < int(str(laps))  # parents first
    # not `requests 0`: the races the search found are in the tables after the first pass
    found = rows(harness, "SELECT requests FROM runs WHERE job = 'details'")[0]["requests"]
    assert isinstance(found, int) and found >= 2
    results = rows(harness, "SELECT count(DISTINCT subsession_id) AS n FROM session_results")
    lapped = rows(harness, "SELECT count(DISTINCT subsession_id) AS n FROM laps")
    assert results[0]["n"] == found and lapped[0]["n"] == found
    # `harvester runs` shows what started each run; `harvester jobs` the graph
    env = env_for(harness.settings)
    shown = [
        json.loads(line) for line in run_cli("runs", "--format", "ndjson", env=env).out.splitlines()
    ]
    chain = [r for r in reversed(shown) if r["job"] in ("search", "details", "laps")]
    assert [(r["job"], r["trigger"], r["parent_run"]) for r in chain] == [
        ("search", "startup", None),
        ("details", "startup", search),
        ("laps", "startup", details),
    ]
    graph = {
        j["job"]: (j["parents"], j["children"])
        for j in json.loads(run_cli("jobs", "--format", "json", env=env).out)
    }
    assert graph["search"] == (None, "details, recent")
    assert graph["details"] == ("search", "laps, charts")
    assert graph["charts"] == ("details", None)
    configure_logging("INFO", "json", io.StringIO())  # not into the command's closed stderr


def test_children_follow_each_parent_run_that_finds_new_values_once(
    harness: Harness, clock: ManualClock
) -> None:
    harness.write(CHAIN)
    service = harness.start()
    settle(service, clock)
    first = {job: len(runs_of(harness, job)) for job in ("details", "laps", "charts", "recent")}
    for _ in range(23):  # hour by hour: the search runs each hour; two races end (the
        step(service, clock, 3600)  # children's own daily sweep is not due yet)
    searches = rows(
        harness, "SELECT id, rows_new FROM runs WHERE job = 'search' AND trigger = 'schedule'"
    )
    assert len(searches) == 23
    finding = [r["id"] for r in searches if isinstance(r["rows_new"], int) and r["rows_new"] > 0]
    assert 1 <= len(finding) < len(searches)  # the races that ended this day, not every hour
    details = runs_of(harness, "details")[first["details"] :]
    # one details run per search run that found new values, started by it, and no other
    assert [(t, p, s) for _, t, p, s in details] == [("parent", f, "success") for f in finding]
    for job in ("laps", "charts"):  # and each of those starts the next step of the chain once
        followed = runs_of(harness, job)[first[job] :]
        assert [(t, p, s) for _, t, p, s in followed] == [
            ("parent", d[0], "success") for d in details
        ]
    # a job `after` the search follows the runs that found new races, not those whose window
    # only moved on (a new document, no new row)
    recent = runs_of(harness, "recent")[first["recent"] :]
    assert [(t, p, s) for _, t, p, s in recent] == [("parent", f, "success") for f in finding]
    assert not rows(harness, "SELECT id FROM runs WHERE status = 'skipped'")
    ids = rows(harness, "SELECT count(DISTINCT subsession_id) AS n FROM laps")[0]["n"]
    assert ids == rows(harness, "SELECT count(*) AS n FROM fanout_items WHERE job = 'laps'")[0]["n"]


def test_after_a_reload_the_chain_runs_parents_first(harness: Harness, clock: ManualClock) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    service = harness.start()
    settle(service, clock)
    harness.write(CHAIN + "  info: {endpoint: member/info, every: 1h}\n")
    assert service.reload() is True
    settle(service, clock)
    [(search, *rest)] = runs_of(harness, "search")
    assert rest == ["reload", None, "success"]
    [(details, *rest)] = runs_of(harness, "details")
    assert rest == ["reload", search, "success"]
    assert [tuple(r[1:]) for r in runs_of(harness, "laps")] == [("reload", details, "success")]
    assert [r[1] for r in runs_of(harness, "info")] == ["startup"]  # unchanged: not run again


def test_a_child_in_flight_when_its_parent_commits_is_skipped_then_runs_once_after(
    harness: Harness, sim: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldRequest(sim.data.handle, at=1, path="/data/results/get")
    monkeypatch.setattr(sim.data, "handle", held)
    harness.write(CHAIN.split("  laps:")[0])  # search and details
    service = harness.start()
    try:
        assert held.reached.wait(30), "the details' first request was never asked"
        clock.advance(15 * 3600)  # a race has ended; the search comes due while details runs
        service.scheduler.wakeup()
        wait_for(lambda: any(r[3] == "skipped" for r in runs_of(harness, "details")))
    finally:
        held.release.set()
    settle(service, clock)
    searches = runs_of(harness, "search")
    assert [r[1] for r in searches] == ["startup", "schedule"]
    later = searches[1][0]
    assert [tuple(r[1:]) for r in runs_of(harness, "details")] == [
        ("startup", searches[0][0], "success"),
        ("parent", later, "skipped"),  # it was in flight ...
        ("parent", later, "success"),  # ... and runs once right after it
    ]
    [skipped] = rows(harness, "SELECT error FROM runs WHERE status = 'skipped'")
    assert "still running (it runs once that one ends)" in str(skipped["error"])
    newest = rows(harness, "SELECT requests FROM runs WHERE job = 'details' ORDER BY id DESC")
    [found] = rows(harness, f"SELECT rows_new FROM runs WHERE id = {later}")
    assert isinstance(found["rows_new"], int) and found["rows_new"] >= 1
    assert newest[0]["requests"] == found["rows_new"]  # the new races, nothing asked twice
