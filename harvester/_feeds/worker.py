"""The sender: one lane (a thread) per feed and target, each telling its rows in order.

A lane reads the oldest rows its target has not taken, renders them, sends, and marks what
became of them in one short write transaction. Lanes never share a thread, so a target that
hangs or refuses holds up only its own lane, never another target, a harvest or a store.

Limits, per feed and target:
- at most `per_minute` messages a minute (default 20), and never sooner than the target asks
  (a 429's `retry_after`, `Retry-After`, a spent `X-RateLimit-Remaining`);
- a backlog larger than a minute's worth (a first run that finds 10,000 rows, a target back
  from an outage) becomes one digest: the first `digest_rows` rows' lines and "… and N more",
  every one of them marked told (`folded` for those only counted);
- with `digest: true`, one message per run (once the run has finished).

A row a template cannot render is marked failed with its reason and the lane goes on; a
target's 4xx refusal fails the rows of that message; anything else (no answer, 5xx, 429) is
tried again with back-off, for as long as it takes, and counted on the target's row of
`feed_targets` so that a target failing again and again raises an alert.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select

from .._core.clock import Clock, iso_seconds, parse_iso
from .._core.logs import get_logger
from .._core.retry import backoff_delay
from .._core.run_status import RunStatus
from .._store import db
from .._store.models import Run
from . import outbox
from .delivery import RETRY_BASE, RETRY_CAP, Outcome, Sender
from .render import Renderer, RenderError
from .schema import TARGETS
from .spec import FeedSpec, Target

log = get_logger("harvester.feeds")

POLL_SECONDS = 1.0  # a lane looks for rows another process queued at least this often
FOLD_LIMIT = 100_000  # rows counted into one digest's "… and N more" at most
RUN_WAIT_SECONDS = 600.0  # a digest per run waits this long at most for a run to finish
WINDOW = 60.0

SenderFactory = Callable[[str], Sender]


class Lane:
    """One feed's rows to one target."""

    def __init__(
        self,
        feed: FeedSpec,
        target: Target,
        engine: Engine,
        clock: Clock,
        sender: Sender,
        wait: Callable[[float], bool],
        rng: random.Random,
    ) -> None:
        self.feed = feed
        self.target = target
        self.engine = engine
        self.clock = clock
        self.sender = sender
        self._wait = wait
        self._rng = rng
        self.renderer = Renderer(feed.template)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.failures = 0
        self.next_at = 0.0
        self._sent: deque[float] = deque()
        self.thread = threading.Thread(
            target=self._loop, name=f"feed-{feed.name}-{target.index}", daemon=True
        )

    def update(self, feed: FeedSpec) -> None:
        if feed.template != self.feed.template:
            self.renderer = Renderer(feed.template)
        self.feed = feed

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                pause = self.step()
            except Exception as exc:  # a database hiccup: wait and look again
                log.warning(
                    "feed.lane_failed",
                    feed=self.feed.name,
                    target=self.target.label,
                    error=f"{type(exc).__name__}: {str(exc)[:200]}",
                )
                pause = POLL_SECONDS
            if pause is None:
                continue
            if self._wait(pause):
                return

    def sleep(self, seconds: float) -> bool:
        """Real seconds, cut short by a wake (new rows) or the stop; True means stop."""
        self.wake.wait(seconds)
        self.wake.clear()
        return self.stopping.is_set()

    def step(self) -> float | None:
        """Tell the next message if one is due; how long to wait before the next step (None:
        go on at once)."""
        now = self.clock.now()
        if now < self.next_at:
            return min(self.next_at - now, POLL_SECONDS)
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        if len(self._sent) >= self.feed.per_minute:
            self.next_at = self._sent[0] + WINDOW
            return min(self.next_at - now, POLL_SECONDS)
        message = self._next_message(now)
        if message is None:
            return POLL_SECONDS
        text, shown, folded = message
        if not shown and not folded:
            return None  # every row of it failed to render: marked; go on
        outcome = self.sender.send(text)
        self._record(outcome, shown, folded)
        return None

    def _next_message(self, now: float) -> tuple[str, list[int], list[int]] | None:
        feed, target = self.feed, self.target.id
        with db.read(self.engine) as conn:
            backlog = outbox.count_pending(conn, feed.name, target)
            if not backlog:
                return None
            first = outbox.pending(conn, feed.name, target, 1)[0]
            if feed.digest:
                if not self._run_over(conn, first, now):
                    return None
                run = first.run_id
                items = outbox.pending(conn, feed.name, target, feed.digest_rows + 10, run=run)
                ids = outbox.pending_ids(conn, feed.name, target, FOLD_LIMIT, run=run)
            elif backlog > feed.per_minute:
                items = outbox.pending(conn, feed.name, target, feed.digest_rows + 10)
                ids = outbox.pending_ids(conn, feed.name, target, FOLD_LIMIT)
            else:
                return self._one(first)
        return self._digest(items, ids)

    def _run_over(self, conn: Any, item: outbox.Item, now: float) -> bool:
        """A digest per run waits for its run to finish (bounded: a long run still reports)."""
        if item.run_id is None:
            return True
        status = conn.execute(select(Run.status).where(Run.id == item.run_id)).scalar()
        if status != RunStatus.RUNNING.value:
            return True
        created = outbox.created_at(conn, item.id)
        return created is not None and now - parse_iso(created) > RUN_WAIT_SECONDS

    def _one(self, item: outbox.Item) -> tuple[str, list[int], list[int]]:
        try:
            return self.renderer.row(item.values), [item.id], []
        except RenderError as exc:
            self._fail([item.id], f"template: {exc}")
            return "", [], []

    def _digest(
        self, items: Sequence[outbox.Item], ids: Sequence[int]
    ) -> tuple[str, list[int], list[int]]:
        """The first rows shown, every other row of `ids` counted and folded in."""
        text, shown_at, failed = self.renderer.digest(
            [i.values for i in items], self.feed.digest_rows, total=len(ids)
        )
        bad = {items[i].id for i in failed}
        if bad:
            self._fail(sorted(bad), "template: the row could not be rendered")
        shown = [items[i].id for i in shown_at]
        if not shown:
            return "", [], []
        taken = set(shown) | bad
        return text, shown, [i for i in ids if i not in taken]

    # -- what became of it ---------------------------------------------------------------------

    def _fail(self, ids: list[int], reason: str) -> None:
        stamp = iso_seconds(self.clock.now())
        with db.write(self.engine) as conn:
            outbox.mark_failed(conn, ids, reason, stamp)
        log.warning("feed.row_failed", feed=self.feed.name, rows=len(ids), reason=reason)

    def _record(self, outcome: Outcome, shown: list[int], folded: list[int]) -> None:
        now = self.clock.now()
        stamp = iso_seconds(now)
        targets = [t.id for t in self.feed.targets]
        with db.write(self.engine) as conn:
            if outcome.taken:
                outbox.mark_taken(conn, shown, self.target.id, targets, stamp, folded)
            elif outcome.refused:
                outbox.mark_failed(
                    conn, shown + folded, f"{self.target.label}: {outcome.reason}", stamp
                )
            self._target_row(conn, outcome, stamp)
        if outcome.taken:
            self.failures = 0
            self._sent.append(now)
            self.next_at = now + (outcome.pause or 0.0)
            log.info(
                "feed.sent",
                feed=self.feed.name,
                target=self.target.label,
                rows=len(shown) + len(folded),
            )
            return
        self.failures += 1
        wait = outcome.wait
        if wait is None:
            wait = backoff_delay(self.failures - 1, RETRY_BASE, RETRY_CAP, self._rng)
        self.next_at = now + (0.0 if outcome.refused else wait)
        log.warning(
            "feed.send_failed",
            feed=self.feed.name,
            target=self.target.label,
            reason=outcome.reason,
            failures=self.failures,
            refused=outcome.refused,
            retry_in=None if outcome.refused else round(wait, 1),
        )

    def _target_row(self, conn: Any, outcome: Outcome, stamp: str) -> None:
        key = {"feed": self.feed.name, "target": self.target.id}
        if outcome.taken:
            values: dict[str, Any] = {
                "label": self.target.label,
                "failures": 0,
                "failing_since": None,
                "last_sent_at": stamp,
            }
        else:
            since = conn.execute(
                select(TARGETS.c.failing_since).where(
                    TARGETS.c.feed == self.feed.name, TARGETS.c.target == self.target.id
                )
            ).scalar()
            values = {
                "label": self.target.label,
                "failures": self.failures + 1,
                "failing_since": since or stamp,
                "last_error": outcome.reason[:500],
                "last_error_at": stamp,
            }
        db.upsert(conn, TARGETS, key, values)


