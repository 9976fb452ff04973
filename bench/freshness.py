"""(k) Freshness: how long a new race takes from a search answer to the analysis tables.

harvester's `Service` runs the `my-results` template with its default schedules (the hourly
search, the fan-outs and the jobs after it) against an in-process simulator whose member races
often (a race every 30 minutes in each of two series, about 34 a day) on a `ManualClock`, for
DAYS simulated days. The clock moves from one due run to the next; each HTTP request the
service sends takes REQUEST_SECONDS of that clock (counted once per request, even when four
workers send theirs at once: the delays are an upper bound). The world starts two days before
the service, so the first search's backlog is small.

For every race that ends while the service runs: the harvester-clock seconds from the first
stored search answer that lists it (`my_results`) to its rows being stored in both
`session_results` (`my_result_details`) and `laps` (`my_laps`), the later of the two; p50 and
p95 over the races, with the pipeline on and, as the baseline, "before": the same service with
children not following their parents and the template as it was (the fan-outs on their own
hourly schedule, nothing `after` the search).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator

import httpx
from sqlalchemy import Connection, text

from harvester._cli.jobs_init import template_text
from harvester._core.clock import ManualClock, parse_iso
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.world import World, WorldConfig

from .common import BenchError, Goal, Options, Result, scratch, sim_settings

SCENARIO = "freshness"
GOAL = Goal("<", 60.0, "< 60 s", on="harvester")
ENOUGH = Goal(">=", 50, "≥ 50", on="harvester")
REQUEST_SECONDS = 0.25  # harvester-clock seconds each request takes
DAYS = 2.0
# a member who races often: 100 drivers share each series' grids (a race every 30 minutes)
WORLD = WorldConfig(driver_pool=100, race_interval_minutes=30, history_days=2)
ME = WORLD.me_cust_id


def run(options: Options) -> list[Result]:
    days = 1.0 if options.quick else DAYS
    after = _measure(pipeline_on=True, days=days)
    before = _measure(pipeline_on=False, days=days)
    note = (
        f"{len(after.delays)} races ending during {days:g} simulated days, my-results template, "
        f"each request {REQUEST_SECONDS:g} s of harvester's clock; baseline: children on their "
        "own hourly schedule (before the pipeline)"
    )
    if after.missing or before.missing:
        note += f"; not yet stored at the end: {after.missing} (baseline {before.missing})"
    return [
        Result(
            SCENARIO,
            "p95 s from a race in a search answer to its rows in session_results and laps",
            "s",
            after.p95,
            before.p95,
            goal=GOAL,
            note=note,
        ),
        Result(
            SCENARIO,
            "p50 s from a race in a search answer to its rows in session_results and laps",
            "s",
            after.p50,
            before.p50,
            note=f"real time for {days:g} days: {after.real:.0f} s (baseline {before.real:.0f} s)",
        ),
        Result(
            SCENARIO,
            "new races measured (ended while the service ran)",
            "count",
            float(len(after.delays)),
            float(len(before.delays)),
            goal=None if options.quick else ENOUGH,
        ),
    ]


class Measured:
    def __init__(self, delays: list[float], missing: int, real: float) -> None:
        self.delays = sorted(delays)
        self.missing = missing
        self.real = real

    @property
    def p50(self) -> float:
        return statistics.median(self.delays) if self.delays else float("nan")

    @property
    def p95(self) -> float:
        if len(self.delays) < 2:
            return self.delays[0] if self.delays else float("nan")
        return statistics.quantiles(self.delays, n=20, method="inclusive")[-1]


class _Timed(httpx.BaseTransport):
    """The simulator, each request taking REQUEST_SECONDS of the manual clock."""

    def __init__(self, sim: Simulator, clock: ManualClock) -> None:
        self.inner = SimulatorTransport(sim)
        self.clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.clock.advance(REQUEST_SECONDS)
        return response


def jobs_text(pipeline_on: bool) -> str:
    """The my-results template; for the baseline, as it was before the pipeline."""
    template = template_text("my-results")
    if pipeline_on:
        return template
    old = re.sub(r"\n\s*after: my_results[^\n]*", "", template)
    old, fan_outs = re.subn(r"every: 6h[^\n]*", "every: 1h", old)
    if fan_outs < 3 or re.search(r"^\s+after:", old, re.MULTILINE):
        raise BenchError("the my-results template changed: update the baseline's schedules")
    return old


def _measure(pipeline_on: bool, days: float) -> Measured:
    with scratch(SCENARIO) as folder:
        clock = ManualClock(WORLD.origin)
        sim = Simulator(SimConfig(), clock, world=World(WORLD))
        settings = sim_settings(folder, sim.base_url, environment={"IRACING_CUST_ID": str(ME)})
        settings.jobs_path.write_text(jobs_text(pipeline_on), encoding="utf-8")
        started = time.monotonic()
        with open_runtime(settings, transport=_Timed(sim, clock), clock=clock) as rt:
            rt.session.login()
            began = clock.now()
            options = ServiceOptions(workers=4, follow_parents=pipeline_on)
            service = Service(rt, settings.jobs_path, options)
            service.start()
            try:
                _run_until(service, clock, began + days * 86400)
            finally:
                service.stop()
            failed = [o for o in service.outcomes if o.status not in ("success", "skipped")]
            if len(failed) > len(service.outcomes) // 20:
                raise BenchError(f"{len(failed)} runs did not succeed, e.g. {failed[0].summary()}")
            with rt.engine.connect() as conn:
                seen = dict(_first_seen(conn, began))
                details = _stored(conn, "my_result_details")
                laps = _stored(conn, "my_laps")
        real = time.monotonic() - started
    delays = [
        max(details[race], laps[race]) - at
        for race, at in seen.items()
        if race in details and race in laps
    ]
    return Measured(delays, len(seen) - len(delays), real)


def _run_until(service: Service, clock: ManualClock, end: float) -> None:
    """Move the clock from one due run to the next until `end`, each time once every run
    due has ended (runs move the clock themselves, by their requests)."""
    while True:
        _settle(service, clock.now())
        upcoming = [at for at in service.scheduler.next_runs().values() if at is not None]
        following = min(upcoming, default=end)
        if following >= end:
            return
        clock.set(max(following, clock.now()))
        service.scheduler.wakeup()


def _settle(service: Service, now: float, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        looked_at = service.scheduler.looked_at
        idle = not service.running and not service.pipeline.waiting
        if looked_at is not None and looked_at >= now and idle:
            return
        if time.monotonic() > deadline:
            raise BenchError("the service did not settle within 10 minutes")
        time.sleep(0.002)


def _first_seen(conn: Connection, since: float) -> Iterator[tuple[str, float]]:
    """(subsession id, when the first search answer listing it was stored) of the races that
    ended after `since`."""
    rows = conn.execute(
        text(
            "SELECT p.fetched_at, d.body FROM result_parts p JOIN documents d "
            "ON d.sha256 = p.sha256 WHERE p.job = 'my_results' ORDER BY p.id"
        )
    )
    seen: dict[str, float] = {}
    for fetched_at, body in rows:
        document = json.loads(body)
        if not isinstance(document, list):
            continue  # the answer's envelope: its rows are in the chunks
        for row in document:
            race = str(row.get("subsession_id"))
            ended = parse_iso(str(row.get("end_time")))
            if ended > since and race not in seen:
                seen[race] = parse_iso(fetched_at)
    return iter(seen.items())


def _stored(conn: Connection, job: str) -> dict[str, float]:
    """Each subsession id: when its result of `job` was first stored."""
    rows = conn.execute(
        text("SELECT params, fetched_at FROM result_parts WHERE job = :job AND part = 0"),
        {"job": job},
    )
    stored: dict[str, float] = {}
    for params, fetched_at in rows:
        race = str(json.loads(params)["subsession_id"])
        stored[race] = min(stored.get(race, float("inf")), parse_iso(fetched_at))
    return stored
