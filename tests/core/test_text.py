"""_core.text on its own: one-line messages, strict JSON, what SQLite can store, and
parameters as they go in a query string, "did you mean" (pure)."""

from __future__ import annotations

import json

import pytest

from harvester._core.text import (
    ParamValue,
    chat_safe,
    csv_cell,
    did_you_mean,
    nearest,
    parse_json,
    printable,
    printable_json,
    query_value,
    storable,
)

# -- printable -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "plain", "Jürgen Öhlinger", "日本語 🏁"])
def test_printable_text_is_unchanged(text: str) -> None:
    assert printable(text) is text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("two\nlines", "two\\nlines"),
        ("cr\r\nlf", "cr\\r\\nlf"),
        ("tab\there", "tab\\there"),
        ("bell\x07", "bell\\x07"),
        ("nul\x00", "nul\\x00"),
        ("esc\x1b[31mred", "esc\\x1b[31mred"),  # no terminal colours from a server's message
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("no\u00a0break", "no\\xa0break"),
    ],
)
def test_what_would_break_a_line_is_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(text).isprintable()


# -- parse_json ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{}", {}),
        ("[]", []),
        ("null", None),
        ('"日本"', "日本"),
        ("\ufeff[1]", [1]),  # a byte-order mark is allowed
        (' {"a": "NaN"} ', {"a": "NaN"}),  # the word in a string is only a string
    ],
)
def test_strict_json_parses(text: str, value: object) -> None:
    assert parse_json(text) == value


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_the_constants_json_lacks_are_refused(constant: str) -> None:
    with pytest.raises(ValueError, match=f"not strict JSON: it contains {constant}"):
        parse_json(f'{{"a": [1, {constant}]}}')


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e999", "1e999"),
        ('{"a": [1, -1E+999, 2.5]}', {"a": [1, "-1E+999", 2.5]}),
        ("1e-999", 0.0),  # too small is zero, a number
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_a_number_past_the_float_range_is_kept_as_its_text(text: str, value: object) -> None:
    """`1e999` is JSON, but Python reads it as infinity, which no JSON writer or database JSON
    function takes back: it is kept as the text it was, so nothing downstream holds inf."""
    parsed = parse_json(text)
    assert parsed == value
    assert json.dumps(parsed, allow_nan=False)


@pytest.mark.parametrize("text", ["", " ", "{", "[1,]", "{'a': 1}", "<html>"])
def test_what_is_not_json_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"Expecting|Extra data"):  # a JSONDecodeError
        parse_json(text)


def test_nesting_too_deep_for_python_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000)
    assert parse_json("[" * 50 + "]" * 50) == json.loads("[" * 50 + "]" * 50)


def test_a_lone_surrogate_escape_parses_but_cannot_be_stored() -> None:
    value = parse_json('{"name": "\\ud800"}')
    assert value == {"name": "\ud800"}
    assert not storable(value["name"])


# -- storable ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "ascii", "é", "🏁", "\x00", "\U0010ffff"])
def test_text_that_encodes_as_utf8_is_storable(text: str) -> None:
    assert storable(text)


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "x\udc80"])
def test_lone_surrogates_are_not_storable(text: str) -> None:
    assert not storable(text)


# -- query_value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-5, "-5"),
        (1.5, "1.5"),
        ("", ""),
        ("Nürburgring", "Nürburgring"),
        ([1, 2, 3], "1,2,3"),
        ([True, "a", 0.5], "true,a,0.5"),
        ([], ""),
        (["a,b"], "a,b"),  # the list is joined as given: commas inside are not escaped
    ],
)
def test_query_values(value: ParamValue, text: str) -> None:
    assert query_value(value) == text


# -- nearest / did_you_mean ----------------------------------------------------------------------

JOBS = ["member_info", "categories", "recent_results", "result_details"]


def test_the_nearest_name_to_a_typo() -> None:
    assert nearest("member_inf", JOBS) == ["member_info"]
    assert nearest("result", ["resulted_in", "results", "x"], n=2) == ["results", "resulted_in"]
    assert nearest("result", ["resulted_in", "results", "x"]) == ["results"]  # n=1: the nearest


@pytest.mark.parametrize("word", ["", "zzz", "x" * 200])
def test_nothing_near_is_no_suggestion(word: str) -> None:
    assert nearest(word, JOBS) == []
    assert nearest("member_info", []) == []


def test_did_you_mean_ends_a_one_line_error() -> None:
    assert did_you_mean(["every"]) == "; did you mean `every`?"
    assert did_you_mean(["a", "b"]) == "; did you mean `a` or `b`?"
    assert did_you_mean([], " (see `harvester jobs`)") == " (see `harvester jobs`)"
    assert did_you_mean([]) == ""


# -- text for terminals and chats ----------------------------------------------------------------


def test_printable_keeps_only_what_it_is_told_to() -> None:
    text = "a\nb\tc\x1b[2Jd\x9be\r"
    assert printable(text, keep="\n\t") == "a\nb\tc\\x1b[2Jd\\x9be\\r"
    assert printable(text) == "a\\nb\\tc\\x1b[2Jd\\x9be\\r"


@pytest.mark.parametrize(
    "value", ["del\x7f", "csi\x9b31m", "bidi\u202eevil", "tag\U000e0001", "plain", "日本語 🏁"]
)
def test_printable_json_is_the_same_json_without_a_control_character(value: str) -> None:
    text = json.dumps({"v": value}, indent=2, ensure_ascii=False)
    shown = printable_json(text)
    assert json.loads(shown) == {"v": value}
    assert all(ch.isprintable() or ch == "\n" for ch in shown)


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("@everyone look", "@\u200beveryone look"),
        ("hi @here", "hi @\u200bhere"),
        ("<!channel> now", "<\u200b!channel> now"),
        ("<!here>", "<\u200b!here>"),
        ("<@U024BE7LH>", "<\u200b@\u200bU024BE7LH>"),
        ("<@&123> role", "<\u200b@\u200b&123> role"),
        ("<#C024BE7LR>", "<\u200b#C024BE7LR>"),
        ("[results](http://evil.example/x)", "results (http://evil.example/x)"),
        ("[p1](<https://evil.example>)", "p1 (https://evil.example)"),
        ("<http://evil.example|iracing.com>", "iracing.com (http://evil.example)"),
        ("<https://evil.example>", "<\u200bhttps://evil.example>"),
    ],
)
def test_chat_safe_neutralises_mentions_and_disguised_links(text: str, sent: str) -> None:
    assert chat_safe(text) == sent


@pytest.mark.parametrize(
    "text", ["Max Verstappen", "mail max@example.com", "P1 <3", "a < b > c", "[sic] (really)"]
)
def test_chat_safe_leaves_ordinary_text_alone(text: str) -> None:
    assert chat_safe(text) == text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Max", "Max"),
        ("", ""),
        (-5, -5),
        (1.5, 1.5),
        (None, None),
    ],
)
def test_csv_cell_neutralises_formulas_only(value: object, cell: object) -> None:
    assert csv_cell(value) == cell
