"""A pooled PostgreSQL connection is asked whether it is alive only when it may not be.

SQLAlchemy's `pool_pre_ping` asks the server on every checkout: a round trip more for every
transaction, which on a small write (one result: BEGIN, the write lock, one statement, COMMIT)
is a fifth of the round trips and of both processes' CPU. Here a connection is pinged when it
has been idle for more than PING_AFTER seconds (a server restarted, a network gone quiet), or
when its socket already has something to say: the server ended the session (it writes why,
then hangs up), or `pg.sever` shut the socket down. A connection used within the last second
with a quiet socket goes straight to work. If its server vanished without a word, the write
lock finds it dead before anything ran and `db.write` begins again on a fresh one; from then
on every connection the pool held before is pinged (`suspect`), as after a ping that failed
(SQLAlchemy invalidates a pool on a disconnect alike). Only the write lock begins again: a
read or another transaction that draws a connection dead since its use a moment ago fails
once (a run's read fails that run; the next one draws a fresh connection). Connection pools
that skip the check within a short window of the last use are common: HikariCP's is half a
second.
"""

from __future__ import annotations

import select
import time
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

PING_AFTER = 1.0  # seconds a connection may sit idle in the pool and still skip the ping
_RETURNED = "harvester_returned_at"  # in the pool entry's info: when it was last returned
# a pool -> when a connection of it was found dead: those returned before are pinged
_suspected: weakref.WeakKeyDictionary[Pool, float] = weakref.WeakKeyDictionary()


def suspect(engine: Engine) -> None:
    """A connection of `engine` was found dead: ping every connection returned before now."""
    _suspected[engine.pool] = time.monotonic()


def ping_when_in_doubt(engine: Engine) -> None:
    """Check `engine`'s connections on checkout as the module says (instead of pre-ping)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_: Any, entry: Any) -> None:
        entry.info[_RETURNED] = time.monotonic()  # it just answered: alive

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, entry: Any) -> None:
        if dbapi_connection is not None:
            entry.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, entry: Any, _: Any) -> None:
        returned = entry.info.get(_RETURNED)
        recent = returned is not None and time.monotonic() - returned < PING_AFTER
        # the engine's pool of now: `dispose` replaces it (this listener goes with it)
        trusted = recent and returned > _suspected.get(engine.pool, float("-inf"))
        if trusted and socket_quiet(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # the pool throws this connection away and checks out a fresh one; the ones
            # returned before it may share its fate (a server restarted): they are pinged too
            suspect(engine)
            raise DisconnectionError("the pooled database connection is gone") from exc


def socket_quiet(dbapi_connection: Any) -> bool:
    """True when the connection is open and nothing waits on its socket (an idle session's
    server sends nothing unasked: no LISTEN here); False when it is closed, the server wrote
    (an error, a goodbye) or hung up, or the socket was shut down."""
    try:
        if dbapi_connection.closed:
            return False
        fileno = dbapi_connection.pgconn.socket
    except Exception:  # closed meanwhile: not quiet, ask
        return False
    poller = select.poll()  # (POSIX; harvester refuses other systems at start-up)
    poller.register(fileno, select.POLLIN)
    trouble = select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL
    return not any(events & trouble for _, events in poller.poll(0))
