"""Alerts: a message to HARVESTER_ALERT_WEBHOOK when something needs a human, and when it is over.

`AlertRules` is pure: it is told the state of each condition (a job failing N runs in a row, the
session unusable, maintenance longer than an hour, the refresh token about to expire with no way
to renew it, a feed's target failing again and again, an edit of jobs.yaml refused, runs the
database refuses to record) and says
which messages are due. A message goes out when a condition's state differs from the last one
announced, at most once per cause (condition and state) per hour: a flapping job does not flood
the channel, and what is announced last is always the truth.

`AlertSender` sends them from a queue on its own thread, on the feeds' rails: one Apprise target
(`_feeds.delivery.Sender`: any Apprise URL; a plain http(s) webhook gets `{"text": ...}`, a
Discord or Slack webhook URL its own format) and the feeds' retry policy (back-off from
RETRY_BASE to RETRY_CAP, a target's Retry-After honoured), so a slow or broken webhook never
delays a run. The webhook URL is itself a credential: it is never logged.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .._core.clock import Clock
from .._core.logs import get_logger
from .._core.redact import redact_text
from .._core.retry import Retries
from .._core.text import chat_safe
from .._feeds.delivery import RETRY_BASE, RETRY_CAP, Sender

log = get_logger("harvester.alerts")

QUIET_SECONDS = 3600.0  # at most one message per cause per hour
MAX_TEXT = 1800  # Discord refuses content over 2000 characters
QUEUE_SIZE = 200
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Alert:
    cause: str  # condition:state, e.g. "job:season_results:failing"
    text: str


@dataclass
class _Condition:
    announced: bool = False  # the state the receiver was last told (False: all well)
    sent_at: dict[bool, float] = field(default_factory=dict)


class AlertRules:
    """Which messages are due, given the conditions' current states. Pure (time is passed in)."""

    def __init__(self) -> None:
        self._conditions: dict[str, _Condition] = {}

    def announced(self, condition: str) -> bool:
        """Whether the receiver was last told that `condition` holds."""
        state = self._conditions.get(condition)
        return state is not None and state.announced

    def update(
        self, condition: str, active: bool, now: float, raised: str, cleared: str
    ) -> Alert | None:
        """The current state of `condition`; returns the message to send, if one is due.

        `raised` is the text while it holds, `cleared` the text once it is over. A state held
        back by the hourly limit is announced by a later call once the hour has passed, if it
        still holds then."""
        state = self._conditions.setdefault(condition, _Condition())
        if active == state.announced:
            return None
        last = state.sent_at.get(active)
        if last is not None and now - last < QUIET_SECONDS:
            return None
        state.announced = active
        state.sent_at[active] = now
        return Alert(
            f"{condition}:{'raised' if active else 'cleared'}", raised if active else cleared
        )


def alert_text(text: str) -> str:
    """The message as sent: redacted, chat-safe (a run's error or a refused jobs file is a
    server's or a user's text: no mention, no disguised link acts) and short enough for
    Discord (2000 characters)."""
    clean = chat_safe(redact_text(text))
    if len(clean) > MAX_TEXT:
        clean = clean[: MAX_TEXT - 1] + "…"
    return clean


class AlertSender:
    """Sends messages from a queue on one thread, retrying with back-off; never blocks."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        sender: Sender | None = None,
        wait: Callable[[float], bool] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.target = sender or Sender(url)  # registers the URL and its parts as secrets
        self.clock = clock
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait  # real seconds; True means stop
        self._rng = rng or random.Random()
        self._thread = threading.Thread(target=self._work, name="alerts", daemon=True)
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def send(self, alert: Alert) -> None:
        """Queue a message; if the queue is full (the hook has been down for long), drop it."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            log.warning("alert.dropped", cause=alert.cause, reason="the queue is full")

    def stop(self, flush_seconds: float = 5.0) -> None:
        """Send what is queued for up to `flush_seconds`, then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread.is_alive():
            self._thread.join(flush_seconds)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(flush_seconds)

    def join(self) -> None:
        """Wait until everything queued so far has been handled (tests)."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                self._deliver(alert)
            finally:
                self._queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        text = alert_text(alert.text)
        cause = ""
        retries = Retries(MAX_ATTEMPTS, RETRY_BASE, RETRY_CAP, self._rng, self._wait)
        for attempt in retries:
            outcome = self.target.send(text)
            if outcome.taken:
                self.sent += 1
                log.info("alert.sent", cause=alert.cause, attempts=attempt + 1)
                return
            if outcome.refused:
                log.error("alert.refused", cause=alert.cause, reason=outcome.reason)
                return
            cause = outcome.reason
            retries.after(outcome.wait)
        log.error("alert.failed", cause=alert.cause, attempts=MAX_ATTEMPTS, last=cause)
