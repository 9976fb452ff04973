"""The service runs the feeds: it applies jobs.yaml's feeds at start and on a reload, and a
target that keeps failing raises one alert through HARVESTER_ALERT_WEBHOOK (Apprise too), and
one all-clear once it takes messages again."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester._core.clock import ManualClock
from harvester._feeds.control import Feeds
from harvester._feeds.worker import FeedSender, Lane
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import WebhookReceiver, db_rows, make_settings, wait_for, watch_of

JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 1d
    incremental: {cursor: end_time, param: finish_range_begin, start: -2h, window: 2d,
                  key: subsession_id}
  catalog: {endpoint: doc, every: 1d, enabled: false}
feeds:
  races:
    table: subsessions
    key: subsession_id
    template: "{{ series_name }}: {{ subsession_id }}"
    targets: ["{env:RACES_HOOK}"]
"""


@pytest.fixture
def hooks() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    feed, alerts = WebhookReceiver("feed-k3y-abcdef"), WebhookReceiver("alert-k3y-abcdef")
    yield feed, alerts
    feed.close()
    alerts.close()


@pytest.mark.slow
def test_a_failing_target_raises_one_alert_and_one_all_clear(
    tmp_path: Path,
    sim: Simulator,
    clock: ManualClock,
    hooks: tuple[WebhookReceiver, WebhookReceiver],
    monkeypatch: pytest.MonkeyPatch,
    log_stream: io.StringIO,
) -> None:
    feed, alerts = hooks
    monkeypatch.setenv("RACES_HOOK", feed.url)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(textwrap.dedent(JOBS))
    settings = make_settings(tmp_path, sim.base_url, alert_webhook=alerts.http_url)
    feed.answers = [503] * 6  # down for six sends, then back

    def wait(lane: Lane, seconds: float) -> bool:  # back-off on the manual clock
        clock.advance(seconds)
        return lane.sleep(0.01)

    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        service = Service(rt, jobs, ServiceOptions())
        service.feeds = Feeds(rt.engine, clock, FeedSender(rt.engine, clock, wait=wait))
        service.start()
        watch = watch_of(service)
        sender = watch.sender
        assert sender is not None
        try:
            assert service.pipeline.run_job("recent") is not None
            database = tmp_path / "harvester.db"
            wait_for(lambda: db_rows(database, "SELECT failures FROM feed_targets") == [(5,)])
            watch.check()
            sender.join()
            assert len(alerts.messages()) == 1
            assert "feed races: json:// (target 1) has failed 5 sends" in alerts.messages()[0]
            wait_for(lambda: bool(feed.messages()))  # back: the lane tells its rows
            wait_for(lambda: db_rows(database, "SELECT failures FROM feed_targets") == [(0,)])
            watch.check()
            sender.join()
            assert "takes messages again" in alerts.messages()[1]
            watch.check()
            sender.join()
            assert len(alerts.messages()) == 2  # one alert, one all-clear
        finally:
            service.stop()
    for secret in (feed.key, alerts.key):
        assert secret not in log_stream.getvalue()
        assert all(secret not in m for m in alerts.messages())
