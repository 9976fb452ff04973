"""What the assistant is told about the archive (pure): which tables it may see, each table's
columns with kind, unit and meaning, the schema as one document, and how the tables relate.

The analysis tables are described by `_tables.schema.SPECS`, the very specs that build them and
document them on the docs site (docs/columns.md) and in Datasette; the raw archive's tables and
views are described here. The secret tables (`_store.query.SECRET_TABLES`) and the bookkeeping
nobody asks about (locks, seen keys, migration state) are in neither list, so they are never
offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._core.errors import ConfigError
from .._core.text import did_you_mean, nearest
from .._store.query import SECRET_TABLES, hidden_refusal
from .._tables.schema import SPECS, TENTHS_MS

# how a column of each kind of the schema is stored, for someone writing SQL against it
KIND_TYPES = {
    "id": "integer (an iRacing id)",
    "int": "integer",
    "real": "real",
    "text": "text",
    "bool": "boolean (0/1 on SQLite)",
    "time": "text, ISO-8601 UTC (compares as the time it names)",
    "seconds": "real, seconds",
    "json": "JSON text",
}


@dataclass(frozen=True)
class RawTable:
    """A table or view of the raw archive, as the assistant is told about it."""

    name: str
    kind: str  # "table" or "view"
    doc: str
    columns: tuple[tuple[str, str], ...]  # (name, meaning)


_RESULT_COLUMNS = (
    ("id", "this part's id"),
    ("result_id", "the id of the result's part 0: what the analysis tables' result_id joins"),
    ("run_id", "the run that fetched it (runs.id)"),
    ("job", "the job that fetched it"),
    ("endpoint", "the /data endpoint, e.g. results/get"),
    ("params", "the request's parameters, JSON text"),
    ("fetched_at", "when it was fetched, ISO-8601 UTC"),
    ("part", "0 the resolved response, k the k-th chunk"),
    ("sha256", "the body's hash (documents.sha256)"),
    ("body", "the document exactly as received (pre-signed query strings cut), JSON text"),
    ("content_type", "its content type"),
    ("size", "the body's size in bytes"),
    ("rows", "rows in a chunk or CSV document"),
    ("url", "for a result behind a link: the link, without its query"),
    ("link_expires", "when that link expired"),
    ("envelope", "for data_url answers: the small envelope, JSON text"),
)
_ROW_COLUMNS = (
    ("result_id", "the result (its part 0's id)"),
    ("part_id", "the part the row is in"),
    ("run_id", "the run that fetched it"),
    ("job", "the job"),
    ("endpoint", "the endpoint"),
    ("params", "the request's parameters, JSON text"),
    ("fetched_at", "when it was fetched, ISO-8601 UTC"),
    ("part", "the part's number"),
    ("row_index", "the row's place in its part, from 0"),
    ("row", "the row, JSON text"),
)

RAW_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in (
        RawTable(
            "runs",
            "table",
            "Every run of every job: what was asked, how it went, what it cost.",
            (
                ("id", "the run"),
                ("job", "the job's name in jobs.yaml"),
                (
                    "trigger",
                    "what started it: schedule, startup, reload, parent (a run of a job it "
                    "follows found new values), retry, cli, manual or backfill",
                ),
                (
                    "status",
                    "running, success, failed, forbidden (403), not_found (404), maintenance, "
                    "skipped, interrupted",
                ),
                ("started_at", "ISO-8601 UTC"),
                ("finished_at", "ISO-8601 UTC (NULL while running)"),
                ("requests", "HTTP requests it made"),
                ("bytes", "bytes it received"),
                ("documents_new", "documents stored for the first time"),
                ("documents_dup", "documents already stored"),
                ("error", "why it did not succeed, one line"),
                ("ratelimit_remaining", "requests left in iRacing's rate window afterwards"),
                ("pid", "the process that ran it"),
                ("rows_new", "rows of incremental jobs seen for the first time"),
                ("rows_dup", "rows of incremental jobs seen before"),
                ("process_started_at", "when that process started, epoch seconds"),
                ("host", "the host that ran it"),
                ("parent_run_id", "the parent's run that started it (trigger parent)"),
                ("duration_seconds", "real seconds it took, whatever clock the service ran on"),
            ),
        ),
        RawTable(
            "results",
            "view",
            "Every fetched document, one row per part (part 0 the resolved response, part k "
            "chunk k), with its body as received.",
            _RESULT_COLUMNS,
        ),
        RawTable(
            "latest_results",
            "view",
            "The newest part-0 result of each job and parameter set (columns as results).",
            _RESULT_COLUMNS,
        ),
        RawTable(
            "result_rows",
            "view",
            "Each row of every chunked result, expanded (every poll: use latest_result_rows "
            "for the newest only).",
            _ROW_COLUMNS,
        ),
        RawTable(
            "latest_result_rows",
            "view",
            "Each row of each job's newest chunked result only.",
            _ROW_COLUMNS,
        ),
        RawTable(
            "documents",
            "table",
            "Each distinct body once, content-addressed by sha256.",
            (
                ("sha256", "the body's hash"),
                ("body", "the body as received, JSON text"),
                ("size", "bytes"),
                ("content_type", "its content type"),
                ("first_seen_at", "when it was first stored, ISO-8601 UTC"),
            ),
        ),
        RawTable(
            "tables_skipped",
            "table",
            "Documents (or rows of them) the analysis tables could not take, with the reason; "
            "the raw body keeps everything.",
            (
                ("result_id", "the document (results.result_id)"),
                ("endpoint", "its endpoint"),
                ("reason", "why it was skipped"),
                ("at", "when, ISO-8601 UTC"),
            ),
        ),
        RawTable(
            "cursors",
            "table",
            "An incremental job's position: the largest cursor value stored so far.",
            (
                ("job", "the job"),
                ("value", "the cursor value"),
                ("updated_at", "ISO-8601 UTC"),
                ("run_id", "the run that moved it"),
            ),
        ),
        RawTable(
            "fanout_items",
            "table",
            "Each value a fan-out job asks for, and how asking went.",
            (
                ("job", "the job"),
                ("value", "the value (a subsession id...)"),
                ("status", "pending, success, forbidden, not_found or failed"),
                ("attempts", "how often it was asked for"),
                ("run_id", "the last run that asked"),
                ("updated_at", "ISO-8601 UTC"),
                ("error", "the last error"),
                ("claimed_by", "the run asking for it now"),
            ),
        ),
        RawTable(
            "backfills",
            "table",
            "A backfill's plan and position.",
            (
                ("id", "the backfill"),
                ("job", "the job"),
                ("since", "start of the span, ISO-8601 UTC"),
                ("until", "end of the span, ISO-8601 UTC"),
                ("next_begin", "where it goes on"),
                ("windows_done", "windows fetched"),
                ("windows_total", "windows in all"),
                ("status", "running, done..."),
                ("started_at", "ISO-8601 UTC"),
                ("updated_at", "ISO-8601 UTC"),
            ),
        ),
    )
}

VISIBLE = (*SPECS, *RAW_TABLES)


def lookup(name: str) -> str:
    """The visible table `name` names (case as written ignored), or a one-line error."""
    key = name.strip().lower()
    if key in SECRET_TABLES:
        raise hidden_refusal(key)
    if key not in VISIBLE:
        hint = did_you_mean(nearest(key, VISIBLE))
        raise ConfigError(f"no table named {name!r}{hint} (list_tables names them)")
    return key


def describe(name: str) -> dict[str, Any]:
    """A visible table: what one row is, its key, its columns (kind, unit, meaning), and for
    the analysis tables which endpoints feed it."""
    key = lookup(name)
    if key in SPECS:
        spec = SPECS[key]
        return {
            "table": key,
            "kind": "analysis table",
            "description": spec.doc,
            "key": list(spec.key),
            "fed_by": list(spec.feeds),
            "columns": [
                {
                    "name": c.name,
                    "type": KIND_TYPES[c.kind],
                    "unit": c.unit,
                    "meaning": c.doc,
                }
                for c in spec.columns
            ],
        }
    raw = RAW_TABLES[key]
    return {
        "table": key,
        "kind": f"raw archive {raw.kind}",
        "description": raw.doc,
        "columns": [{"name": n, "meaning": m} for n, m in raw.columns],
    }


def schema_markdown(dialect: str) -> str:
    """Every visible table and its columns, as one document (the schema resource)."""
    lines = [
        f"# The harvester archive ({dialect}): tables and columns",
        "",
        "## Analysis tables (one row per entity, plain columns)",
    ]
    for spec in SPECS.values():
        lines += ["", f"### {spec.name}", "", spec.doc, "", f"Key: {', '.join(spec.key)}.", ""]
        lines += ["| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
        for c in spec.columns:
            lines.append(f"| {c.name} | {KIND_TYPES[c.kind]} | {c.unit or ''} | {c.doc} |")
    lines += ["", "## The raw archive (documents exactly as received)"]
    for raw in RAW_TABLES.values():
        lines += ["", f"### {raw.name} ({raw.kind})", "", raw.doc, ""]
        lines += ["| column | meaning |", "| --- | --- |"]
        lines += [f"| {n} | {m} |" for n, m in raw.columns]
    return "\n".join(lines) + "\n"


def relations(dialect: str) -> str:
    """How the tables relate, their units and conventions: the prompt, and the server's
    instructions to every client."""
    json_hint = (
        "json_extract(body, '$.display_name')"
        if dialect == "SQLite"
        else "(body::jsonb ->> 'display_name')"
    )
    return f"""\
