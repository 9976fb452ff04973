"""Signature cutting at the cost of a scan: `strip_signatures` looks only where a signed URL can
be (a query mark, `?` or its JSON escape), and cuts there exactly as a decode of every string
of the document would."""

from __future__ import annotations

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from harvester._core.redact import cut_signed_query, strip_signatures

SIGNED = "https://s3.x/a.json?X-Amz-Algorithm=A&X-Amz-Signature=secret"
EVERY_STRING = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?')


def cut_every_string(text: str) -> str:
    """The exact rule, the slow way: decode every string value of the JSON, cut the signed."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(0)  # an object key
        value = json.loads(match.group(0))
        cut = cut_signed_query(value)
        if cut is None:
            return match.group(0)
        dumped = json.dumps(cut, ensure_ascii=False)
        try:
            dumped.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(cut)
        return dumped

    return EVERY_STRING.sub(one, text)


# -- the pre-check: no query mark, nothing to do ----------------------------------------------


def test_a_huge_document_without_any_url_is_returned_as_is() -> None:
    rows = [
        {"cust_id": i, "name": f"Driver {i}", "note": "Signature key-pair-id é"}
        for i in range(20_000)
    ]
    text = json.dumps({"results": rows})
    assert len(text) > 1_000_000
    assert strip_signatures(text) is text


def test_a_signed_parameter_without_a_query_mark_is_not_a_signed_url() -> None:
    text = '{"a": "https://h/p&X-Amz-Signature=1", "b": "Signature=2"}'
    assert strip_signatures(text) is text


def test_an_encoded_question_mark_is_part_of_the_path_not_a_query() -> None:
    text = '{"file": "https://h/a.json%3FX-Amz-Signature=1", "lower": "b%3fSignature=2"}'
    assert strip_signatures(text) == text


def test_escaped_question_marks_in_either_case_hide_no_signature() -> None:
    for escape in ("\\u003f", "\\u003F"):
        text = '{"chunk": "a.json' + escape + 'X-Amz-Signature=secret"}'
        stored = strip_signatures(text)
        assert "secret" not in stored
        assert json.loads(stored) == {"chunk": "a.json"}


def test_other_escapes_alone_are_no_query() -> None:
    text = '{"name": "M\\u00fcller", "html": "\\u003cb\\u003e", "amp": "a\\u0026Signature=1"}'
    assert strip_signatures(text) is text


def test_parameter_names_in_any_case_are_cut() -> None:
    text = '["https://h/a?x-amz-signature=1", "https://h/b?SIGNATURE=2&AwsAccessKeyId=3"]'
    assert json.loads(strip_signatures(text)) == ["https://h/a", "https://h/b"]


# -- the exact cut, where a URL can be -----------------------------------------------------------


def test_a_url_at_the_very_start_and_end_of_the_text() -> None:
    assert strip_signatures(json.dumps(SIGNED)) == '"https://s3.x/a.json"'
    text = json.dumps([SIGNED, 1, SIGNED])
    assert strip_signatures(text) == '["https://s3.x/a.json", 1, "https://s3.x/a.json"]'


def test_a_csv_cell_at_the_very_start_and_end_of_the_text() -> None:
    text = f"{SIGNED},kept\r\nkept,{SIGNED}"
    assert strip_signatures(text, "text/csv") == (
        "https://s3.x/a.json,kept\r\nkept,https://s3.x/a.json"
    )
    assert strip_signatures("a,b\r\n1,2\r\n", "text/csv") == "a,b\r\n1,2\r\n"


def test_object_keys_are_never_cut_even_before_a_spaced_colon() -> None:
    text = '{"' + SIGNED + '" : "' + SIGNED + '", "' + SIGNED + '":1}'
    stored = strip_signatures(text)
    assert stored == '{"' + SIGNED + '" : "https://s3.x/a.json", "' + SIGNED + '":1}'


def test_a_value_with_an_escaped_quote_or_backslashes_is_judged_whole() -> None:
    received = {
        "path": "C:\\",  # ends in an escaped backslash: the next quote closes it
        "url": SIGNED,
        "quoted": f'say "x" {SIGNED}',
        "head": '"' + SIGNED,  # the nearest quote before the mark is an escaped one
        "tail": SIGNED + '"',
    }
    stored = json.loads(strip_signatures(json.dumps(received)))
    assert stored == {**received, "url": "https://s3.x/a.json"}


def test_two_signed_values_and_plain_queries_between_them() -> None:
    text = json.dumps({"a": SIGNED, "b": "?", "c": "x?page=2", "d": [SIGNED + "#frag"]})
    assert json.loads(strip_signatures(text)) == {
        "a": "https://s3.x/a.json",
        "b": "?",
        "c": "x?page=2",
        "d": ["https://s3.x/a.json"],
    }


def test_text_that_is_not_json_is_returned_unharmed() -> None:
    for text in ('?"', '"?', "?", 'a"b?\\', '"\\x?"'):
        assert strip_signatures(text) == text


# -- the fast path equals the exact rule on any JSON document ------------------------------------

PIECES = st.sampled_from(
    [
        "https://h/p",
        "a.json",
        "?",
        "&",
        "=",
        "#",
        " ",
        '"',
        "\\",
        ":",
        "é",
        "\ud800",
        "%3F",
        "Signature",
        "X-Amz-Signature",
        "x-amz-credential",
        "Key-Pair-Id",
        "page",
        "1",
    ]
)
STRINGS = st.one_of(st.lists(PIECES, max_size=8).map("".join), st.text(max_size=12))
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | STRINGS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(STRINGS, inner, max_size=5),
    max_leaves=25,
)


@given(
    DOCUMENTS,
    st.booleans(),
    st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]),
    st.sampled_from(["?", "\\u003f", "\\u003F"]),
)
@example({"k?Signature=1": SIGNED}, False, (",", " : "), "?")
@example(["\\", SIGNED], True, (",", ":"), "\\u003F")
@example(['"' + SIGNED, SIGNED + '"'], False, (",", ":"), "?")
def test_the_fast_path_cuts_exactly_what_a_decode_of_every_string_cuts(
    document: object, ascii_only: bool, separators: tuple[str, str], mark: str
) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only, separators=separators)
    text = text.replace("?", mark)  # a `?` only occurs inside strings: still the same JSON
    assert json.loads(text) == document
    stored = strip_signatures(text)
    assert stored == cut_every_string(text)
    json.loads(stored)  # still valid JSON
