"""`harvester query`: SQL against the archive that cannot change it, streamed, with bounds.

Three walls: the file is opened read-only (`mode=ro`, its path escaped in the URI), `PRAGMA
query_only` is on, and an authorizer allows only reading and an allow-list of SQLite's pure
functions (nothing that loads code, registers state or hands out native pointers), so a refusal
comes back as one clear line before anything runs. Rows go to the output as they come: an answer
is bounded by the size of one value (SQLite's length limit, which also stops `zeroblob(5e9)`)
and of the whole text written, not by memory.

The SQLite-specific part is `open_readonly`; on PostgreSQL `query` takes `db.read_only_rows`
instead (a read-only transaction with a statement timeout, streamed; see `_store.pg`).

A caller that serves people other than the archive's owner (`harvester mcp`) also passes
`hidden`, the tables no statement may read (`SECRET_TABLES`): SQLite's authorizer refuses every
read of them, PostgreSQL's planner names every table a statement would read before it runs.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .._core.errors import ConfigError, ReadOnlyViolation
from .._core.text import did_you_mean, nearest
from . import db
from .db import sqlite_path
from .pg import hidden_refusal

__all__ = [
    "SECRET_TABLES",
    "Answer",
    "QueryLimits",
    "ReadOnlyViolation",
    "hidden_refusal",
    "query",
    "run_query",
]

# the OAuth session (encrypted tokens) and the login bookkeeping beside it
SECRET_TABLES = frozenset({"oauth_tokens", "auth_state", "auth_events"})

MAX_VALUE_BYTES = 100_000_000  # one value (a stored body, a group_concat): --max-value-bytes
MAX_ANSWER_BYTES = 1_000_000_000  # the whole answer as written: --max-bytes

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_RECURSIVE,
}
_SAFE_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "foreign_key_list",
    "table_list",
    "database_list",
    "integrity_check",
    "quick_check",
}
# SQLite's own functions that only compute a value from their arguments (or read the clock, the
# connection's counters or random bytes). Anything else, load_extension, fts3_tokenizer (it
# registers and reveals native pointers), fts5(), the rtree and FTS helpers, a function of a
# future SQLite, is refused.
_SAFE_FUNCTIONS = frozenset(
    """
    -> ->> abs acos acosh asin asinh atan atan2 atanh avg ceil ceiling changes char coalesce
    concat concat_ws cos cosh count cume_dist current_date current_time current_timestamp date
    datetime degrees dense_rank exp first_value floor format glob group_concat hex ifnull iif
    instr json json_array json_array_length json_extract json_group_array json_group_object
    json_insert json_object json_patch json_quote json_remove json_replace json_set json_type
    json_valid jsonb julianday lag last_insert_rowid last_value lead length like likelihood
    likely ln log log10 log2 lower ltrim max min mod nth_value ntile nullif octet_length
    percent_rank pi pow power printf quote radians random randomblob rank replace round
    row_number rtrim sign sin sinh soundex sqlite_source_id sqlite_version sqrt strftime
    string_agg substr substring sum tan tanh time timediff total total_changes trim trunc
    typeof unhex unicode unistr unixepoch unlikely upper zeroblob
    """.split()  # noqa: SIM905 (a word list reads better than 110 quoted names)
)
# Read-only table-valued functions: connected before the authorizer is set (connecting one
# declares its schema, which the authorizer would refuse as a write), then only read.
_TABLE_VALUED = "SELECT 1 FROM json_each('[]'), json_tree('[]')"


@dataclass(frozen=True)
class QueryLimits:
    timeout: float = 60.0  # seconds
    max_value_bytes: int = MAX_VALUE_BYTES
    max_answer_bytes: int = MAX_ANSWER_BYTES
    rows: int | None = None  # at most this many rows


def _authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action == sqlite3.SQLITE_FUNCTION:
        allowed = (arg2 or "").lower() in _SAFE_FUNCTIONS
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SAFE_PRAGMAS:
        return sqlite3.SQLITE_OK  # these only read (arg2 is their argument, a table name)
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _hiding(hidden: frozenset[str], refused: list[str]) -> Callable[..., int]:
    """The authorizer, refusing besides every read of a `hidden` table (a column read, a
    `count(*)` of it, a pragma about it), and noting which was asked for (for the message)."""

    def authorize(action: int, arg1: str | None, arg2: str | None, *rest: Any) -> int:
        table = arg1 if action == sqlite3.SQLITE_READ else None
        if action == sqlite3.SQLITE_PRAGMA:
            table = arg2
        if table is not None and table.lower() in hidden:
            refused.append(table.lower())
            return sqlite3.SQLITE_DENY
        return _authorizer(action, arg1, arg2, *rest)

    return authorize


def readonly_uri(path: Path) -> str:
    """A `file:` URI that opens exactly `path`, read-only: `#`, `?`, `%` and spaces escaped
    (unescaped, `a#b.db` would open `a`, and `x?mode=rwc` a new writable file)."""
    return f"file:{quote(str(path.resolve()), safe='/')}?mode=ro"


def open_readonly(
    database_url: str,
    limits: QueryLimits,
    hidden: Collection[str] = (),
    refused: list[str] | None = None,
) -> sqlite3.Connection:
    """A connection that can only read the archive (the one SQLite-specific step), and none of
    the `hidden` tables (`refused` collects those a statement asked for)."""
    path = sqlite_path(database_url)
    if path is None:
        raise ConfigError("harvester query works on SQLite and PostgreSQL databases only")
    if not Path(path).exists():
        raise ConfigError(f"no database at {path} (run `harvester db upgrade` or a job first)")
    connection = sqlite3.connect(readonly_uri(Path(path)), uri=True, timeout=30)
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes)
        connection.execute(_TABLE_VALUED).fetchall()
        if hidden:
            names = frozenset(name.lower() for name in hidden)
            connection.set_authorizer(_hiding(names, [] if refused is None else refused))
        else:
            connection.set_authorizer(_authorizer)
    except BaseException:
        connection.close()
        raise
    return connection


@dataclass
class Answer:
    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


@contextmanager
def query(
    database_url: str,
    sql: str,
    limits: QueryLimits | None = None,
    hidden: Collection[str] = (),
) -> Iterator[Answer]:
    """One read-only statement; its rows are read as the caller iterates. It is stopped after
    `limits.timeout` seconds or on Ctrl-C (SQLite would otherwise never give the process back);
    every SQLite error, while preparing or while reading, is one ConfigError line. A statement
    reading a `hidden` table is refused before it runs; one naming a table that does not exist
    is told the nearest names there are."""
    with contextlib.ExitStack() as stack:
        try:
            answer = stack.enter_context(_query(database_url, sql, limits, hidden))
        except ConfigError as exc:
            raise _with_suggestion(exc, database_url, hidden) from None
        yield answer


_MISSING_TABLE = re.compile(r'no such table: (?:main\.)?(\S+)|relation "([^"]+)" does not exist')
_RELATIONS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
    "AND name NOT LIKE 'sqlite%'",
    "postgresql": "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema()",
}


# what a reader may call a table by another name: the tables it means
_MEANT = {
    "race": ("session_results", "subsessions"),
    "driver": ("members", "session_results"),
    "event": ("event_log",),
    "rating": ("member_charts",),
}


def _with_suggestion(exc: ConfigError, database_url: str, hidden: Collection[str]) -> ConfigError:
    """A missing table's error with the nearest tables and views there are (`races`: did you
    mean `laps`?), never a hidden one; any other error as it was."""
    found = _MISSING_TABLE.search(str(exc))
    if found is None or isinstance(exc, ReadOnlyViolation):
        return exc
    missing = (found.group(1) or found.group(2)).strip("\"'`[]")
    backend = "postgresql" if db.is_postgres_url(database_url) else "sqlite"
    try:
        with _query(database_url, _RELATIONS[backend], QueryLimits(timeout=5.0), hidden) as names:
            visible = {str(row[0]) for row in names.rows} - {name.lower() for name in hidden}
    except ConfigError:
        return exc
    visible.discard("alembic_version")
    meant = [t for word, tables in _MEANT.items() if word in missing.lower() for t in tables]
    close = [t for t in meant if t in visible]
    close += [
        t for t in nearest(missing.lower(), sorted(visible), n=3, cutoff=0.5) if t not in close
    ]
    close = close[:3]
    hint = did_you_mean(close, "") + " (`harvester query --help` names the tables and views)"
    return type(exc)(f"{exc}{hint}")


@contextmanager
def _query(
    database_url: str,
    sql: str,
    limits: QueryLimits | None = None,
    hidden: Collection[str] = (),
) -> Iterator[Answer]:
    limits = limits or QueryLimits()
    if db.is_postgres_url(database_url):
        with db.read_only_rows(database_url, sql, limits.timeout, hidden) as (columns, stream):
            rows = itertools.islice(stream, limits.rows) if limits.rows else stream
            yield Answer(columns, rows)
        return
    refused: list[str] = []
    connection = open_readonly(database_url, limits, hidden, refused)
    deadline = time.monotonic() + limits.timeout
    interrupted = threading.Event()

    def keep_going() -> int:  # called by SQLite every few thousand steps
        return 1 if interrupted.is_set() or time.monotonic() > deadline else 0

    def explained(exc: BaseException) -> ConfigError:
        if refused:  # the authorizer refused a hidden table: say which, not "read-only"
            return hidden_refusal(refused[0])
        return _explain(exc, interrupted.is_set(), limits)

    try:
        connection.set_progress_handler(keep_going, 10_000)
        with _ctrl_c_sets(interrupted):
            try:
                cursor = connection.execute(sql)
            except (sqlite3.DatabaseError, sqlite3.Warning) as exc:
                raise explained(exc) from None
            columns = [description[0] for description in cursor.description or ()]
            yield Answer(columns, _rows(cursor, limits.rows, explained))
    finally:
        connection.close()


def _rows(
    cursor: sqlite3.Cursor, limit: int | None, explain: Callable[[BaseException], ConfigError]
) -> Iterator[tuple[Any, ...]]:
    count = 0
    while limit is None or count < limit:
        try:
            batch = cursor.fetchmany(min(500, limit - count) if limit else 500)
        except sqlite3.DatabaseError as exc:
            raise explain(exc) from None
        if not batch:
            return
        count += len(batch)
        yield from batch


def bounded(chunks: Iterable[str], max_bytes: int) -> Iterator[str]:
    """The answer's text, stopped with one line once it would pass `max_bytes`."""
    written = 0
    for chunk in chunks:
        written += len(chunk.encode("utf-8", "surrogatepass"))
        if written > max_bytes:
            raise ConfigError(
                f"the answer is larger than {max_bytes:,} bytes and was stopped "
                "(--max-bytes raises the bound; LIMIT or --limit narrows the answer)"
            )
        yield chunk


def run_query(
    database_url: str, sql: str, limit: int | None = None, timeout: float = 60.0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every row of a read-only statement, in memory (for small answers: scripts, benchmarks)."""
    with query(database_url, sql, QueryLimits(timeout=timeout, rows=limit)) as answer:
        return answer.columns, list(answer.rows)


def _explain(exc: BaseException, by_user: bool, limits: QueryLimits) -> ConfigError:
    text = str(exc)
    if "not authorized" in text or "authorization denied" in text or "readonly" in text.lower():
        return ReadOnlyViolation(
            "harvester query is read-only: this statement would change the database or reach "
            "outside it (writes, ATTACH, VACUUM, PRAGMA, extensions and functions outside "
            "SQLite's pure ones are refused)"
        )
    if text == "interrupted":
        if by_user:
            return ConfigError("query interrupted")
        return ConfigError(
            f"the query ran longer than {limits.timeout:g} s and was stopped (--timeout)"
        )
    if "too big" in text:
        return ConfigError(
            f"a value is larger than {limits.max_value_bytes:,} bytes ({text}; "
            "--max-value-bytes raises the bound)"
        )
    return ConfigError(f"SQL error: {text}")


@contextmanager
def _ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """While a query runs, Ctrl-C asks SQLite to stop (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
