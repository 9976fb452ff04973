"""One bad value never costs a race (real SQLite and PostgreSQL, the real archive): a value no
column can hold is NULL (a number) or kept as escaped text (a string), the race and its other
rows are kept, and `tables_skipped` names the field; a retyped list is named too; a boolean is
never a key; and a key given twice means what SQLite's json_extract reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from harvester._archive.archive import Archive
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._core.shapes import Part
from harvester._store import db
from harvester._tables.coerce import as_float, as_int, as_seconds, as_text
from harvester._tables.derive import Derivation
from harvester._tables.keeper import parse_document
from harvester._tables.source import Source
from harvester._tables.summary import skipped
from tests.tables.test_store import assert_equal_to_rebuild, doc, query


@pytest.fixture
def engine(backend: str) -> Iterator[Engine]:
    engine = db.open_database(backend)
    yield engine
    engine.dispose()


@pytest.fixture
def archive(engine: Engine) -> Archive:
    return Archive(engine, ManualClock())


def store_text(archive: Archive, endpoint: str, text: str) -> int:
    run_id = archive.open_run("test", "cli")
    run = RunContext(JobSpec("test", endpoint), run_id, CancelToken(archive.clock))
    stored = archive.store_result(run, {}, iter([Part(0, text, "application/json")]))
    archive.finish_run(run_id, "success", run.counts, None)
    return stored.result_id


def reasons(engine: Engine) -> list[str]:
    return [reason for _, _, reason, _ in skipped(engine)]


def test_an_integer_past_64_bits_is_null_and_the_race_kept(
    archive: Archive, engine: Engine
) -> None:
    document = doc("results_get")
    document["session_results"][1]["results"][0]["oldi_rating"] = 2**70
    store_text(archive, "results/get", json.dumps(document))
    assert query(engine, "SELECT count(*) FROM subsessions") == [(1,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(6,)]
    assert query(
        engine,
        "SELECT oldi_rating FROM session_results WHERE simsession_number = 0 AND cust_id = 1001",
    ) == [(None,)]
    (reason,) = reasons(engine)
    assert "session_results.oldi_rating" in reason and "64 bits" in reason
    assert_equal_to_rebuild(engine)


def test_a_lone_surrogate_is_kept_as_escaped_text_and_the_race_kept(
    archive: Archive, engine: Engine
) -> None:
    text = json.dumps(doc("results_get")).replace('"Ada Driver"', '"Ada \\ud800 Driver"', 1)
    assert "\\ud800" in text
    store_text(archive, "results/get", text)
    assert query(engine, "SELECT count(*) FROM session_results") == [(6,)]
    names = {n for (n,) in query(engine, "SELECT display_name FROM session_results")}
    assert "Ada \\ud800 Driver" in names
    (reason,) = reasons(engine)
    assert "session_results.display_name" in reason
    assert_equal_to_rebuild(engine)


def test_a_nul_character_is_kept_as_escaped_text(archive: Archive, engine: Engine) -> None:
    document = doc("results_get")
    document["series_name"] = "Mazda\x00Cup"  # JSON's \u0000: text PostgreSQL cannot hold
    store_text(archive, "results/get", json.dumps(document))
    assert query(engine, "SELECT series_name FROM subsessions") == [("Mazda\\u0000Cup",)]
    assert "subsessions.series_name" in reasons(engine)[0]


def test_session_results_sent_as_an_object_keeps_the_race_and_says_so(
    archive: Archive, engine: Engine
) -> None:
    document = doc("results_get")
    document["session_results"] = {"0": document["session_results"][0]}
    store_text(archive, "results/get", json.dumps(document))
    assert query(engine, "SELECT count(*) FROM subsessions") == [(1,)]
    (reason,) = reasons(engine)
    assert reason == "results/get: session_results is an object, not a list"


def test_a_boolean_is_never_a_key(archive: Archive, engine: Engine) -> None:
    document = doc("results_get")
    document["subsession_id"] = True
    store_text(archive, "results/get", json.dumps(document))
    assert query(engine, "SELECT count(*) FROM subsessions") == [(0,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(0,)]
    (reason,) = reasons(engine)
    assert "subsessions.subsession_id" in reason and "without subsession_id" in reason


def test_a_key_given_twice_means_what_json_extract_reads(archive: Archive, engine: Engine) -> None:
    text = json.dumps(doc("results_get"))
    text = text.replace('"series_name": ', '"series_name": "First", "series_name": ', 1)
    result_id = store_text(archive, "results/get", text)
    assert query(engine, "SELECT series_name FROM subsessions") == [("First",)]
    if engine.dialect.name == "sqlite":  # the raw archive answers the same
        assert query(
            engine,
            "SELECT json_extract(d.body, '$.series_name') FROM documents AS d "
            f"JOIN result_parts AS p ON p.sha256 = d.sha256 WHERE p.id = {result_id}",
        ) == [("First",)]
    assert_equal_to_rebuild(engine)


def test_the_coercions_refuse_what_no_column_holds() -> None:
    assert as_int(2**63 - 1) == 2**63 - 1 and as_int(-(2**63)) == -(2**63)
    assert as_int(2**63) is None and as_int("99999999999999999999") is None
    assert as_float(10**400) is None and as_seconds(10**400) is None
    assert as_text("a\ud800b") == "a\\ud800b" and as_text("x\x00") == "x\\u0000"
    assert parse_document('{"a": 1, "a": 2, "b": {"c": 3, "c": 4}}') == {"a": 1, "b": {"c": 3}}


def test_a_bad_value_is_named_with_its_table_and_column() -> None:
    document: dict[str, Any] = doc("results_get")
    document["session_results"][0]["results"][1]["incidents"] = -(2**64)
    derivation = Derivation(Source("results/get", {}, document, []), 1)
    rows = [row for batch in derivation if batch.table == "session_results" for row in batch.rows]
    assert len(rows) == 6 and sum(r["incidents"] is None for r in rows) == 1
    assert derivation.problem() == (
        "results/get: session_results.incidents: 1 value(s) NULL (an integer past 64 bits)"
    )
