"""A query naming a table that does not exist is told the nearest there are, on both backends,
and never a table hidden from it."""

from __future__ import annotations

import pytest

from harvester._core.errors import ConfigError
from harvester._store.db import open_database
from harvester._store.query import run_query


def test_the_nearest_tables_are_suggested_on_both_backends(backend: str) -> None:
    open_database(backend).dispose()
    with pytest.raises(ConfigError) as caught:
        run_query(backend, "SELECT * FROM races")
    message = str(caught.value)
    assert "did you mean `session_results` or `subsessions`" in message
    assert "\n" not in message


def test_a_hidden_table_is_never_suggested(backend: str) -> None:
    from harvester._store.query import query

    open_database(backend).dispose()
    with (
        pytest.raises(ConfigError) as caught,
        query(backend, "SELECT * FROM oauth_token", hidden=("oauth_tokens",)),
    ):
        pass
    assert "oauth_tokens" not in str(caught.value)
