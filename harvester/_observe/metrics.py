"""The service's Prometheus metrics, built with prometheus_client.

Two kinds of numbers. What the database holds (runs by job and status, last successes,
password logins, the archive's size) is read back at each scrape by a collector, so those
counters survive a restart and always match the `runs` table. What only this process sees
(requests by kind, responses by status, run durations, runs the database refused to record)
is counted in memory from the shared httpx client's event hooks and the service's run events;
a restart resets them, as Prometheus expects. Gauges (rate budget, maintenance pause, token
expiries) are read from the service's objects when scraped. Nothing here can reach a token:
expiries are times, never values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from .._core.clock import Clock, parse_iso
from .._feeds.status import feed_statuses
from .._store import db
from .._store.models import AuthEvent, Document, RunTotal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
CHUNK_THREAD_PREFIX = "chunk"  # DataClient's pool downloads chunks on threads named so


@dataclass(frozen=True)
class LiveFacts:
    """What the service holds in memory, read at scrape time."""

    ratelimit_limit: int | None
    ratelimit_remaining: int | None
    maintenance_paused: bool
    access_expires_at: float | None
    refresh_expires_at: float | None
    active: bool = True  # this service runs the jobs (False: standby, PostgreSQL)
    config_rejected: bool = False  # the last edit of jobs.yaml was refused
    refresh_held: bool = False  # a refresh token that has not expired is stored


def request_kind(request: httpx.Request, oauth_url: str, data_url: str) -> str:
    """token (the OAuth endpoint), data (/data/...), chunk (a chunk file, downloaded by the
    chunk pool) or link (any other pre-signed link: `link`, `data_url`)."""
    url = str(request.url)
    if url.startswith(oauth_url):
        return "token"
    if url.startswith(f"{data_url}/data/"):
        return "data"
    if threading.current_thread().name.startswith(CHUNK_THREAD_PREFIX):
        return "chunk"
    return "link"


class ServiceMetrics:
    """One registry per service: the in-process counters plus the database collector."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        live: Callable[[], LiveFacts],
        oauth_url: str,
        data_url: str,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._oauth_url = oauth_url
        self._data_url = data_url
        self.requests = Counter(
            "harvester_requests",
            "HTTP requests sent, by kind: data, link, chunk, token.",
            ["kind"],
            registry=self.registry,
        )
        self.responses = Counter(
            "harvester_http_responses",
            "HTTP responses received, by status code.",
            ["status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "harvester_run_duration_seconds",
            "How long runs took, by job (since this process started).",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.not_recorded = Counter(
            "harvester_runs_not_recorded",
            "Runs the database refused to record (a full disk, a database busy too long), by "
            "job: nothing of them was stored (since this process started).",
            ["job"],
            registry=self.registry,
        )
        for kind in ("data", "link", "chunk", "token"):
            self.requests.labels(kind)  # present (at 0) before the first request
        self.registry.register(ArchiveCollector(engine, clock, live))
        self.registry.register(FeedCollector(engine))

    def install(self, http: httpx.Client) -> None:
        """Count every request and response of the shared client."""
        http.event_hooks["request"].append(self._on_request)
        http.event_hooks["response"].append(self._on_response)

    def observe_run(self, job: str, seconds: float, recorded: bool = True) -> None:
        if recorded:
            self.durations.labels(job).observe(max(seconds, 0.0))
        else:  # not in the runs table, so not in harvester_runs_total: counted here
            self.not_recorded.labels(job).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _on_request(self, request: httpx.Request) -> None:
        self.requests.labels(request_kind(request, self._oauth_url, self._data_url)).inc()

    def _on_response(self, response: httpx.Response) -> None:
        self.responses.labels(str(response.status_code)).inc()


class ArchiveCollector(Collector):
    """Reads the database (read-only) and the live facts at each scrape."""

    def __init__(self, engine: Engine, clock: Clock, live: Callable[[], LiveFacts]) -> None:
        self.engine = engine
        self.clock = clock
        self.live = live

    def describe(self) -> list[Metric]:
        return []  # unchecked: the names are only known by collecting

    def collect(self) -> Iterator[Metric]:
        with db.read(self.engine) as conn:
            # the running figures (triggers on runs): a row per job and status, not every run
            totals = conn.execute(
                select(RunTotal.job, RunTotal.status, RunTotal.runs, RunTotal.last_finished_at)
            ).all()
            grants = conn.execute(
                select(func.count()).where(AuthEvent.kind == "password_grant")
            ).scalar_one()
            documents, size = conn.execute(
                select(func.count(), func.coalesce(func.sum(Document.size), 0))
            ).one()
        runs_total = CounterMetricFamily(
            "harvester_runs",
            "Runs finished, by job and status (from the runs table).",
            labels=["job", "status"],
        )
        for job, status, count, _ in totals:
            runs_total.add_metric([job, status], count)
        yield runs_total
        last_success = GaugeMetricFamily(
            "harvester_job_last_success_timestamp_seconds",
            "When each job last finished a successful run (epoch seconds).",
            labels=["job"],
        )
        for job, status, _, finished in totals:
            if status == "success" and finished:
                last_success.add_metric([job], parse_iso(finished))
        yield last_success
        yield CounterMetricFamily(
            "harvester_password_grants",
            "Password logins sent to the token endpoint (every process of this database).",
            value=grants,
        )
        yield GaugeMetricFamily(
            "harvester_archive_documents", "Distinct documents stored.", value=documents
        )
        yield GaugeMetricFamily(
            "harvester_archive_bytes", "Bytes of the distinct documents stored.", value=size
        )
        yield from self._live_metrics(self.live())

    def _live_metrics(self, facts: LiveFacts) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            "harvester_ratelimit_remaining", "Requests left in the rate window (x-ratelimit)."
        )
        limit = GaugeMetricFamily(
            "harvester_ratelimit_limit", "Requests allowed per rate window (x-ratelimit)."
        )
        if facts.ratelimit_remaining is not None:
            remaining.add_metric([], facts.ratelimit_remaining)
        if facts.ratelimit_limit is not None:
            limit.add_metric([], facts.ratelimit_limit)
        yield remaining
        yield limit
        yield GaugeMetricFamily(
            "harvester_service_active",
            "1 while this service is the active one (it runs the jobs); 0 while standby.",
            value=1 if facts.active else 0,
        )
        yield GaugeMetricFamily(
            "harvester_config_rejected",
            "1 while the last edit of the jobs file is refused (the previous jobs keep running).",
            value=1 if facts.config_rejected else 0,
        )
        yield GaugeMetricFamily(
            "harvester_maintenance_paused",
            "1 while requests are paused for iRacing's maintenance.",
            value=1 if facts.maintenance_paused else 0,
        )
        expiry = GaugeMetricFamily(
            "harvester_token_expiry_seconds",
            "Seconds until the stored token expires, by token; 0 once it has expired. An "
            "expired access token is normal between runs: the next run renews it while "
            "harvester_refresh_token_held is 1.",
            labels=["token"],
        )
        now = self.clock.now()
        for token, at in (
            ("access", facts.access_expires_at),
            ("refresh", facts.refresh_expires_at),
        ):
            if at is not None:
                expiry.add_metric([token], max(at - now, 0.0))
        yield expiry
        yield GaugeMetricFamily(
            "harvester_refresh_token_held",
            "1 while a refresh token that has not expired is stored (the next run renews an "
            "expired access token without a password login); 0 otherwise.",
            value=1 if facts.refresh_held else 0,
        )


class FeedCollector(Collector):
    """The feeds, read from their tables at each scrape: rows waiting, told and failed per
    feed, and each target's failures in a row (labelled by its place, never its URL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with db.read(self.engine) as conn:
            feeds = feed_statuses(conn)
        pending = GaugeMetricFamily(
            "harvester_feed_pending", "Rows queued for a feed, not yet told.", labels=["feed"]
        )
        sent = CounterMetricFamily(
            "harvester_feed_sent",
            "Rows a feed told (shown in a message or counted in a digest).",
            labels=["feed"],
        )
        failed = CounterMetricFamily(
            "harvester_feed_failed",
            "Rows a feed could not tell (a template error, a target's refusal).",
            labels=["feed"],
        )
        failures = GaugeMetricFamily(
            "harvester_feed_target_failures",
            "Sends in a row a feed's target did not take (0: it takes them).",
            labels=["feed", "target"],
        )
        for feed in feeds:
            pending.add_metric([feed.name], feed.pending)
            sent.add_metric([feed.name], feed.sent)
            failed.add_metric([feed.name], feed.failed)
            for target in feed.targets:
                failures.add_metric([feed.name, target.label], target.failures)
        yield from (pending, sent, failed, failures)
