"""harvester.output on its own: the four formats of the CLI at the edges (no rows, odd cells,
unicode, long values) and answers streamed as their rows arrive (pure)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from harvester._cli.output import MAX_CELL, render, render_stream, table
from harvester._core.text import parse_json

COLUMNS = ("job", "status")


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("table", "job  status\n---  ------\n"),
        ("csv", "job,status\n"),
        ("json", "[]\n"),
        ("ndjson", ""),
    ],
)
def test_no_rows(fmt: str, text: str) -> None:
    assert render(COLUMNS, [], fmt) == text


def test_a_table_aligns_columns_and_trims_line_ends() -> None:
    text = render(COLUMNS, [("member_info", "success"), ("c", None)], "table")
    assert text.splitlines() == [
        "job          status",
        "-----------  -------",
        "member_info  success",
        "c",  # a None cell is empty, and no spaces trail the line
    ]


def test_table_cells_are_one_line_and_cut_at_max_cell() -> None:
    just_fits = "x" * MAX_CELL
    too_long = "y" * (MAX_CELL + 1)
    lines = table(["a"], [[just_fits], [too_long], ["two\nlines"]]).splitlines()
    assert lines[2] == just_fits
    assert lines[3] == "y" * (MAX_CELL - 1) + "…" and len(lines[3]) == MAX_CELL
    assert lines[4] == "two lines"


def test_unicode_is_kept_in_every_format() -> None:
    row = {"name": "Jürgen Öhlinger", "note": "日本語 🏁"}
    columns, rows = tuple(row), [tuple(row.values())]
    assert json.loads(render(columns, rows, "json")) == [row]
    assert json.loads(render(columns, rows, "ndjson")) == row
    assert list(csv.reader(io.StringIO(render(columns, rows, "csv"))))[1] == list(row.values())
    assert render(columns, rows, "table").splitlines()[2] == "Jürgen Öhlinger  日本語 🏁"


def test_csv_quotes_what_needs_quoting_and_reads_back() -> None:
    rows = [("a,b", 'say "hi"'), ("line\nbreak", None), (1.5, True)]
    text = render(("x", "y"), rows, "csv")
    assert list(csv.reader(io.StringIO(text))) == [
        ["x", "y"],
        ["a,b", 'say "hi"'],
        ["line\nbreak", ""],
        ["1.5", "True"],
    ]


def test_json_and_ndjson_write_objects_and_strings_for_what_json_lacks() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [("a", moment), ("b", None)]
    as_json = json.loads(render(("k", "v"), rows, "json"))
    assert as_json == [{"k": "a", "v": str(moment)}, {"k": "b", "v": None}]
    lines = render(("k", "v"), rows, "ndjson").splitlines()
    assert [json.loads(line) for line in lines] == as_json


def test_a_row_of_the_wrong_length_is_an_error_not_a_shifted_column() -> None:
    for fmt in ("json", "ndjson", "table"):
        with pytest.raises(ValueError, match="zip"):
            render(COLUMNS, [("only one",)], fmt)


def test_an_unknown_format_falls_back_to_the_table() -> None:
    assert render(COLUMNS, [("a", "b")], "nonsense") == render(COLUMNS, [("a", "b")], "table")


def rows_then_boom(count: int) -> Iterator[Sequence[object]]:
    """`count` rows, then an error: what was rendered before it must already be out."""
    for n in range(count):
        yield (f"job{n}", "success")
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_streamed_formats_give_each_row_as_it_arrives(fmt: str) -> None:
    pieces = render_stream(COLUMNS, rows_then_boom(2), fmt)
    seen = [next(pieces) for _ in range({"csv": 2, "json": 3, "ndjson": 2}[fmt])]
    assert "job0" in "".join(seen) and "job1" in seen[-1]
    with pytest.raises(RuntimeError, match="went away"):
        next(pieces)


def test_json_streamed_pieces_join_into_one_valid_array() -> None:
    rows = [(f"job{n}", "ok") for n in range(3)]
    pieces = list(render_stream(COLUMNS, iter(rows), "json"))
    assert len(pieces) == 5  # "[", a piece per row, "]"
    assert json.loads("".join(pieces)) == [{"job": j, "status": s} for j, s in rows]


def test_a_table_waits_for_all_its_rows_to_align_them() -> None:
    pieces = list(render_stream(COLUMNS, iter([("a", "b"), ("longer job", "c")]), "table"))
    assert len(pieces) == 1
    assert pieces[0].splitlines()[2] == "a           b"


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_numbers_json_cannot_hold_are_written_as_postgresql_writes_them(fmt: str) -> None:
    """Python's json writes `Infinity` and `NaN`, which are not JSON: a reader refused the
    whole answer. They are written as strings, as PostgreSQL's to_json does."""
    rows = [(math.inf, -math.inf, math.nan, 1.5, 10**30)]
    text = render(("a", "b", "c", "d", "e"), rows, fmt)
    parsed = parse_json(text)  # refuses NaN and Infinity
    expected = {"a": "Infinity", "b": "-Infinity", "c": "NaN", "d": 1.5, "e": 10**30}
    assert parsed == ([expected] if fmt == "json" else expected)


# -- a server's text never reaches the terminal as a control sequence ---------------------------

HOSTILE = "\x1b[2J\x1b]0;owned\x07name\x9b31m"


def test_table_cells_escape_control_characters() -> None:
    line = render(("name",), [(HOSTILE,)], "table").splitlines()[2]
    assert line == "\\x1b[2J\\x1b]0;owned\\x07name\\x9b31m"
    assert line.isprintable()


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_formats_carry_the_value_without_a_control_character(fmt: str) -> None:
    text = render(("name",), [(HOSTILE,)], fmt)
    assert all(ch.isprintable() or ch == "\n" for ch in text)
    rows = json.loads(text) if fmt == "json" else [json.loads(text)]
    assert rows == [{"name": HOSTILE}]


def test_csv_neutralises_formulas_and_control_characters_by_default() -> None:
    rows = [('=HYPERLINK("http://evil","click")', "-1+1", -1, "two\nlines", HOSTILE)]
    text = render(("a", "b", "c", "d", "e"), rows, "csv")
    assert list(csv.reader(io.StringIO(text)))[1] == [
        '\'=HYPERLINK("http://evil","click")',
        "'-1+1",
        "-1",  # a number is not a formula
        "two\nlines",  # CSV quotes a line break: it stays
        "\\x1b[2J\\x1b]0;owned\\x07name\\x9b31m",
    ]


def test_raw_csv_writes_the_values_as_stored() -> None:
    rows = [('=HYPERLINK("http://evil","click")', HOSTILE)]
    text = render(("a", "b"), rows, "csv", raw_csv=True)
    assert list(csv.reader(io.StringIO(text)))[1] == list(rows[0])
