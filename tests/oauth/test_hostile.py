"""Hostile token endpoint answers: every number is checked and clamped; a bad answer is an
error, never state that locks the database."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.errors import AuthError, PasswordGrantBlocked
from harvester._core.retry import MAX_RETRY_AFTER, parse_retry_after
from harvester._oauth.endpoint import MAX_ACCESS_SECONDS, TOKEN_ATTEMPTS, parse_token_response
from harvester._oauth.store import SESSION_ROW
from harvester._oauth.tokens import Tokens
from harvester._service.runtime import Runtime, open_runtime
from harvester._store import db
from harvester._store.models import AuthEvent, AuthState
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings

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


# -- a refresh answered 200 with a body that is no token answer ------------------------------


class MangledRefresh(httpx.BaseTransport):
    """The simulator, except that refresh grants are answered 200 with `body`. When `spends`,
    the simulator handles the grant first (its refresh token is spent, as a real server that
    answered 200 did); `rotated` then adds the new refresh token the simulator issued."""

    def __init__(self, sim: Simulator, body: bytes, spends: bool, rotated: bool = False) -> None:
        self.inner = SimulatorTransport(sim)
        self.body = body
        self.spends = spends
        self.rotated = rotated
        self.refreshes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/oauth2/token" or b"grant_type=refresh_token" not in request.read():
            return self.inner.handle_request(request)
        self.refreshes += 1
        body = self.body
        if self.spends:
            answer = self.inner.handle_request(request)
            if self.rotated:
                body = json.dumps(
                    {**json.loads(body), "refresh_token": answer.json()["refresh_token"]}
                ).encode()
        return httpx.Response(
            200, content=body, headers={"content-type": "application/json"}, request=request
        )


def expired_session(settings: Settings, sim: Simulator, clock: ManualClock) -> Tokens:
    """A stored session whose access token has just expired: the next call refreshes."""
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        tokens = rt.session.login()
    clock.advance(600)
    return tokens


def auth_outcomes(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(AuthEvent.kind, AuthEvent.outcome).order_by(AuthEvent.id))
        return [(kind, outcome) for kind, outcome in rows]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "not a JSON object"),
        (b'"ok"', "not a JSON object"),
        (b"{}", "without an access_token"),
        (b'{"token_type": "Bearer", "expires_in": 600}', "without an access_token"),
        (b'{"access_token": "", "expires_in": 600}', "without an access_token"),
        (b'{"access_token": "bad-token", "token_type": "Bearer"}', "without a valid expires_in"),
        (b'{"access_token": "bad-token", "expires_in": 600, "token_type": "mac"}', "token type"),
    ],
)
def test_a_refresh_answered_200_without_tokens_is_an_error_and_stores_none(
    settings: Settings, sim: Simulator, clock: ManualClock, body: bytes, message: str
) -> None:
    """The server spent the refresh token but its answer carries no usable token: a clear
    error; nothing stored claims to be valid, the bad access token is never stored; the next
    call (the spent refresh token refused) logs in again, once."""
    before = expired_session(settings, sim, clock)
    mangled = MangledRefresh(sim, body, spends=True)
    with open_runtime(settings, transport=mangled, clock=clock) as rt:
        with pytest.raises(AuthError, match=message) as caught:
            rt.session.access_token()
        assert "\n" not in str(caught.value)
        assert before.refresh_token is not None and before.refresh_token not in str(caught.value)
        stored = rt.store.load()
        assert stored is not None and not stored.access_valid(clock.now(), 0)
        assert stored.access_token != "bad-token"
        assert stored.refresh_token == before.refresh_token  # no new one was given
        assert auth_outcomes(rt)[-1] == ("refresh", "bad_answer")
        assert mangled.refreshes == 1  # a 200 is an answer: not retried
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        assert rt.session.access_token() != before.access_token
    assert sim.state()["password_grants"] == 2


def test_a_bad_refresh_answer_that_carries_the_rotated_refresh_token_keeps_it(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    before = expired_session(settings, sim, clock)
    mangled = MangledRefresh(sim, b'{"expires_in": 600}', spends=True, rotated=True)
    with open_runtime(settings, transport=mangled, clock=clock) as rt:
        with pytest.raises(AuthError, match="without an access_token"):
            rt.session.access_token()
        stored = rt.store.load()
        assert stored is not None and not stored.access_valid(clock.now(), 0)
        assert stored.refresh_token not in (None, before.refresh_token)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        assert rt.session.access_token()  # refreshed with the rotated token
    state = sim.state()
    assert (state["refreshes"], state["refresh_reuses"], state["password_grants"]) == (2, 0, 1)


def test_a_refresh_answered_200_with_a_body_that_is_not_json_stores_nothing_new(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    """An HTML page with status 200 (a proxy, say) is no answer: retried, then a clear error;
    the session is kept as it was, except that nothing claims to be valid; no password grant."""
    before = expired_session(settings, sim, clock)
    page = MangledRefresh(sim, b"<html><body>Welcome!</body></html>", spends=False)
    with open_runtime(settings, transport=page, clock=clock) as rt:
        with pytest.raises(AuthError, match="a token answer that is not JSON") as caught:
            rt.session.access_token()
        assert "\n" not in str(caught.value) and "<html>" not in str(caught.value)
        assert page.refreshes == TOKEN_ATTEMPTS
        stored = rt.store.load()
        assert stored is not None and not stored.access_valid(clock.now(), 0)
        assert stored.refresh_token == before.refresh_token
        assert auth_outcomes(rt)[-1] == ("refresh", "no_answer")
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        assert rt.session.access_token() != before.access_token
    state = sim.state()
    assert (state["refreshes"], state["refresh_reuses"], state["password_grants"]) == (1, 0, 1)
