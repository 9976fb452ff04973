"""The `feeds:` section of jobs.yaml, read and checked (pure: YAML nodes in, FeedSpecs out).

    feeds:
      league_results:
        table: session_results            # or  query: "SELECT ... FROM ..."
        key: [subsession_id, cust_id]     # what makes a row new
        where: "cust_id IN (100001, 100002)"
        template: "{{ display_name }} finished P{{ finish_position + 1 }} in {{ subsession_id }}"
        targets: ["{env:LEAGUE_DISCORD}"] # Apprise URLs

Every mistake is one line naming the file, the line and the field: an unknown table or column
(in `key`, `where`, the query or the template), a template that does not parse, a target whose
scheme Apprise does not know. The SQL is checked against the tables' columns in an in-memory
SQLite database (so a query should be portable SQL), where only reading is allowed. A target's
`{env:NAME}` that is not set disables that feed only, as it does a job. Target URLs are keys:
no message quotes one.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._core.durations import parse_moment
from .._core.text import did_you_mean, nearest
from .._feeds.render import check_template
from .._feeds.spec import DEFAULT_DIGEST_ROWS, DEFAULT_PER_MINUTE, FeedSpec, Target
from .._tables.schema import SPECS, TABLE_NAMES
from . import templates
from .jobs import Problem

FEED_KEYS = (
    "table",
    "query",
    "key",
    "where",
    "template",
    "targets",
    "digest",
    "per_minute",
    "digest_rows",
    "since",
    "enabled",
)
KNOWN_KEYS = f" (known: {', '.join(FEED_KEYS)})"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_ONLY = re.compile(r"^\{env:[^{}]*\}$")
MAX_PER_MINUTE = 600
MAX_DIGEST_ROWS = 100


class _Node(Protocol):
    """A YAML value with the line it starts on (jobs_yaml's nodes)."""

    value: Any
    line: int


Add = Callable[[int, str, str], None]


@dataclass
class _Feed:
    name: str
    node: _Node
    add: Add
    env: Mapping[str, str]
    unset: list[Problem]
    file: str

    def field(self, key: str) -> _Node | None:
        values: dict[str, _Node] = self.node.value
        return values.get(key)

    def where(self, key: str) -> str:
        return f"feeds.{self.name}.{key}"


def parse_feeds(
    node: _Node | None, file: str, add: Add, env: Mapping[str, str]
) -> tuple[dict[str, FeedSpec], list[Problem]]:
    """The feeds of a `feeds:` node; problems go to `add(line, field, message)`. Returns the
    feeds read and the problems that only disable a feed (an unset `{env:NAME}`)."""
    if node is None or node.value is None:
        return {}, []
    if not isinstance(node.value, dict):
        add(node.line, "feeds", "expected a mapping of feed names to feeds")
        return {}, []
    unset: list[Problem] = []
    feeds: dict[str, FeedSpec] = {}
    for name, child in node.value.items():
        spec = _feed(_Feed(name, child, add, env, unset, file))
        if spec is not None:
            feeds[name] = spec
    return feeds, unset


def _feed(f: _Feed) -> FeedSpec | None:
    where = f"feeds.{f.name}"
    if not NAME.fullmatch(f.name):
        f.add(f.node.line, where, "a feed name is letters, digits, `_`, `.` or `-`")
    if not isinstance(f.node.value, dict):
        f.add(
            f.node.line,
            where,
            "expected a mapping with `table` (or `query`), `key`, `template` and `targets`",
        )
        return None
    values: dict[str, _Node] = f.node.value
    for name, child in values.items():
        if name not in FEED_KEYS:
            close = nearest(name, FEED_KEYS)
            f.add(
                child.line,
                f"{where}.{name}",
                f"unknown key{did_you_mean(close, KNOWN_KEYS)}",
            )
    table, query, columns = _source(f)
    key = _key(f, columns)
    condition = _where(f, table, query, columns)
    template = _template(f, columns)
    targets, unset = _targets(f)
    digest = _boolean(f, "digest", False)
    enabled = _boolean(f, "enabled", True)
    per_minute = _count(f, "per_minute", DEFAULT_PER_MINUTE, MAX_PER_MINUTE)
    digest_rows = _count(f, "digest_rows", DEFAULT_DIGEST_ROWS, MAX_DIGEST_ROWS)
    since = _since(f)
    if (table is None and query is None) or columns is None or not key or template is None:
        return None
    if not targets and not unset:
        return None
    return FeedSpec(
        name=f.name,
        key=key,
        template=template,
        targets=targets,
        table=table,
        query=query,
        where=condition,
        digest=digest,
        per_minute=per_minute,
        digest_rows=digest_rows,
        since=since,
        enabled=enabled and not unset,
        columns=columns,
        line=f.node.line,
        lines={k: v.line for k, v in values.items()},
    )


# -- the rows: table or query, key, where ---------------------------------------------------------


def _text(f: _Feed, key: str) -> str | None:
    node = f.field(key)
    if node is None or node.value is None or node.value == "":
        return None
    if not isinstance(node.value, str):
        f.add(node.line, f.where(key), f"expected text, got {type(node.value).__name__}")
        return None
    return node.value


def _source(f: _Feed) -> tuple[str | None, str | None, tuple[str, ...] | None]:
    table, query = _text(f, "table"), _text(f, "query")
    if table is not None and query is not None:
        f.add(f.node.line, f.where("table"), "has both `table` and `query`: choose one")
        return None, None, None
    if table is None and query is None:
        f.add(f.node.line, f.where("table"), "missing: which table (or `query`) the rows come from")
        return None, None, None
    if table is not None:
        spec = SPECS.get(table)
        if spec is None:
            hint = did_you_mean(
                nearest(table, TABLE_NAMES), f" (the tables are: {', '.join(TABLE_NAMES)})"
            )
            f.add(_line(f, "table"), f.where("table"), f"unknown table {table!r}{hint}")
            return None, None, None
        return table, None, spec.names
    assert query is not None
    columns, error = _query_columns(query)
    if error is not None:
        f.add(_line(f, "query"), f.where("query"), error)
        return None, None, None
    if "result_id" not in columns:
        f.add(
            _line(f, "query"),
            f.where("query"),
            "must return a `result_id` column (the stored "
            "result each row comes from, as every table has): that is how new rows are found",
        )
        return None, None, None
    return None, query, columns


def _key(f: _Feed, columns: tuple[str, ...] | None) -> tuple[str, ...]:
    node = f.field("key")
    if node is None or node.value in (None, "", []):
        f.add(
            f.node.line,
            f.where("key"),
            "missing: the column(s) that make a row new, e.g. [subsession_id, cust_id]",
        )
        return ()
    raw = node.value if isinstance(node.value, list) else [node]
    names = []
    for item in raw:
        value = item.value if hasattr(item, "value") else item
        if not isinstance(value, str) or not value:
            f.add(node.line, f.where("key"), "expected a column name or a list of them")
            return ()
        names.append(value)
    if columns is not None:
        for name in names:
            if name not in columns:
                hint = did_you_mean(nearest(name, columns))
                f.add(node.line, f.where("key"), f"unknown column {name!r}{hint}")
                return ()
    return tuple(names)


def _where(
    f: _Feed, table: str | None, query: str | None, columns: tuple[str, ...] | None
) -> str | None:
    condition = _text(f, "where")
    if condition is None or columns is None:
        return condition
    source = f"SELECT * FROM {table}" if table is not None else (query or "")
    error = _sql_error(
        f"SELECT * FROM ({source.strip().rstrip(';')}) AS feed_rows WHERE ({condition})"
    )
    if error is not None:
        f.add(_line(f, "where"), f.where("where"), error)
        return None
    return condition


def _template(f: _Feed, columns: tuple[str, ...] | None) -> str | None:
    text = _text(f, "template")
    node = f.field("template")
    if text is None:
        if node is None:
            f.add(
                f.node.line,
                f.where("template"),
                "missing: the message, e.g. "
                '"{{ display_name }} finished {{ position(finish_position) }}"',
            )
        return None
    assert node is not None
    problem = check_template(text, columns or ())
    if problem is not None and (columns is not None or "unknown column" not in problem.message):
        first = node.line + (1 if "\n" in text.strip() else 0)  # a block scalar starts below
        f.add(first + problem.line - 1, f.where("template"), problem.message)
        return None
    return text


def _targets(f: _Feed) -> tuple[tuple[Target, ...], bool]:
    from .._feeds.delivery import check_url  # Apprise loads its plugins: only for a feed

    node = f.field("targets")
    if node is None or node.value in (None, "", []):
        f.add(
            f.node.line,
            f.where("targets"),
            'missing: one or more Apprise URLs, e.g. ["{env:LEAGUE_DISCORD}"]',
        )
        return (), False
    items = node.value if isinstance(node.value, list) else [node]
    targets: list[Target] = []
    unset = False
    for index, item in enumerate(items, start=1):
        where = f"{f.where('targets')}[{index}]"
        if not isinstance(item.value, str) or not item.value.strip():
            f.add(item.line, where, "expected an Apprise URL or {env:NAME}")
            continue
        text = item.value.strip()
        if "{" in text and not _ENV_ONLY.match(text):
            f.add(item.line, where, "a target is an Apprise URL or exactly {env:NAME}")
            continue
        try:
            url = templates.env_value(text, f.env) if _ENV_ONLY.match(text) else text
        except templates.UnsetVariable as exc:
            f.unset.append(Problem(f.file, item.line, where, str(exc).replace("job", "feed")))
            unset = True
            continue
        except templates.TemplateError as exc:
            f.add(item.line, where, str(exc))
            continue
        problem = check_url(url.strip())
        if problem is not None:
            f.add(item.line, where, problem)
            continue
        targets.append(Target(url.strip(), index))
    return tuple(targets), unset


# -- the limits ---------------------------------------------------------------------------------


def _boolean(f: _Feed, key: str, default: bool) -> bool:
    node = f.field(key)
    if node is None:
        return default
    if not isinstance(node.value, bool):
        f.add(node.line, f.where(key), f"expected true or false, got {node.value!r}")
        return default
    return node.value


def _count(f: _Feed, key: str, default: int, limit: int) -> int:
    node = f.field(key)
    if node is None:
        return default
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        f.add(node.line, f.where(key), f"expected a whole number from 1 to {limit}, got {value!r}")
        return default
    return value


def _since(f: _Feed) -> str | None:
    text = _text(f, "since")
    if text is None:
        return None
    try:
        parse_moment(text, 0.0)
    except (ValueError, OverflowError):
        f.add(
            _line(f, "since"),
            f.where("since"),
            f"{text!r} is neither a date (2026-09-01) nor a time back from now (-7d)",
        )
        return None
    return text


def _line(f: _Feed, key: str) -> int:
    node = f.field(key)
    return node.line if node is not None else f.node.line


# -- SQL, checked against the tables' columns -----------------------------------------------------

_READING = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}


