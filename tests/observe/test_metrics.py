"""The metrics' pure parts: which kind a request is, and the collector on an empty archive."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harvester._core.clock import ManualClock
from harvester._observe.metrics import LiveFacts, ServiceMetrics, request_kind
from harvester._store.db import open_database

OAUTH = "https://oauth.example/oauth2"
DATA = "https://data.example"


def kind_of(url: str) -> str:
    return request_kind(httpx.Request("GET", url), OAUTH, DATA)


def test_requests_are_counted_by_kind() -> None:
    assert kind_of(f"{OAUTH}/token") == "token"
    assert kind_of(f"{DATA}/data/member/info") == "data"
    assert kind_of("https://s3.example/link.json") == "link"
    seen: list[str] = []
    worker = threading.Thread(
        target=lambda: seen.append(kind_of("https://s3.example/chunk_1.json")), name="chunk_0"
    )
    worker.start()
    worker.join()
    assert seen == ["chunk"]


def test_an_empty_archive_scrapes_cleanly(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    facts = LiveFacts(None, None, True, None, 1_767_225_600.0 + 100)
    metrics = ServiceMetrics(engine, ManualClock(), lambda: facts, OAUTH, DATA)
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(429)))
    metrics.install(client)
    client.get(f"{DATA}/data/x")
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert families["harvester_maintenance_paused"].samples[0].value == 1
    assert families["harvester_archive_documents"].samples[0].value == 0
    assert families["harvester_ratelimit_limit"].samples == []  # unknown: absent, not 0
    expiry = families["harvester_token_expiry_seconds"].samples
    assert [(s.labels["token"], s.value) for s in expiry] == [("refresh", 100.0)]
    responses = [
        s for s in families["harvester_http_responses"].samples if s.name.endswith("_total")
    ]
    assert [(s.labels["status"], s.value) for s in responses] == [("429", 1.0)]
    engine.dispose()


def test_an_expired_access_token_reads_0_and_the_refresh_token_held_says_why(
    tmp_path: Path,
) -> None:
    """Between runs the access token expires: that is normal while a refresh token is held, so
    the expiry reads 0 (never a negative age) and harvester_refresh_token_held says 1."""
    engine = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    clock = ManualClock()
    now = clock.now()
    facts = LiveFacts(None, None, False, now - 300, now + 86400, refresh_held=True)
    metrics = ServiceMetrics(engine, clock, lambda: facts, OAUTH, DATA)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    expiry = {
        s.labels["token"]: s.value for s in families["harvester_token_expiry_seconds"].samples
    }
    assert expiry == {"access": 0.0, "refresh": 86400.0}
    assert "0 once it has expired" in families["harvester_token_expiry_seconds"].documentation
    assert families["harvester_refresh_token_held"].samples[0].value == 1
    facts = LiveFacts(None, None, False, now - 300, now - 60, refresh_held=False)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert families["harvester_refresh_token_held"].samples[0].value == 0
    engine.dispose()


def test_the_token_card_says_expires_in_or_expired_ago() -> None:
    from harvester._observe.web.dashboard import expiry_text

    assert expiry_text(360) == "expires in 6 min"
    assert expiry_text(-180) == "expired 3 min ago"
    assert expiry_text(30) == "expires in 30 s"
    assert expiry_text(-2 * 86400 - 1) == "expired 2.0 d ago"
    assert expiry_text(5400) == "expires in 1.5 h"


def test_every_metric_is_documented(tmp_path: Path) -> None:
    """An operator finds each metric, as /metrics names it, in the docs (operations.md lists
    most; feeds.md and pipeline.md their own)."""
    engine = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    facts = LiveFacts(1, 1, False, 1.0, 2.0)
    metrics = ServiceMetrics(engine, ManualClock(), lambda: facts, OAUTH, DATA)
    metrics.observe_run("info", 1.0)
    metrics.observe_run("info", 0.0, recorded=False)
    docs = Path(__file__).parents[2] / "docs"
    text = "\n".join(page.read_text() for page in docs.glob("*.md"))
    names = {
        sample.name
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if not sample.name.endswith(("_created", "_bucket", "_count", "_sum"))
    }
    assert "harvester_runs_not_recorded_total" in names
    assert sorted(name for name in names if name not in text) == []
    engine.dispose()
