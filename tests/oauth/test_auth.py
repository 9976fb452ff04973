"""The OAuth session: masking, grants, refresh single flight, persistence, failures."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.errors import AuthError, InvalidClient, NotLoggedIn, PasswordGrantBlocked
from harvester._oauth.endpoint import parse_token_response
from harvester._oauth.masking import mask
from harvester._oauth.session import OAuthSession
from harvester._oauth.tokens import Tokens
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import Simulator, SimulatorTransport


def test_masking_vectors_from_the_reference() -> None:
    assert mask("MyPassword", "  Driver@Example.COM ") == (
        "oFyftVdpNthHQiuZKznfUL19mno8IteKPklx9D4JRBc="
    )
    assert mask("MyPassword", "driver@example.com") == (
        "oFyftVdpNthHQiuZKznfUL19mno8IteKPklx9D4JRBc="
    )
    assert mask("s3cr3t", "MyClient") == "cKV7+sRzdr/MBUiqfRzLTTUHgTWG5kh8UzDPI+9HwvQ="


def test_the_secret_itself_is_not_normalised() -> None:
    assert mask(" s3cr3t", "MyClient") != mask("s3cr3t", "MyClient")


def test_expiries_count_from_the_request_time() -> None:
    tokens = parse_token_response(
        {
            "access_token": "a",
            "token_type": "bearer",
            "expires_in": 600,
            "refresh_token": "r",
            "refresh_token_expires_in": 604800,
            "scope": "iracing.auth",
        },
        requested_at=1000.0,
    )
    assert tokens.access_expires_at == 1600.0
    assert tokens.refresh_expires_at == 1000.0 + 604800
    assert tokens.obtained_at == 1000.0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"access_token": "a"},
        {"access_token": "a", "expires_in": "600"},
        {"access_token": "a", "expires_in": 600, "token_type": "mac"},
        ["not", "an", "object"],
    ],
)
def test_an_incomplete_token_answer_is_an_error_not_a_half_session(payload: object) -> None:
    with pytest.raises(AuthError):
        parse_token_response(payload, 0.0)


def test_login_performs_one_password_grant_and_stores_the_session(
    runtime: Runtime, sim: Simulator
) -> None:
    tokens = runtime.session.login()
    assert sim.state()["password_grants"] == 1
    stored = runtime.store.load()
    assert stored is not None
    assert stored.access_token == tokens.access_token
    assert stored.scope == "iracing.auth"


def test_a_valid_access_token_is_reused_without_any_grant(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    first = runtime.session.access_token()
    clock.advance(300)
    assert runtime.session.access_token() == first
    assert sim.state()["password_grants"] == 1
    assert sim.state()["refreshes"] == 0


def test_refresh_happens_inside_the_buffer_before_expiry(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    first = runtime.session.access_token()
    clock.advance(600 - 60 - 1)  # 61 s left: still outside the 60 s buffer
    assert runtime.session.access_token() == first
    clock.advance(2)  # 59 s left: refresh now, before the API would refuse it
    second = runtime.session.access_token()
    assert second != first
    assert sim.state()["refreshes"] == 1
    assert sim.state()["password_grants"] == 1


def test_the_rotated_refresh_token_is_committed_before_the_access_token_is_used(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    seen: list[bool] = []

    class Checking(httpx.BaseTransport):
        """Before any /data request goes out, the database must already hold its token."""

        def __init__(self) -> None:
            self.inner = SimulatorTransport(sim)
            self.runtime: Runtime | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/data/") and self.runtime is not None:
                stored = self.runtime.store.load()
                sent = request.headers["authorization"].removeprefix("Bearer ")
                seen.append(stored is not None and stored.access_token == sent)
            return self.inner.handle_request(request)

    transport = Checking()
    with open_runtime(settings, transport=transport, clock=clock) as rt:
        transport.runtime = rt
        auth = rt.session.as_httpx_auth()
        rt.http.get(f"{settings.data_url}/data/constants/categories", auth=auth)
        clock.advance(590)
        rt.http.get(f"{settings.data_url}/data/constants/categories", auth=auth)
    assert sim.state()["refreshes"] == 1
    assert seen == [True, True]


def test_a_401_from_data_triggers_one_refresh_and_one_retry(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    auth = runtime.session.as_httpx_auth()
    url = f"{runtime.settings.data_url}/data/constants/categories"
    assert runtime.http.get(url, auth=auth).status_code == 200
    clock.advance(120)
    sim.control({"expire_access_tokens": True})  # the server no longer takes it
    response = runtime.http.get(url, auth=auth)
    assert response.status_code == 200
    assert sim.state()["refreshes"] == 1
    assert sim.state()["data"]["unauthorized"] == 1


def test_a_401_for_a_brand_new_token_refreshes_once_and_retries(
    runtime: Runtime, sim: Simulator
) -> None:
    """The server may invalidate a token it has just issued: its age proves nothing."""
    auth = runtime.session.as_httpx_auth()
    url = f"{runtime.settings.data_url}/data/constants/categories"
    runtime.session.access_token()
    sim.control({"expire_access_tokens": True})
    assert runtime.http.get(url, auth=auth).status_code == 200
    assert sim.state()["refreshes"] == 1


def test_a_401_for_a_token_stamped_in_the_future_refreshes_too(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    auth = runtime.session.as_httpx_auth()
    url = f"{runtime.settings.data_url}/data/constants/categories"
    runtime.session.access_token()
    clock.advance(-1800)  # this host's clock was ahead when the token was stamped
    sim.control({"expire_access_tokens": True})
    assert runtime.http.get(url, auth=auth).status_code == 200
    assert sim.state()["refreshes"] == 1


def test_a_401_uses_the_token_another_process_refreshed_without_refreshing_again(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    url = f"{settings.data_url}/data/constants/categories"
    with (
        open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as first,
        open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as second,
    ):
        first.session.login()
        second.session.access_token()  # both hold the same token, obtained seconds ago
        sim.control({"expire_access_tokens": True})
        assert first.http.get(url, auth=first.session.as_httpx_auth()).status_code == 200
        assert second.http.get(url, auth=second.session.as_httpx_auth()).status_code == 200
    assert sim.state()["refreshes"] == 1
    assert sim.state()["password_grants"] == 1


def test_a_401_that_survives_a_refresh_is_about_the_request_and_costs_one_refresh(
    runtime: Runtime, sim: Simulator
) -> None:
    """/data answers 401 for a subsession the member may not see: after one refresh proved
    the token good, other refused requests spend no further refresh."""
    refused = {"/data/refused"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path in refused:
            return httpx.Response(401, json={"error": "Unauthorized"}, request=request)
        return SimulatorTransport(sim).handle_request(request)

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        auth = runtime.session.as_httpx_auth()
        base = runtime.settings.data_url
        statuses = [http.get(f"{base}/data/refused", auth=auth).status_code for _ in range(5)]
        assert http.get(f"{base}/data/constants/categories", auth=auth).status_code == 200
    assert statuses == [401] * 5
    assert sim.state()["refreshes"] == 1


def test_a_restart_reuses_the_stored_session_without_a_password_grant(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as first:
        first.session.login()
    clock.advance(3600)  # the access token expired while "the machine was off"
    for _ in range(3):
        with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as again:
            again.session.access_token()
        clock.advance(700)
    assert sim.state()["password_grants"] == 1
    assert sim.state()["refreshes"] == 3
    assert sim.state()["refresh_reuses"] == 0


def test_threads_refreshing_at_once_spend_the_refresh_token_once(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    runtimes = [
        open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) for _ in range(4)
    ]
    runtimes[0].session.login()
    clock.advance(595)
    barrier = threading.Barrier(8)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker(rt: Runtime) -> None:
        try:
            barrier.wait()
            tokens.append(rt.session.access_token())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(rt,)) for rt in runtimes for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rt in runtimes:
        rt.close()
    assert errors == []
    assert len(set(tokens)) == 1
    assert sim.state()["refreshes"] == 1
    assert sim.state()["refresh_reuses"] == 0
    assert sim.state()["password_grants"] == 1


def test_invalid_grant_on_refresh_discards_it_and_allows_exactly_one_password_grant(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    runtime.session.login()
    sim.control({"revoke_refresh_tokens": True})
    clock.advance(600)
    runtime.session.access_token()
    assert sim.state()["password_grants"] == 2
    stored = runtime.store.load()
    assert stored is not None and stored.refresh_token is not None
    clock.advance(600)
    runtime.session.access_token()  # the new refresh token works: no third login
    assert sim.state()["password_grants"] == 2
    assert sim.state()["refreshes"] == 1


def test_unauthorized_client_stops_password_grants_for_the_back_off(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.password_grants_per_hour = 0
    with pytest.raises(PasswordGrantBlocked) as caught:
        runtime.session.access_token()
    assert "paused until" in str(caught.value)
    assert caught.value.until >= clock.now() + 15 * 60
    sim.config.password_grants_per_hour = 12
    attempts = sim.state()["oauth"].get("password_rate_limited", 0)
    for _ in range(5):
        clock.advance(60)
        with pytest.raises(PasswordGrantBlocked):
            runtime.session.access_token()
    # nothing reached the token endpoint while the back-off held
    assert sim.state()["oauth"].get("password_rate_limited", 0) == attempts
    assert sim.state()["password_grants"] == 0
    clock.advance(3600)  # Retry-After (an hour) has passed
    runtime.session.access_token()
    assert sim.state()["password_grants"] == 1


def test_the_password_grant_budget_is_counted_in_the_database(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    budget = settings.with_overrides(password_grants_per_hour=2)
    for _ in range(2):
        with open_runtime(budget, transport=SimulatorTransport(sim), clock=clock) as rt:
            rt.session.login(force=True)
    with open_runtime(budget, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(PasswordGrantBlocked, match="budget"):
            rt.session.login(force=True)
        clock.advance(3601)
        rt.session.login(force=True)
    assert sim.state()["password_grants"] == 3


def test_invalid_client_is_a_clear_configuration_error(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    wrong = settings.with_overrides(client_secret="not-the-secret")
    with open_runtime(wrong, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(InvalidClient) as caught:
            rt.session.login()
    message = str(caught.value)
    assert "IRACING_CLIENT_SECRET" in message
    assert "not-the-secret" not in message
    assert "x-request-id" in message


def test_wrong_password_is_reported_without_the_password(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    wrong = settings.with_overrides(password="hunter2-wrong")
    with open_runtime(wrong, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(AuthError) as caught:
            rt.session.login()
    assert "IRACING_PASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_no_session_and_no_credentials_says_what_to_do(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    bare = settings.with_overrides(password="")
    with open_runtime(bare, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(NotLoggedIn, match="harvester auth login"):
            rt.session.access_token()


def log_in_then_let_the_token_expire(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    """A stored session whose access token has just expired: the next call refreshes."""
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    clock.advance(600)


class FlakyTokenEndpoint(httpx.BaseTransport):
    """Fails the first `failures` token requests with `kind`, then behaves."""

    def __init__(self, sim: Simulator, failures: int, kind: str) -> None:
        self.inner = SimulatorTransport(sim)
        self.failures = failures
        self.kind = kind
        self.token_requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            self.token_requests += 1
            if self.failures > 0:
                self.failures -= 1
                if self.kind == "lost":  # the server did the work; the answer never arrived
                    self.inner.handle_request(request)
                    raise httpx.ReadError("connection reset", request=request)
                if self.kind == "503":
                    return httpx.Response(
                        503, json={"error": "temporarily_unavailable"}, request=request
                    )
                raise httpx.ConnectError("refused", request=request)
        return self.inner.handle_request(request)


def test_network_errors_and_5xx_are_retried_with_back_off(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    log_in_then_let_the_token_expire(settings, sim, clock)
    flaky = FlakyTokenEndpoint(sim, failures=1, kind="503")
    start = clock.now()
    with open_runtime(settings, transport=flaky, clock=clock) as rt:
        rt.session.access_token()
    assert flaky.token_requests == 2
    assert clock.now() - start >= 0.5  # it waited between the attempts
    assert sim.state()["refreshes"] == 1


def test_a_refresh_that_got_no_answer_stores_nothing_valid_and_waits_before_trying_again(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    log_in_then_let_the_token_expire(settings, sim, clock)
    down = FlakyTokenEndpoint(sim, failures=99, kind="connect")
    with open_runtime(settings, transport=down, clock=clock) as rt:
        with pytest.raises(AuthError, match="could not be reached"):
            rt.session.access_token()
        stored = rt.store.load()
        assert stored is not None
        assert not stored.access_valid(clock.now(), 0)  # nothing stored claims to be valid
        assert stored.refresh_token is not None  # kept: it may not have been spent
        sent = down.token_requests
        for _ in range(5):
            with pytest.raises(AuthError, match="next attempt is at"):
                rt.session.access_token()
        assert down.token_requests == sent  # the endpoint is left alone for a while
        clock.advance(31)
        down.failures = 0
        rt.session.access_token()
    assert sim.state()["refreshes"] == 1


def test_a_short_token_lifetime_does_not_refresh_at_every_request(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.access_token_lifetime = 60  # as long as the refresh buffer
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        first = rt.session.access_token()
        for _ in range(10):
            assert rt.session.access_token() == first
        clock.advance(31)  # past half the lifetime: now it is refreshed
        assert rt.session.access_token() != first
    assert sim.state()["refreshes"] == 1


def test_a_malformed_token_answer_still_counts_the_password_login(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    class NoExpiry(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = SimulatorTransport(sim)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            if request.url.path == "/oauth2/token":
                body = response.json()
                body.pop("expires_in")
                return httpx.Response(200, json=body, request=request)
            return response

    budget = settings.with_overrides(password_grants_per_hour=3)
    with open_runtime(budget, transport=NoExpiry(), clock=clock) as rt:
        for _ in range(6):
            with pytest.raises(AuthError):
                rt.session.access_token()
    assert sim.state()["password_grants"] == 3  # the budget held: each attempt was counted


def test_a_refresh_whose_answer_was_lost_leaves_nothing_claiming_to_be_valid(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    log_in_then_let_the_token_expire(settings, sim, clock)
    lost = FlakyTokenEndpoint(sim, failures=1, kind="lost")
    with open_runtime(settings, transport=lost, clock=clock) as rt:
        # the retry presents the spent refresh token: invalid_grant, then one password grant
        token = rt.session.access_token()
        stored = rt.store.load()
    assert stored is not None and stored.access_token == token
    assert sim.state()["refresh_reuses"] == 1
    assert sim.state()["password_grants"] == 2


def test_logout_revokes_at_the_server_and_deletes_the_tokens(
    runtime: Runtime, sim: Simulator
) -> None:
    runtime.session.login()
    assert runtime.session.logout() is True
    assert runtime.store.load() is None
    assert sim.state()["oauth"]["revocations"] == 1


def test_status_shows_no_secret(runtime: Runtime) -> None:
    tokens = runtime.session.login()
    status = runtime.session.status().as_dict()
    text = repr(status)
    assert status["logged_in"] is True
    assert status["password_grants_last_hour"] == 1
    assert tokens.access_token not in text
    assert tokens.refresh_token is not None and tokens.refresh_token not in text
    assert runtime.settings.password not in text


def test_tokens_repr_hides_the_tokens() -> None:
    tokens = Tokens("access-secret", 1.0, "refresh-secret", 2.0, "s", 0.0)
    assert "secret" not in repr(tokens)


def test_session_of_another_user_is_not_used(
    settings: Settings, sim: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    other = settings.with_overrides(username="someone.else@example.com")
    with open_runtime(other, transport=SimulatorTransport(sim), clock=clock) as rt:
        assert rt.store.load() is None
        assert isinstance(rt.session, OAuthSession)
