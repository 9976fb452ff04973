"""Sending through Apprise to real receivers on loopback: a plain JSON webhook and a
Discord-shaped one (Apprise's own Discord plugin, its webhook address pointed at loopback).
A 429 is one attempt, never a plugin's sleep or retry, and its `retry_after` is honoured;
a 4xx is a refusal; no answer is tried again; no key reaches a log or an outcome."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from apprise.plugins.discord import NotifyDiscord

from harvester._config.jobs_yaml import parse_jobs
from harvester._core.clock import ManualClock
from harvester._feeds.control import Feeds
from harvester._feeds.delivery import Answer, Outcome, Sender, answer_of, outcome_of, webhook_url
from harvester._feeds.worker import FeedSender, Lane
from harvester._service.runtime import open_runtime
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import WebhookReceiver, make_settings, wait_for


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def discord(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Discord webhook URL whose plugin posts to the loopback receiver."""
    monkeypatch.setattr(
        NotifyDiscord, "notify_url", f"http://127.0.0.1:{receiver.port}/api/webhooks"
    )
    return f"discord://123456789012/{receiver.key}"


def test_a_json_webhook_takes_the_message(receiver: WebhookReceiver) -> None:
    outcome = Sender(receiver.url).send("P1 at Spa")
    assert outcome.taken and receiver.messages() == ["P1 at Spa"]


def test_a_discord_webhook_gets_discord_s_own_body(receiver: WebhookReceiver, discord: str) -> None:
    assert Sender(discord).send("P1 at Spa").taken
    assert receiver.bodies[0]["content"] == "P1 at Spa"
    assert receiver.paths == [f"/api/webhooks/123456789012/{receiver.key}"]


def test_a_429_is_one_attempt_and_says_when_to_come_back(
    receiver: WebhookReceiver, discord: str, log_stream: io.StringIO
) -> None:
    receiver.answers = [429]
    receiver.retry_after = 7.5
    outcome = Sender(discord).send("P1")
    assert not outcome.taken and outcome.rate_limited and outcome.wait == 7.5
    assert receiver.attempts == 1  # the plugin did not sleep and retry on its own
    assert Sender(discord).send("P1").taken
    assert receiver.key not in log_stream.getvalue()


def test_refusals_failures_and_silence_are_told_apart(receiver: WebhookReceiver) -> None:
    receiver.answers = [400, 503]
    refused = Sender(receiver.url).send("x")
    assert refused.refused and refused.reason == "HTTP 400"
    failed = Sender(receiver.url).send("x")
    assert not failed.taken and not failed.refused and failed.reason == "HTTP 503"
    gone = Sender("json://127.0.0.1:9/hooks/k3y-9999").send("x")
    assert not gone.taken and not gone.refused and "no answer" in gone.reason
    for outcome in (refused, failed, gone):
        assert receiver.key not in outcome.reason and "k3y-9999" not in outcome.reason


def test_the_answers_are_read_as_discord_and_http_mean_them() -> None:
    body = b'{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}'
    assert answer_of(429, {}, body).retry_after == 1.5
    assert answer_of(429, {"Retry-After": "3"}, b"").retry_after == 3.0
    assert answer_of(429, {"Retry-After": "1e20"}, b"").retry_after == 600.0  # bounded
    spent = answer_of(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2"}, b"")
    assert outcome_of(True, [spent]).pause == 2.0
    assert outcome_of(False, [Answer(404)]).refused
    assert outcome_of(False, []).reason.startswith("no answer")


def test_a_plain_http_webhook_is_sent_as_json_text() -> None:
    url = webhook_url("https://hooks.example/T0/abc")
    assert url.startswith("jsons://hooks.example/T0/abc?:message=text")
    assert webhook_url("discord://1/2") == "discord://1/2"


def test_a_lane_waits_what_a_429_asks_before_it_tries_again(
    tmp_path: Path, sim: Simulator, clock: ManualClock, receiver: WebhookReceiver, discord: str
) -> None:
    """The lane's waits are on the manual clock: the one after a 429 is its retry_after."""
    config = parse_jobs(
        "jobs:\n  recent:\n    endpoint: results/search_series\n    every: 1h\n"
        "    incremental: {cursor: end_time, param: finish_range_begin, start: -2h,"
        " window: 2d, key: subsession_id}\n"
        "feeds:\n  races:\n    table: subsessions\n    key: subsession_id\n"
        '    template: "{{ subsession_id }}"\n    targets: ["{env:HOOK}"]\n',
        env={"HOOK": discord},
    )
    receiver.answers = [429]
    receiver.retry_after = 42.0
    waits: list[float] = []

    def wait(lane: Lane, seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds)
        return lane.sleep(0.01)

    attempts: list[float] = []  # when (on the manual clock) each send began

    class Timed(Sender):
        def send(self, body: str, title: str = "") -> Outcome:
            attempts.append(clock.now())
            return super().send(body, title)

    settings = make_settings(tmp_path, sim.base_url)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        feeds = Feeds(rt.engine, clock, FeedSender(rt.engine, clock, senders=Timed, wait=wait))
        feeds.apply(config.feeds.values())
        rt.archive.feeds = feeds.outbox
        feeds.start()
        try:
            assert rt.runner.run(config.jobs["recent"]).status == "success"
            wait_for(lambda: len(receiver.bodies) >= 2)
        finally:
            feeds.stop()
    assert receiver.attempts >= 3  # one 429, then the rows
    assert 42.0 <= attempts[1] - attempts[0] < 43.0  # retry_after, not a back-off of its own
