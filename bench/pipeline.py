"""(a) Pipeline overhead: CPU per stored document, harvester against a bare loop.

Both sides talk to an in-process simulator (`SimulatorTransport`, rate limit off) on one
`ManualClock`, each to its own simulator of the same configuration, so the simulator's CPU is
counted on both sides alike. The bare loop is what any script would do: `httpx` GET with the
Bearer token it got once, `json.loads`, one `sqlite3` insert committed in its own transaction
(WAL, like harvester). harvester is measured two ways:

- `Runner.run` per document: one run = open the run, one request, store the result, close the
  run (what a scheduled job costs);
- `DataClient.fetch` + `Archive.store_result` per document inside one run (the data path alone,
  closest to the bare loop's work).

The link endpoint (`member/info`: an answer that points at the document) is measured too, with
the bare loop following the link as well. A diagnostic row splits the cost: `DataClient.fetch`
alone against GET + `json.loads` alone (no storing on either side).

The clock advances one simulated second per document on every side, so that the simulator's
link store can forget expired objects (the access tokens are made to outlive the benchmark).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import (
    BareStore,
    BenchError,
    Goal,
    Options,
    Result,
    cpu_best_of,
    password_grant,
    profile_top,
    scratch,
    sim_settings,
)

SCENARIO = "pipeline"
DIRECT = JobSpec(name="bench_categories", endpoint="constants/categories")
LINKED = JobSpec(name="bench_member_info", endpoint="member/info")
GOAL = Goal("<=", 1.5, "≤ 1.5×")
WARM_UP = 25  # documents per side before measuring: caches filled, statements compiled


def run(options: Options) -> list[Result]:
    docs = 300 if options.quick else 2000
    reps = 2 if options.quick else 3
    with scratch(SCENARIO) as folder:
        clock = ManualClock()
        harvester_sim = _simulator(clock)
        bare = _Bare(_simulator(clock), folder / "bare.db", clock)
        settings = sim_settings(folder / "harvester", harvester_sim.base_url)
        try:
            with open_runtime(
                settings, transport=SimulatorTransport(harvester_sim), clock=clock
            ) as rt:
                rt.session.login()
                side = _Harvester(rt, clock)
                batches: dict[str, Callable[[int], None]] = {
                    "runner": partial(side.runs, DIRECT),
                    "fetch_store": partial(side.fetch_store, DIRECT),
                    "bare": partial(bare.direct, DIRECT.endpoint),
                    "fetch": partial(side.fetch_only, DIRECT),
                    "bare_fetch": partial(bare.direct, DIRECT.endpoint, store=False),
                    "runner_link": partial(side.runs, LINKED),
                    "bare_link": partial(bare.linked, LINKED.endpoint),
                }
                for batch in batches.values():
                    batch(WARM_UP)  # caches filled, statements compiled, files grown
                best = cpu_best_of(
                    {name: partial(batch, docs) for name, batch in batches.items()}, reps
                )
                _check(harvester_sim, bare, docs, reps)
                if options.profile:
                    print(
                        f"\n== cProfile: harvester side of (a), Runner.run x {docs} "
                        f"({DIRECT.endpoint}) ==",
                        file=sys.stderr,
                    )
                    print(profile_top(lambda: side.runs(DIRECT, docs)), file=sys.stderr)
        finally:
            bare.close()

    def per_doc(seconds: float) -> float:
        return seconds / docs * 1e6

    note = f"CPU (process_time), best of {reps} interleaved rounds of {docs} documents (all rows)"
    rows = [
        ("Runner.run per document, direct (constants/categories)", "runner", "bare"),
        ("fetch + store_result per document, in one run (direct)", "fetch_store", "bare"),
        ("Runner.run per document, link -> document (member/info)", "runner_link", "bare_link"),
        ("diagnostic: DataClient.fetch alone vs GET + json.loads", "fetch", "bare_fetch"),
    ]
    return [
        Result(
            SCENARIO,
            measurement,
            "µs/doc",
            per_doc(best[ours]),
            per_doc(best[theirs]),
            best[ours] / best[theirs],
            "ratio",
            None if ours == "fetch" else GOAL,
            note if ours == "runner" else "",
        )
        for measurement, ours, theirs in rows
    ]


def _simulator(clock: ManualClock) -> Simulator:
    # tokens that outlive the benchmark: the clock moves one simulated second per document
    return Simulator(SimConfig(rate_limit=None, access_token_lifetime=10**9), clock)


def _check(sim: Simulator, bare: _Bare, docs: int, reps: int) -> None:
    """Every side did what it claims: no failed request, every document stored."""
    data = sim.state()["data"]
    bad = {k: v for k, v in data.items() if k not in ("requests", "ok")}
    if bad:
        raise BenchError(f"harvester's simulator answered errors: {bad}")
    stored = bare.store.count()
    expected = 2 * (docs * reps + WARM_UP)
    if stored < expected:
        raise BenchError(f"the bare loop stored {stored} documents, expected {expected}+")


class _Harvester:
    def __init__(self, rt: Runtime, clock: ManualClock) -> None:
        self.rt = rt
        self.clock = clock

    def runs(self, job: JobSpec, n: int) -> None:
        """n scheduled-style runs: each opens a run, fetches, stores, closes the run."""
        for _ in range(n):
            self.clock.advance(1.0)
            outcome = self.rt.runner.run(job)
            if not outcome.ok:
                raise BenchError(outcome.summary())

    def fetch_store(self, job: JobSpec, n: int) -> None:
        """n results stored within one run: DataClient.fetch + Archive.store_result."""
        archive, client = self.rt.archive, self.rt.client
        run_id = archive.open_run(job.name, "bench")
        run = RunContext(job, run_id, CancelToken(self.clock))
        counts = run.counts
        for _ in range(n):
            self.clock.advance(1.0)
            parts = client.fetch(job.endpoint, {}, counts=counts)
            archive.store_result(run, {}, parts)
        archive.finish_run(run_id, "success", counts, None)
        if counts.results != n:
            raise BenchError(f"fetch+store stored {counts.results} results, expected {n}")

    def fetch_only(self, job: JobSpec, n: int) -> None:
        """n fetches consumed and dropped: the HTTP side of harvester alone."""
        client = self.rt.client
        for _ in range(n):
            self.clock.advance(1.0)
            for _part in client.fetch(job.endpoint, {}):
                pass


class _Bare:
    """A bare client: one token, GET, json.loads, one insert per document."""

    def __init__(self, sim: Simulator, path: Path, clock: ManualClock) -> None:
        self.clock = clock
        self.http = httpx.Client(transport=SimulatorTransport(sim))
        token = password_grant(self.http, sim.oauth_url)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.data_url = f"{sim.base_url}/data/"
        self.store = BareStore(path)

    def direct(self, endpoint: str, n: int, store: bool = True) -> None:
        url = self.data_url + endpoint
        for _ in range(n):
            self.clock.advance(1.0)
            body = self._get(url, self.auth)
            json.loads(body)
            if store:
                self.store.insert(body, self.clock.now())

    def linked(self, endpoint: str, n: int) -> None:
        url = self.data_url + endpoint
        for _ in range(n):
            self.clock.advance(1.0)
            link = json.loads(self._get(url, self.auth))["link"]
            body = self._get(link, {})  # a pre-signed link: no Authorization header
            json.loads(body)
            self.store.insert(body, self.clock.now())

    def _get(self, url: str, headers: dict[str, str]) -> str:
        response = self.http.get(url, headers=headers)
        if response.status_code != 200:
            raise BenchError(f"bare GET {url}: HTTP {response.status_code}")
        return response.content.decode("utf-8")

    def close(self) -> None:
        self.http.close()
        self.store.close()