class FeedSender:
    """The lanes of every enabled feed; `set_feeds` on each (re)load of jobs.yaml."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        senders: SenderFactory = Sender,
        wait: Callable[[Lane, float], bool] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._senders = senders
        self._wait = wait
        self._rng = rng or random.Random()
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._lock = threading.Lock()
        self._started = False

    @property
    def lanes(self) -> list[Lane]:
        with self._lock:
            return list(self._lanes.values())

    def set_feeds(self, feeds: Iterable[FeedSpec]) -> None:
        wanted = {(f.name, t.id): (f, t) for f in feeds if f.enabled for t in f.targets}
        with self._lock:
            for key in set(self._lanes) - set(wanted):
                self._lanes.pop(key).stopping.set()
            for key, (feed, target) in wanted.items():
                lane = self._lanes.get(key)
                if lane is not None:
                    lane.update(feed)
                    continue
                lane = self._lane(feed, target)
                self._lanes[key] = lane
                if self._started:
                    lane.thread.start()

    def _lane(self, feed: FeedSpec, target: Target) -> Lane:
        holder: list[Lane] = []

        def wait(seconds: float) -> bool:
            lane = holder[0]
            if self._wait is not None:
                return self._wait(lane, seconds) or lane.stopping.is_set()
            return lane.sleep(seconds)

        lane = Lane(
            feed, target, self.engine, self.clock, self._senders(target.url), wait, self._rng
        )
        holder.append(lane)
        return lane

    def start(self) -> None:
        with self._lock:
            self._started = True
            for lane in self._lanes.values():
                lane.thread.start()

    def notify(self) -> None:
        """Rows were queued: the lanes look now rather than at their next poll."""
        for lane in self.lanes:
            lane.wake.set()

    def stop(self, seconds: float = 5.0) -> None:
        """Stop every lane; a lane in the middle of a send gets `seconds` to finish it (its
        thread is a daemon: a hanging target never holds the process)."""
        with self._lock:
            lanes = list(self._lanes.values())
            self._started = False
        for lane in lanes:
            lane.stopping.set()
            lane.wake.set()
        deadline = time.monotonic() + seconds
        for lane in lanes:
            if lane.thread.is_alive():
                lane.thread.join(max(0.0, deadline - time.monotonic()))
