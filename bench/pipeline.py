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

Beside these small documents, real-sized ones: results/get documents of 40 to 76 KB (the
simulator's own, replayed from memory: bench/documents.py), the tables off (what storing the raw
document costs; bench/tables.py measures the tables):

- storing a received document: `parse_json` (as the fetch path parses it) + `store_result`,
  against `json.loads` + one insert (the goal: at most 1.5x);
- fetched and stored, link -> document on both sides; and `Runner.run` of the same;
- each store with the signature cut of today and, side by side in the same run, with the one
  before the query-mark pre-check (bench/signatures_before.py); and the cut alone against
  `json.loads` of the same documents.

The clock advances one simulated second per document on every side, so that the simulator's
link store can forget expired objects (the access tokens are made to outlive the benchmark).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from unittest.mock import patch

import httpx

from harvester._archive import archive as archive_module
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._core.redact import strip_signatures
from harvester._core.shapes import Part
from harvester._core.text import parse_json
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from . import signatures_before
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
from .documents import REPLAY_HOST, InTurn, Replay, mean_kb, results_get_bodies

SCENARIO = "pipeline"
DIRECT = JobSpec(name="bench_categories", endpoint="constants/categories")
LINKED = JobSpec(name="bench_member_info", endpoint="member/info")
RESULTS_PARAMS = {"subsession_id": "1"}  # the replay answers every subsession alike
RESULTS_GET = JobSpec(name="bench_results", endpoint="results/get", params=dict(RESULTS_PARAMS))
GOAL = Goal("<=", 1.5, "≤ 1.5×")
GOALS = {  # a run per document is held to less than the data path alone (#26.3)
    "runner": Goal("<=", 2.0, "≤ 2.0×"),
    "runner_link": Goal("<=", 1.8, "≤ 1.8×"),
}
LINK, EXPIRES = f"https://{REPLAY_HOST}/results.json", "2099-01-01T00:00:00Z"  # as Replay's
GOAL_ROWS = ("runner", "fetch_store", "runner_link", "big_received")
StripSignatures = Callable[[str, str], str]
WARM_UP = 25  # documents per side before measuring: caches filled, statements compiled


