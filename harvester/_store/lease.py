"""Which service is active on PostgreSQL: a lease that only progress renews.

One row (`service_lease`, id 1) names the holder, its term and when the lease ends, in epoch
seconds of the database server's clock (no host's clock takes part). The active service renews
it every `ttl / 4` seconds on a connection of its own. A standby takes it when it is free:
released, lapsed (not renewed for `ttl` seconds: a frozen process, a cut link, a proxy or
pooler that keeps a gone client's session open), or its holder's lease connection is gone (a
killed process: at once). Taking it, the standby ends the old holder's server sessions
(`pg_terminate_backend`), so a transaction the old one left open ends, and the write lock with
it.

The holder judges itself by its own monotonic clock: it counts the lease as held until
`ttl - margin` seconds after it *sent* the last renewal that succeeded, which is before the
server can count it lapsed. Past that instant, renewed or not (a renewal hanging behind a frozen
proxy), it is lost: the fence refuses every write, and every connection of the engine is
severed, so a thread waiting on one is let go. The database fences it as well: a write
transaction, once it holds the write lock, checks that the row still names its holder and term.

Every statement on the lease connection is bounded on both sides: server-side limits, and a
client-side deadline that shuts the socket (`pg.deadline`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from .._core.errors import ConfigError
from .._core.logs import get_logger
from .._core.text import error_line
from . import pg
from .db import read, replica_position

log = get_logger("harvester.lease")

DEFAULT_TTL = 10.0  # seconds: HARVESTER_LEASE_SECONDS

_NOW = "extract(epoch FROM clock_timestamp())::float8"
_MY_START = (
    "(SELECT extract(epoch FROM backend_start)::float8 FROM pg_stat_activity "
    "WHERE pid = pg_backend_pid())"
)
_CONNECTED = (
    "EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = l.backend_pid "
    "AND abs(extract(epoch FROM a.backend_start)::float8 - l.backend_start) < 0.001)"
)
# free: released, lapsed, or its holder's lease connection gone; the old holder comes back
TAKE = f"""
WITH old AS (SELECT holder, backend_pid FROM service_lease WHERE id = 1)
UPDATE service_lease AS l
SET term = l.term + 1, holder = %(holder)s, host = %(host)s, pid = %(pid)s,
    backend_pid = pg_backend_pid(), backend_start = {_MY_START},
    acquired_at = {_NOW}, renewed_at = {_NOW}, expires_at = {_NOW} + %(ttl)s
WHERE l.id = 1 AND (l.holder IS NULL OR l.expires_at IS NULL OR l.expires_at <= {_NOW}
                    OR NOT {_CONNECTED})
RETURNING l.term, (SELECT holder FROM old), (SELECT backend_pid FROM old)
"""
# a renewal names the lease connection it came on (a new one after a reconnect)
RENEW = f"""
UPDATE service_lease
SET renewed_at = {_NOW}, expires_at = {_NOW} + %(ttl)s,
    backend_pid = pg_backend_pid(), backend_start = {_MY_START}
WHERE id = 1 AND holder = %(holder)s AND term = %(term)s AND expires_at > {_NOW}
RETURNING term
"""
RELEASE = """
UPDATE service_lease SET holder = NULL, expires_at = NULL, backend_pid = NULL,
    backend_start = NULL
WHERE id = 1 AND holder = %(holder)s AND term = %(term)s
"""
HOLDS = (
    "SELECT EXISTS (SELECT 1 FROM service_lease WHERE id = 1 AND holder = %(holder)s "
    f"AND term = %(term)s AND expires_at > {_NOW})"
)
STATE = f"""
SELECT l.holder, l.host, l.pid, l.term, l.expires_at, {_NOW}, {_CONNECTED}
FROM service_lease AS l WHERE l.id = 1
"""


@dataclass(frozen=True)
class LeaseTiming:
    """The lease's times, from its length (pure)."""

    ttl: float

    @property
    def renew_every(self) -> float:
        return self.ttl / 4

    @property
    def margin(self) -> float:
        """How much sooner than the server the holder counts its lease lapsed: covers clocks
        that run at slightly different rates, and the renewal's trip to the server."""
        return max(0.5, self.ttl / 10)

    @property
    def statement_timeout(self) -> float:
        """The client's bound on one statement on the lease connection."""
        return max(1.0, self.ttl * 0.3)

    def held_until(self, sent: float) -> float:
        """Until when (monotonic) a renewal sent at `sent` that succeeded keeps the lease."""
        return sent + self.ttl - self.margin


