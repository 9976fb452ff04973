"""Alerts: a webhook receiver on loopback gets exactly the messages of a scripted failure,
recovery and maintenance, none twice, none with a secret; the hourly limit per cause; retries.
They go through Apprise (the feeds' rails): a plain http(s) webhook, or any Apprise URL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harvester._core.clock import ManualClock
from harvester._observe.alerts import QUIET_SECONDS, Alert, AlertRules, AlertSender, alert_text
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings, watch_of
from tests.observe.receiver import Receiver


def test_a_scripted_failure_recovery_and_maintenance_alert_exactly_once_each(
    tmp_path: Path, sim: Simulator, clock: ManualClock, receiver: Receiver
) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n  info: {endpoint: member/info, every: 1d, enabled: false}\n"
        "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
    )
    settings = make_settings(tmp_path, sim.base_url, alert_webhook=receiver.url)
    waits: list[float] = []
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        service = Service(rt, jobs, ServiceOptions())
        service.start()
        watch = watch_of(service)

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            return False

        sender = watch.sender
        assert sender is not None
        sender._wait = wait

        def run(fail: bool = False) -> str:
            if fail:
                sim.control({"fail_next": ["500"] * 4})  # every attempt of the run fails
            outcome = service.pipeline.run_job("info")
            assert outcome is not None
            watch.check()
            sender.join()
            return outcome.status

        try:
            assert [run(fail=True) for _ in range(2)] == ["failed", "failed"]
            assert receiver.texts() == []  # two in a row: not yet
            receiver.answers = [500]  # the hook hiccups once: the message is retried
            assert run(fail=True) == "failed"
            assert len(receiver.texts()) == 1
            assert "job info has failed 3 runs in a row" in receiver.texts()[0]
            assert receiver.attempts == 2 and len(waits) == 1 and waits[0] > 0
            assert run(fail=True) == "failed"  # still failing: nothing new
            assert run() == "success"
            assert "job info succeeded again" in receiver.texts()[1]

            sim.config.maintenance = True
            assert run() == "maintenance"
            clock.advance(1800)
            watch.check()
            assert len(receiver.texts()) == 2  # half an hour: not yet
            clock.advance(1900)
            watch.check()
            watch.check()
            sender.join()
            assert "in maintenance for 6" in receiver.texts()[2]  # 61.7 min
            sim.config.maintenance = False
            clock.advance(1800)  # the next probe is due
            assert run() == "success"
            assert "maintenance is over" in receiver.texts()[3]
            watch.check()
            sender.join()
        finally:
            service.stop()
    texts = receiver.texts()
    assert len(texts) == 4 and len(set(texts)) == 4  # exactly these, none twice
    for body in receiver.accepted:
        assert list(body) == ["text"]  # a plain webhook gets Slack's (and Mattermost's) shape
        assert body["text"].startswith("harvester@")
        for secret in (settings.password, settings.client_secret, "s3cr3t-key", "Bearer"):
            assert secret not in body["text"]


def test_at_most_one_message_per_cause_per_hour_and_the_last_word_is_the_truth() -> None:
    rules = AlertRules()

    def say(active: bool, now: float) -> str | None:
        alert = rules.update("job:x", active, now, "failing", "recovered")
        return alert.cause if alert else None

    assert say(False, 0) is None  # all well from the start: nothing to say
    assert say(True, 0) == "job:x:raised"
    assert say(True, 10) is None
    assert say(False, 20) == "job:x:cleared"
    assert say(True, 30) is None  # failing again within the hour: held back
    assert say(False, 40) is None  # ... and over again: nothing was missed
    assert say(True, 50) is None
    assert say(True, QUIET_SECONDS + 1) == "job:x:raised"  # still failing an hour later: said
    assert say(True, QUIET_SECONDS + 2) is None


def test_the_text_fits_discord_and_is_redacted() -> None:
    from harvester._core.redact import register_secret

    register_secret("hunter2-password")
    text = alert_text("login failed with hunter2-password " + "x" * 5000)
    assert "hunter2-password" not in text
    assert len(text) <= 2000


def test_an_apprise_url_is_an_alert_target_too(clock: ManualClock, receiver: Receiver) -> None:
    """HARVESTER_ALERT_WEBHOOK takes Apprise URLs (here its JSON webhook): one sending path."""
    url = receiver.url.replace("http://", "json://")
    sender = AlertSender(url, clock, wait=lambda seconds: False)
    sender.start()
    sender.send(Alert("job:x:raised", "job x is failing"))
    sender.join()
    sender.stop()
    assert [body["message"] for body in receiver.accepted] == ["job x is failing"]


def test_the_webhook_setting_takes_http_and_apprise_urls_and_never_echoes_one() -> None:
    from harvester._config.settings import load_settings
    from harvester._core.errors import ConfigError

    for url in ("https://hooks.example/T0/abc", "discord://123456/t0ken-abcdef", "json://h/p"):
        assert load_settings({"HARVESTER_ALERT_WEBHOOK": url}, env_file=None).alert_webhook == url
    for bad in ("nosuch://k3y-value-123/x", "hooks.example/k3y-value-123"):
        with pytest.raises(ConfigError, match=r"^HARVESTER_ALERT_WEBHOOK") as error:
            load_settings({"HARVESTER_ALERT_WEBHOOK": bad}, env_file=None)
        assert "k3y-value-123" not in str(error.value)


def test_a_dead_hook_never_blocks_and_gives_up_after_bounded_retries(
    clock: ManualClock, receiver: Receiver, log_stream: io.StringIO
) -> None:
    receiver.answers = [503] * 10
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    sender = AlertSender(receiver.url, clock, wait=wait)
    sender.start()
    sender.send(Alert("job:x:raised", "job x is failing"))
    sender.join()
    sender.stop()
    assert receiver.accepted == [] and receiver.attempts == 6
    assert waits == sorted(waits) and len(waits) == 5  # back-off grows
    assert "s3cr3t-key" not in log_stream.getvalue()
    assert "alert.failed" in log_stream.getvalue()


def test_a_full_queue_drops_rather_than_waits(clock: ManualClock) -> None:
    sender = AlertSender("http://127.0.0.1:9/hook", clock)  # not started: nothing drains it
    for i in range(250):
        sender.send(Alert(f"c{i}:raised", "x"))
    assert sender.dropped == 50


def test_an_alert_s_server_text_tells_no_one_and_hides_no_link() -> None:
    text = alert_text(
        "harvester@host: job x has failed 3 runs in a row; last error: "
        "@everyone see [the fix](http://evil.example) <!channel>"
    )
    assert text == (
        "harvester@host: job x has failed 3 runs in a row; last error: "
        "@\u200beveryone see the fix (http://evil.example) <\u200b!channel>"
    )
