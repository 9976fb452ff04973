"""What shows how feeds are doing: the metrics (read from the feed tables at each scrape) and
the dashboard's card; never a target URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from harvester._config.jobs import JobsConfig
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.clock import ManualClock
from harvester._feeds.outbox import insert_rows, mark_failed
from harvester._feeds.schema import PENDING, SENT, TARGETS
from harvester._observe.metrics import LiveFacts, ServiceMetrics
from harvester._observe.web.dashboard import _feeds as feeds_card
from harvester._observe.web.snapshot import feed_rows
from harvester._store import db

URL = "discord://123456789/s3cret-T0ken-value"


def stored(tmp_path: Path) -> tuple[Engine, JobsConfig]:
    config = parse_jobs(
        "jobs:\n  me: {endpoint: member/info, every: 1h}\nfeeds:\n  drivers:\n"
        '    table: members\n    key: cust_id\n    template: "{{ display_name }}"\n'
        '    targets: ["{env:HOOK}"]\n',
        env={"HOOK": URL},
    )
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    feed = config.feeds["drivers"]
    with db.write(engine) as conn:
        insert_rows(conn, feed, [{"cust_id": n} for n in range(5)], PENDING, None, "t")
        insert_rows(conn, feed, [{"cust_id": n} for n in range(5, 8)], SENT, None, "t")
        mark_failed(conn, [1], "template: ZeroDivisionError: division by zero", "t")
        db.upsert(
            conn,
            TARGETS,
            {"feed": "drivers", "target": feed.targets[0].id},
            {"label": feed.targets[0].label, "failures": 2, "last_error": "HTTP 503"},
        )
    return engine, config


def test_the_metrics_count_each_feed_and_its_targets(tmp_path: Path) -> None:
    engine, _ = stored(tmp_path)
    live = LiveFacts(None, None, False, None, None)
    text = ServiceMetrics(engine, ManualClock(), lambda: live, "o", "d").render().decode()
    assert 'harvester_feed_pending{feed="drivers"} 4.0' in text
    assert 'harvester_feed_sent_total{feed="drivers"} 3.0' in text
    assert 'harvester_feed_failed_total{feed="drivers"} 1.0' in text
    assert (
        'harvester_feed_target_failures{feed="drivers",target="discord:// (target 1)"} 2.0' in text
    )
    assert "s3cret" not in text
    engine.dispose()


def test_the_dashboard_card_shows_each_feed_and_its_last_error(tmp_path: Path) -> None:
    engine, config = stored(tmp_path)
    rows = feed_rows(engine, config)
    (row,) = rows
    assert (row["feed"], row["pending"], row["sent"], row["failed"]) == ("drivers", 4, 3, 1)
    card = feeds_card(rows)
    assert "<h2>Feeds (1)</h2>" in card and "drivers" in card and "s3cret" not in card
    assert feeds_card([]) == ""
    engine.dispose()