def run(options: Options) -> list[Result]:
    docs = 200 if options.quick else 2000
    big = 30 if options.quick else 300  # results/get documents per batch
    reps = 2 if options.quick else 3
    bodies = results_get_bodies(60 if options.quick else 300)
    with scratch(SCENARIO) as folder:
        clock = ManualClock()
        harvester_sim = _simulator(clock)
        bare_sim = _simulator(clock)
        bare_transport = Replay(SimulatorTransport(bare_sim), bodies)
        bare = _Bare(bare_sim, bare_transport, folder / "bare.db", clock, bare_transport.bodies)
        settings = sim_settings(
            folder / "harvester", harvester_sim.base_url, download_hosts=(REPLAY_HOST,)
        )
        transport = Replay(SimulatorTransport(harvester_sim), bodies)
        try:
            with open_runtime(settings, transport=transport, clock=clock) as rt:
                rt.session.login()
                side = _Harvester(rt, clock, transport.bodies)  # one supply: all unique
                batches: dict[str, tuple[Callable[[int], None], int]] = {
                    "runner": (partial(side.runs, DIRECT), docs),
                    "fetch_store": (partial(side.fetch_store, DIRECT), docs),
                    "bare": (partial(bare.direct, DIRECT.endpoint), docs),
                    "fetch": (partial(side.fetch_only, DIRECT), docs),
                    "bare_fetch": (partial(bare.direct, DIRECT.endpoint, store=False), docs),
                    "runner_link": (partial(side.runs, LINKED), docs),
                    "bare_link": (partial(bare.linked, LINKED.endpoint), docs),
                    "big_received": (partial(side.store_received, strip_signatures), big),
                    "big_received_before": (
                        partial(side.store_received, signatures_before.strip_signatures),
                        big,
                    ),
                    "big_bare_received": (bare.store_received, big),
                    "big_store": (partial(side.store_big, strip_signatures), big),
                    "big_store_before": (
                        partial(side.store_big, signatures_before.strip_signatures),
                        big,
                    ),
                    "big_runner": (side.runs_big, big),
                    "big_bare": (partial(bare.linked, RESULTS_GET.endpoint), big),
                }
                for batch, _ in batches.values():
                    batch(WARM_UP)  # caches filled, statements compiled, files grown
                best = cpu_best_of(
                    {name: partial(batch, n) for name, (batch, n) in batches.items()}, reps
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
    texts = [body.decode("utf-8") for body in bodies]
    cut = _cut_cpu(texts, 3 if options.quick else 10)

    def per_doc(name: str) -> float:
        return best[name] / batches[name][1] * 1e6

    note = f"CPU (process_time), best of {reps} interleaved rounds of {docs} documents (all rows)"
    big_note = (
        f"{len(bodies)} results/get documents of the simulator (mean {mean_kb(bodies):.1f} KB), "
        f"each stored as new, tables off; best of {reps} interleaved rounds of {big}"
    )
    rows = [
        ("Runner.run per document, direct (constants/categories)", "runner", "bare", note),
        ("fetch + store_result per document, in one run (direct)", "fetch_store", "bare", ""),
        ("Runner.run per document, link -> document (member/info)", "runner_link", "bare_link", ""),
        ("diagnostic: DataClient.fetch alone vs GET + json.loads", "fetch", "bare_fetch", ""),
        (
            "store a received results/get document (parse + store_result), tables off",
            "big_received",
            "big_bare_received",
            big_note,
        ),
        (
            "the same, with the signature cut before the pre-check",
            "big_received_before",
            "big_bare_received",
            "",
        ),
        (
            "fetch + store_result per results/get document, link -> document, tables off",
            "big_store",
            "big_bare",
            "",
        ),
        (
            "the same, with the signature cut before the pre-check",
            "big_store_before",
            "big_bare",
            "",
        ),
        ("Runner.run per results/get document, tables off", "big_runner", "big_bare", ""),
    ]
    results = [
        Result(
            SCENARIO,
            measurement,
            "µs/doc",
            per_doc(ours),
            per_doc(theirs),
            best[ours] / best[theirs],
            "ratio",
            GOALS.get(ours, GOAL) if ours in GOAL_ROWS else None,
            row_note,
            # the figure before, beside the goal's; and the link goal beside the direct one
            readme=ours in ("big_received_before", "runner_link"),
        )
        for measurement, ours, theirs, row_note in rows
    ]
    for label, key in (("today", "after"), ("before the pre-check", "before")):
        results.append(
            Result(
                SCENARIO,
                f"signature cut per results/get document ({label}) vs its json.loads",
                "µs/doc",
                cut[key],
                cut["loads"],
                cut[key] / cut["loads"],
                "ratio",
                note="strip_signatures alone, CPU, best of interleaved rounds over the same "
                "documents"
                if key == "after"
                else "",
                readme=True,  # before and after, beside the storing goal's row
            )
        )
    return results


def _cut_cpu(texts: list[str], reps: int) -> dict[str, float]:
    """CPU µs per document of the signature cut, today's and before, and of json.loads."""

    def each(work: Callable[[str], object]) -> Callable[[], None]:
        def batch() -> None:
            for text in texts:
                work(text)

        return batch

    best = cpu_best_of(
        {
            "after": each(strip_signatures),
            "before": each(signatures_before.strip_signatures),
            "loads": each(json.loads),
        },
        reps,
    )
    return {name: seconds / len(texts) * 1e6 for name, seconds in best.items()}


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
    def __init__(self, rt: Runtime, clock: ManualClock, received: InTurn) -> None:
        self.rt = rt
        self.clock = clock
        self.received = received

    def runs(self, job: JobSpec, n: int) -> None:
        """n scheduled-style runs: each opens a run, fetches, stores, closes the run."""
        for _ in range(n):
            self.clock.advance(1.0)
            outcome = self.rt.runner.run(job)
            if not outcome.ok:
                raise BenchError(outcome.summary())

    def fetch_store(self, job: JobSpec, n: int, params: dict[str, str] | None = None) -> None:
        """n results stored within one run: DataClient.fetch + Archive.store_result."""
        archive, client = self.rt.archive, self.rt.client
        run_id = archive.open_run(job.name, "bench")
        run = RunContext(job, run_id, CancelToken(self.clock))
        counts = run.counts
        params = params or {}
        for _ in range(n):
            self.clock.advance(1.0)
            parts = client.fetch(job.endpoint, params, counts=counts)
            archive.store_result(run, params, parts)
        archive.finish_run(run_id, "success", counts, None)
        if counts.results != n:
            raise BenchError(f"fetch+store stored {counts.results} results, expected {n}")

    def store_big(self, strip: StripSignatures, n: int) -> None:
        """fetch + store of n results/get documents in one run, tables off, with `strip` as the
        archive's signature cut."""
        keeper = self.rt.archive.tables
        self.rt.archive.tables = None
        try:
            with patch.object(archive_module, "strip_signatures", strip):
                self.fetch_store(RESULTS_GET, n, RESULTS_PARAMS)
        finally:
            self.rt.archive.tables = keeper

    def store_received(self, strip: StripSignatures, n: int) -> None:
        """n received results/get documents parsed (as the fetch path does) and stored in one
        run, tables off, with `strip` as the archive's signature cut."""
        archive = self.rt.archive
        keeper = archive.tables
        archive.tables = None
        run_id = archive.open_run(RESULTS_GET.name, "bench")
        run = RunContext(RESULTS_GET, run_id, CancelToken(self.clock))
        try:
            with patch.object(archive_module, "strip_signatures", strip):
                for _ in range(n):
                    self.clock.advance(1.0)
                    text = self.received.next().decode("utf-8")
                    parse_json(text)
                    part = Part(0, text, "application/json", LINK, link_expires=EXPIRES)
                    archive.store_result(run, RESULTS_PARAMS, iter([part]))
        finally:
            archive.tables = keeper
        archive.finish_run(run_id, "success", run.counts, None)
        if run.counts.documents_new != n:
            raise BenchError(f"{run.counts.documents_new} of {n} received documents were new")

    def runs_big(self, n: int) -> None:
        """n Runner.run of results/get, tables off."""
        keeper = self.rt.archive.tables
        self.rt.archive.tables = None
        try:
            self.runs(RESULTS_GET, n)
        finally:
            self.rt.archive.tables = keeper

    def fetch_only(self, job: JobSpec, n: int) -> None:
        """n fetches consumed and dropped: the HTTP side of harvester alone."""
        client = self.rt.client
        for _ in range(n):
            self.clock.advance(1.0)
            for _part in client.fetch(job.endpoint, {}):
                pass


class _Bare:
    """A bare client: one token, GET, json.loads, one insert per document."""

    def __init__(
        self,
        sim: Simulator,
        transport: httpx.BaseTransport,
        path: Path,
        clock: ManualClock,
        received: InTurn,
    ) -> None:
        self.clock = clock
        self.received = received
        self.http = httpx.Client(transport=transport)
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

    def store_received(self, n: int) -> None:
        for _ in range(n):
            self.clock.advance(1.0)
            body = self.received.next().decode("utf-8")
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
