"""What the assistant is told about the tables: every visible table described as the database
has it, on both backends; the secret tables never offered; the schema document and the guide
complete; names written into the purpose-built SQL as literals that cannot break out."""

from __future__ import annotations

import pytest

from harvester._core.errors import ConfigError
from harvester._mcp import guide
from harvester._mcp.archive import Archive
from harvester._mcp.questions import driver_name, like_pattern, text_literal
from harvester._store import db
from harvester._store.query import SECRET_TABLES
from harvester._tables.schema import SPECS


def test_every_raw_table_is_described_with_the_columns_the_database_has(backend: str) -> None:
    db.open_database(backend).dispose()
    archive = Archive(backend)
    for raw in guide.RAW_TABLES.values():
        columns = archive.rows(f"SELECT * FROM {raw.name} LIMIT 0").columns
        assert sorted(columns) == sorted(name for name, _ in raw.columns), raw.name
    for name in SPECS:
        described = [c["name"] for c in guide.describe(name)["columns"]]
        assert described == archive.rows(f"SELECT * FROM {name} LIMIT 0").columns


def test_the_secret_tables_are_never_offered() -> None:
    assert not SECRET_TABLES & set(guide.VISIBLE)
    for name in SECRET_TABLES:
        with pytest.raises(ConfigError, match="is not readable here"):
            guide.describe(name.upper())
    schema = guide.schema_markdown("SQLite") + guide.relations("SQLite")
    assert not any(name in schema for name in SECRET_TABLES)


def test_a_table_is_found_by_its_name_or_a_near_one_suggested() -> None:
    assert guide.describe(" Session_Results ")["table"] == "session_results"
    with pytest.raises(ConfigError, match="did you mean `laps`"):
        guide.describe("lapz")
    runs = guide.describe("runs")
    assert runs["kind"] == "raw archive table"
    assert any("ISO-8601" in c["meaning"] for c in runs["columns"])


def test_the_schema_documents_every_column_with_its_unit() -> None:
    schema = guide.schema_markdown("PostgreSQL")
    for spec in SPECS.values():
        for column in spec.columns:
            assert f"| {column.name} | {guide.KIND_TYPES[column.kind]} | {column.unit or ''} |" in (
                schema
            )
    for raw in guide.RAW_TABLES.values():
        assert f"### {raw.name} ({raw.kind})" in schema


def test_the_guide_tells_how_the_tables_relate_in_the_dialect_at_hand() -> None:
    sqlite, postgres = guide.relations("SQLite"), guide.relations("PostgreSQL")
    for text in (sqlite, postgres):
        assert "The largest subsession_id is the latest" in text
        assert "simsession_number 0 is the race" in text
        assert "finish_position 0 won" in text
    assert "json_extract(body" in sqlite and "::jsonb" in postgres


def test_a_name_is_a_literal_that_cannot_break_out() -> None:
    assert text_literal("it's") == "'it''s'"
    assert like_pattern("100%_a\\b'") == "'%100\\%\\_a\\\\b''%'"
    for bad in ("", "   ", "x" * 101, "tab\there", "nul\x00"):
        with pytest.raises(ConfigError, match="1 to 100 characters"):
            driver_name(bad)