@dataclass(frozen=True)
class LeaseState:
    """The lease as one reader sees it (`harvester status`, the health of a standby)."""

    held: bool
    pid: int | None
    host: str | None
    term: int
    expires_in: float | None  # seconds, on the server's clock (as of the replica's position)
    replica_behind: float | None  # a replica: how many seconds behind its primary


def lease_state(engine: Engine) -> LeaseState:
    """Who holds the lease. On a replica the lease is judged as of the last commit it shows
    (the primary's lease connections are not visible there)."""
    with read(engine) as conn:
        row = conn.exec_driver_sql(STATE).first()
    position = replica_position(engine)
    if row is None:
        return LeaseState(False, None, None, 0, None, None)
    holder, host, pid, term, expires_at, now, connected = row
    behind = None
    if position is not None:
        as_of, replica_now = position
        now, connected, behind = as_of, True, max(0.0, replica_now - as_of)
    expires_in = expires_at - now if expires_at is not None else None
    held = holder is not None and expires_in is not None and expires_in > 0 and bool(connected)
    return LeaseState(held, pid if held else None, host, int(term), expires_in, behind)


class LeaseLock:
    """The ServiceLock of PostgreSQL (see `_store.lock`): the lease, kept by a keeper thread
    and watched by a watchdog thread while held."""

    supports_standby = True

    def __init__(
        self,
        engine: Engine,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.timing = LeaseTiming(ttl)
        self.name = pg.tag_of(engine)
        self.replaced: tuple[int, ...] = ()  # the sessions ended at the last takeover
        self.lost_because: str | None = None
        self._monotonic = monotonic
        self._connection: Any = None  # the lease connection: a standby's tries, then the lease
        self._term: int | None = None
        self._held_until = 0.0
        self._lost = False
        self._guard = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- the ServiceLock -----------------------------------------------------------------------

    def try_acquire(self) -> bool:
        if self.still_held():
            return True
        connection = self._lease_connection()
        params = {
            "holder": self.name,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "ttl": self.timing.ttl,
        }
        sent = self._monotonic()
        try:
            with pg.deadline(connection, self.timing.statement_timeout):
                row = connection.execute(TAKE, params).fetchone()
        except Exception:
            self._drop_connection()
            raise
        if row is None:
            return False
        term, old_holder, old_backend = row
        with self._guard:
            self._term, self._lost, self.lost_because = int(term), False, None
            self._held_until = self.timing.held_until(sent)
        if old_holder is not None and old_holder != self.name:
            self.replaced = self._end_sessions(old_holder, old_backend)
        pg.fence(self.engine, self)
        self._start_keeping()
        log.info("lease.acquired", term=self._term, replaced_sessions=len(self.replaced))
        return True

    def acquire(self) -> None:
        if not self.try_acquire():
            raise ConfigError("another harvester service is active on this database (its lease)")

    def still_held(self) -> bool:
        """The holder's own verdict, from its monotonic clock alone (no I/O: never blocks)."""
        with self._guard:
            return (
                self._term is not None and not self._lost and self._monotonic() < self._held_until
            )

    def lapsed(self) -> bool:
        """Held until now and not any more, by its own clock (not yet released)."""
        with self._guard:
            return self._term is not None and (self._lost or self._monotonic() >= self._held_until)

    def release(self) -> None:
        """Stop renewing and, if the lease is still ours, free it (a standby takes it at its
        next try instead of after the lease lapses)."""
        self._stop_keeping()
        with self._guard:
            term, lost = self._term, self._lost
            self._term = None
        if term is not None and not lost:
            try:
                connection = self._lease_connection()
                with pg.deadline(connection, self.timing.statement_timeout):
                    connection.execute(RELEASE, {"holder": self.name, "term": term})
            except Exception as exc:  # it lapses by itself
                log.warning("lease.release_failed", error=_line(exc))
            pg.unfence(self.engine)
        # a lost lease stays fenced: a straggling run of this service writes nothing
        self._drop_connection()

    def holder(self) -> int | None:
        state = lease_state(self.engine)
        return (state.pid or -1) if state.held else None

    # -- the fence (`pg.take_write_lock` asks) ---------------------------------------------------

    def alive(self) -> bool:
        return self.still_held()

    def holds(self, connection: Connection) -> bool:
        with self._guard:
            term = self._term
        if term is None:
            return False
        held = connection.exec_driver_sql(HOLDS, {"holder": self.name, "term": term}).scalar()
        return bool(held)

    # -- keeping it ----------------------------------------------------------------------------

    def _start_keeping(self) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._renew_loop, name="lease-keeper", daemon=True),
            threading.Thread(target=self._watch_loop, name="lease-watchdog", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _stop_keeping(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(self.timing.statement_timeout + 1)
        self._threads = []

    def _renew_loop(self) -> None:
        """Renew every `renew_every` seconds; after a failure, try again soon on a new
        connection. A renewal the server refuses means the lease is someone else's."""
        stop = self._stop
        delay = self.timing.renew_every
        failing = False
        while not stop.wait(delay):
            with self._guard:
                term = self._term
            if term is None:
                return
            sent = self._monotonic()
            try:
                connection = self._lease_connection()
                with pg.deadline(connection, self.timing.statement_timeout):
                    row = connection.execute(
                        RENEW, {"holder": self.name, "term": term, "ttl": self.timing.ttl}
                    ).fetchone()
            except Exception as exc:
                if stop.is_set():
                    return
                if not failing:
                    log.warning("lease.renewal_failed", error=_line(exc), retrying=True)
                failing = True
                self._drop_connection()
                delay = min(self.timing.renew_every, 0.5)
                continue
            if row is None:
                self._lose("another service took the lease, or it lapsed on the server")
                return
            if failing:
                log.info("lease.renewed_again")
            failing = False
            delay = self.timing.renew_every
            with self._guard:
                self._held_until = max(self._held_until, self.timing.held_until(sent))

    def _watch_loop(self) -> None:
        """The holder's own clock: past `held_until` without a renewal, the lease is lost."""
        stop = self._stop
        while not stop.is_set():
            with self._guard:
                left = self._held_until - self._monotonic()
            if left <= 0:
                self._lose(f"not renewed within {self.timing.ttl - self.timing.margin:g} s")
                return
            stop.wait(left)

    def _lose(self, reason: str) -> None:
        """From now on this service writes nothing: the fence refuses, and every connection of
        the engine is severed (a write in flight fails, a thread stuck on one is let go)."""
        with self._guard:
            if self._lost or self._term is None:
                return
            self._lost = True
            self.lost_because = reason
        self._stop.set()
        severed = pg.sever(self.engine)
        if self._connection is not None:
            pg.shutdown_socket(self._connection)
        log.error("lease.lost", reason=reason, connections_severed=severed)

    # -- the connection ------------------------------------------------------------------------

    def _lease_connection(self) -> Any:
        with self._guard:
            connection = self._connection
            if connection is not None and not connection.closed and not connection.broken:
                return connection
        connection = pg.connect_for_lease(self.engine)
        with self._guard:
            self._connection = connection
        return connection

    def _drop_connection(self) -> None:
        with self._guard:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                connection.close()

    def _end_sessions(self, holder: str, backend_pid: int | None) -> tuple[int, ...]:
        """End the replaced service's sessions (its lease connection and its engine's), so
        what it held ends with them; a failure leaves them to the server's own limits."""
        try:
            connection = self._lease_connection()
            with pg.deadline(connection, self.timing.statement_timeout + 5):
                pids = pg.terminate(connection, pg.application_names(holder), backend_pid)
        except Exception as exc:
            log.warning("lease.terminate_failed", holder=holder, error=_line(exc))
            return ()
        if pids:
            log.info("lease.replaced_sessions_ended", holder=holder, sessions=len(pids))
        return tuple(pids)


def _line(exc: BaseException) -> str:
    return error_line(exc, limit=300)