@functools.cache
def _schema() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    for name, spec in SPECS.items():
        conn.execute(f"CREATE TABLE {name} ({', '.join(spec.names)})")
    conn.set_authorizer(
        lambda action, *_: sqlite3.SQLITE_OK if action in _READING else sqlite3.SQLITE_DENY
    )
    return conn


_SCHEMA_LOCK = threading.Lock()  # one in-memory database, one statement at a time


def _sql_error(sql: str) -> str | None:
    if ";" in sql.strip().rstrip(";"):
        return "one statement only (no `;`)"
    try:
        with _SCHEMA_LOCK:
            _schema().execute(f"{sql} LIMIT 0").close()
    except sqlite3.DatabaseError as exc:
        return _sql_message(str(exc))
    return None


def _query_columns(query: str) -> tuple[tuple[str, ...], str | None]:
    text = query.strip().rstrip(";")
    if not re.match(r"(?is)^\s*(select|with)\b", text):
        return (), "expected a SELECT (or WITH ... SELECT) over the tables"
    if ";" in text:
        return (), "one statement only (no `;`)"
    try:
        with _SCHEMA_LOCK:
            cursor = _schema().execute(f"SELECT * FROM ({text}) AS feed_rows LIMIT 0")
            columns = tuple(d[0] for d in cursor.description or ())
            cursor.close()
    except sqlite3.DatabaseError as exc:
        return (), _sql_message(str(exc))
    return columns, None


def _sql_message(text: str) -> str:
    match = re.match(r"no such column: (?:\w+\.)?(\w+)", text)
    if match:
        return f"unknown column {match.group(1)!r}"
    match = re.match(r"no such table: (\w+)", text)
    if match:
        hint = did_you_mean(nearest(match.group(1), TABLE_NAMES))
        return f"unknown table {match.group(1)!r}{hint}"
    if "not authorized" in text:
        return "only reading is allowed (a SELECT over the tables)"
    return f"not valid SQL: {text}"
