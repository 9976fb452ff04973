"""harvester.jsonpath on its own: the fan-out path's grammar and what it reaches in odd
documents (missing keys, out-of-range indexes, nulls, scalars) (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from harvester._core.jsonpath import Step, compile_path, extract


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", []),
        ("  $  ", []),
        ("$.a", ["a"]),
        ("$._a1.B_2", ["_a1", "B_2"]),
        ("$[*]", [None]),
        ("$[0]", [0]),
        ("$[-1]", [-1]),
        ("$[007]", [7]),
        ("$['a b']", ["a b"]),
        ('$["résultats"]', ["résultats"]),
        ("$['0']", ["0"]),  # a quoted number is a key, not an index
        ("$.races[*].subsession_id", ["races", None, "subsession_id"]),
        ("$[*][*]", [None, None]),
    ],
)
def test_paths_compile_to_steps(path: str, steps: list[Step]) -> None:
    assert compile_path(path) == steps


@pytest.mark.parametrize("path", ["", "a.b", "races[*]", ".a", "@.a"])
def test_a_path_starts_with_dollar(path: str) -> None:
    with pytest.raises(ValueError, match="must start with"):
        compile_path(path)


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        ("$.", "'.'"),
        ("$..a", "'..a'"),
        ("$.1a", "'.1a'"),
        ("$.a-b", "'-b'"),
        ("$.é", "'.é'"),  # unquoted names are ASCII identifiers; quote the others
        ("$[]", "'[]'"),
        ("$[a]", "'[a]'"),
        ("$[1:2]", "'[1:2]'"),
        ("$['']", "\"['']\""),
        ("$['a\"]x", "'x'"),  # either quote closes a quoted name
        ("$ .a", "' .a'"),
    ],
)
def test_what_is_not_understood_is_named(path: str, rest: str) -> None:
    with pytest.raises(ValueError, match="cannot read") as caught:
        compile_path(path)
    assert f"cannot read {rest}" in str(caught.value)
    assert "use .name, [n] or [*]" in str(caught.value)


def values(document: Any, path: str) -> list[Any]:
    return list(extract(document, compile_path(path)))


def test_the_root_is_the_document_itself() -> None:
    documents: list[object] = [None, 1, "x", [], {"a": 1}]
    for document in documents:
        assert values(document, "$") == [document]


def test_every_element_of_a_list_or_object() -> None:
    assert values([{"id": 1}, {"id": 2}, {"other": 3}], "$[*].id") == [1, 2]
    assert values({"x": {"id": 1}, "y": {"id": 2}}, "$[*].id") == [1, 2]
    assert values([[1, 2], [3]], "$[*][*]") == [1, 2, 3]


@pytest.mark.parametrize("document", [None, 0, "abc", True])
def test_every_element_of_a_scalar_is_nothing(document: object) -> None:
    assert values(document, "$[*]") == []


def test_indexes_within_bounds_from_either_end() -> None:
    items = ["a", "b", "c"]
    assert values(items, "$[0]") == ["a"]
    assert values(items, "$[2]") == ["c"]
    assert values(items, "$[-1]") == ["c"]
    assert values(items, "$[-3]") == ["a"]
    assert values(items, "$[3]") == []
    assert values(items, "$[-4]") == []
    assert values([], "$[0]") == []


def test_an_index_into_an_object_or_a_string_is_nothing() -> None:
    assert values({"0": "zero"}, "$[0]") == []
    assert values("abc", "$[0]") == []
    assert values({"0": "zero"}, "$['0']") == ["zero"]


def test_missing_keys_match_nothing_and_null_values_are_values() -> None:
    assert values({"a": 1}, "$.b") == []
    assert values({"a": None}, "$.a") == [None]
    assert values({"a": None}, "$.a.b") == []
    assert values([{"a": 1}], "$.a") == []  # a key of a list is nothing
    assert values({"a": {"b": [10, 20]}}, "$.a.b[1]") == [20]


def test_extract_is_lazy() -> None:
    """A fan-out over a huge document takes the values it needs, not all of them first."""
    found = extract(({"id": n} for n in range(10**9)), compile_path("$"))
    assert next(found) is not None
    many = extract([{"id": n} for n in range(100_000)], compile_path("$[*].id"))
    assert [next(many) for _ in range(3)] == [0, 1, 2]
