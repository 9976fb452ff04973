"""The feeds of one process: the outbox its archive queues rows into and, in the service, the
sender that tells them. `apply` takes jobs.yaml's feeds at start and on every reload.

The order in `apply` is what leaves no gap at a feed's start: the outbox takes the new feed
first (rows stored from then on are queued), then `begin` marks what was there before it as
history (rows queued meanwhile are already in the outbox and stay queued).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from .._core.clock import Clock
from .._core.logs import get_logger
from .outbox import Outbox, begin
from .spec import FeedSpec
from .worker import FeedSender

log = get_logger("harvester.feeds")


class Feeds:
    def __init__(self, engine: Engine, clock: Clock, sender: FeedSender | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.outbox = Outbox()
        self.sender = sender
        if sender is not None:
            self.outbox.listeners.append(sender.notify)

    def apply(self, feeds: Iterable[FeedSpec]) -> list[FeedSpec]:
        """Take these feeds (the enabled ones); returns those in use."""
        chosen = [f for f in feeds if f.enabled]
        self.outbox.set_feeds(chosen)
        usable = []
        for feed in chosen:
            try:
                begin(self.engine, [feed], self.clock.now())
            except Exception as exc:  # a query the database refuses: that feed only stops
                log.error(
                    "feed.begin_failed",
                    feed=feed.name,
                    error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                )
                continue
            usable.append(feed)
        if len(usable) != len(chosen):
            self.outbox.set_feeds(usable)
        if self.sender is not None:
            self.sender.set_feeds(usable)
        return usable

    def start(self) -> None:
        if self.sender is not None:
            self.sender.start()

    def stop(self, seconds: float = 5.0) -> None:
        if self.sender is not None:
            self.sender.stop(seconds)