This is a harvester archive of iRacing's /data API, on {dialect}, read-only. Ask it with the
purpose-built tools first (driver_races, season_standings, irating_history, harvest_health,
find_driver); use `query` (one read-only SQL statement, {dialect} dialect) for anything else,
after `list_tables` and `describe_table`.

How the analysis tables relate:
- subsessions: one row per race split, key subsession_id.
  The largest subsession_id is the latest (ids grow with time; start_time orders them too).
  event_type 5 is a race (2 practice, 3 qualify, 4 time trial); official_session marks races
  that count.
- session_results: one row per driver per simsession of a subsession, key (subsession_id,
  simsession_number, cust_id). simsession_number 0 is the race (main event), -1, -2... the
  sessions before it. A driver's races: session_results JOIN subsessions USING
  (subsession_id) WHERE simsession_number = 0 AND event_type = 5.
- laps: one row per lap, key (subsession_id, simsession_number, cust_id, lap_number); joins
  session_results on (subsession_id, simsession_number, cust_id).
- event_log: a simsession's events (incidents, penalties, cautions), key (subsession_id,
  simsession_number, event_seq).
- members (cust_id), member_charts (cust_id, category_id, chart_type, date; chart_type 1 is
  iRating), series (series_id), seasons (season_id, series_id), cars (car_id), tracks
  (track_id) join the columns of the same name in subsessions and session_results.
- Every row's result_id is results.result_id: the raw document it came from (when it was
  fetched, by which job and run). runs holds the harvest's own history.

Units and conventions:
- Lap and session times are seconds (iRacing's {TENTHS_MS} converted); iRacing's -1 for
  "none" (no lap, no rating) is NULL.
- Positions count from 0 as iRacing does: finish_position 0 won (add 1 to show a place);
  race_week_num counts from 0 too.
- iRating change of a race = newi_rating - oldi_rating. Safety rating is ×100 (new_sub_level
  341 = 3.41); license levels run 1 (R-) to 20 (A+). Categories: 1 oval, 2 road, 3 dirt oval,
  4 dirt road, 5 sports car, 6 formula.
- Times of day are ISO-8601 UTC text (2026-11-28T06:47:00Z) and compare as text.
- JSON columns (results.body, result_rows.row, lap_events) are text: {json_hint}.
- Track lengths are miles, car weights pounds, pit speed limits mph.

Answers are bounded (rows, bytes, seconds) and say when they were cut: narrow the question with
WHERE, LIMIT and aggregates rather than reading whole tables. The OAuth session and login
tables are not readable.
"""
