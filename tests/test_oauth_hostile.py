"""Hostile token endpoint answers: every number is checked and clamped; a bad answer is an
error, never state that locks the database."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

from harvester import db
from harvester.clock import ManualClock
from harvester.errors import AuthError, PasswordGrantBlocked
from harvester.models import AuthState
from harvester.oauth.endpoint import MAX_ACCESS_SECONDS, parse_token_response
from harvester.oauth.store import SESSION_ROW
from harvester.oauth.tokens import Tokens
from harvester.retry import MAX_RETRY_AFTER, parse_retry_after
from harvester.runtime import open_runtime

from .conftest import make_settings

GOOD = {"access_token": "a", "token_type": "Bearer", "expires_in": 600}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, -5, "600", True, None])
def test_an_expires_in_that_is_not_a_positive_finite_number_is_an_error(value: object) -> None:
    with pytest.raises(AuthError, match="expires_in"):
        parse_token_response({**GOOD, "expires_in": value}, 1000.0)


def test_a_huge_expires_in_is_cut_to_the_longest_believed() -> None:
    tokens = parse_token_response({**GOOD, "expires_in": 1e300}, 1000.0)
    assert tokens.access_expires_at == 1000.0 + MAX_ACCESS_SECONDS


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, "x"])
def test_a_bad_refresh_lifetime_is_an_error(value: object) -> None:
    payload = {**GOOD, "refresh_token": "r", "refresh_token_expires_in": value}
    with pytest.raises(AuthError, match="refresh_token_expires_in"):
        parse_token_response(payload, 1000.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("99999999999999999999", MAX_RETRY_AFTER),
        ("1e400", None),
        ("nan", None),
        ("inf", None),
        ("-3", 0.0),
        ("120", 120.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_is_clamped(header: str, expected: float | None) -> None:
    assert parse_retry_after(header, 1_767_225_600.0) == expected


def _token_server(answer: httpx.Response) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            answer.status_code, headers=answer.headers, content=answer.content, request=request
        )

    return httpx.MockTransport(handle)


def test_a_retry_after_of_1e20_pauses_for_at_most_a_day_and_status_still_works(
    tmp_path: Path, clock: ManualClock
) -> None:
    refused = httpx.Response(
        400,
        json={"error": "unauthorized_client"},
        headers={"retry-after": "99999999999999999999"},
    )
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    with open_runtime(settings, transport=_token_server(refused), clock=clock) as runtime:
        with pytest.raises(PasswordGrantBlocked) as blocked:
            runtime.session.login()
        assert blocked.value.until <= clock.now() + MAX_RETRY_AFTER
        status = runtime.session.status().as_dict()
        assert status["password_blocked_until"] is not None


def test_a_pause_stored_until_1e20_is_not_kept(tmp_path: Path, clock: ManualClock) -> None:
    """A database written by an older version: its block must not lock every command."""
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    answer = httpx.Response(200, json={**GOOD, "refresh_token": "r"})
    with open_runtime(settings, transport=_token_server(answer), clock=clock) as runtime:
        with db.write(runtime.engine) as conn:
            db.upsert(
                conn,
                AuthState,
                {"id": SESSION_ROW},
                {"password_blocked_until": 1e20, "block_reason": "hostile"},
            )
        assert runtime.session.status().as_dict()["password_blocked_until"] is None
        assert runtime.session.login().access_token == "a"


def test_an_answer_with_expires_in_nan_stores_nothing(tmp_path: Path, clock: ManualClock) -> None:
    body = json.dumps({**GOOD, "expires_in": "NaN"}).replace('"NaN"', "NaN")
    answer = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    with open_runtime(settings, transport=_token_server(answer), clock=clock) as runtime:
        with pytest.raises(AuthError, match="expires_in"):
            runtime.session.login()
        assert runtime.store.load() is None


def test_stored_times_no_clock_can_hold_read_as_long_past(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    answer = httpx.Response(200, json={**GOOD, "refresh_token": "r"})
    with open_runtime(settings, transport=_token_server(answer), clock=clock) as runtime:
        runtime.session.login()
        hostile = Tokens("a", math.inf, "r", 1e300, None, clock.now())
        with runtime.store.locked() as conn:
            runtime.store.save(conn, hostile, clock.now())
    with open_runtime(settings, transport=_token_server(answer), clock=clock) as later:
        status = later.session.status().as_dict()  # no OverflowError
        assert status["access_expires_at"] == "1970-01-01T00:00:00Z"
        assert later.session.access_token() == "a"  # renewed, not trusted for ever
