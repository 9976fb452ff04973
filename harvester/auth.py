"""The OAuth session: one per database, shared by every thread and process that opens it.

Order of preference for a token: a valid access token (in memory, else in the database), else
the refresh grant, else the password grant. The refresh token is single-use, so a refresh runs
under the database's write lock (single flight across threads and processes) after re-reading the
stored tokens, and its rotated result is committed before the new access token is used. Password
logins are rate limited by iRacing, so they are counted in the database (a budget per hour across
processes) and stopped for a while after `unauthorized_client`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import httpx
from sqlalchemy import Connection

from .clock import Clock, iso_seconds
from .errors import (
    AuthError,
    HarvesterError,
    InvalidClient,
    NotLoggedIn,
    PasswordGrantBlocked,
)
from .logs import get_logger
from .masking import mask
from .redact import register_secret, register_token
from .retry import backoff_delay, parse_retry_after
from .settings import Settings
from .tokenstore import Tokens, TokenStore

log = get_logger("harvester.auth")

# iRacing documents no Retry-After for `unauthorized_client`; the reference advises an hour
MIN_PASSWORD_BACKOFF = 3600.0
# attempts at the token endpoint, under the database's write lock: bounded so that other
# writers (which wait up to db.BUSY_TIMEOUT_MS) are never starved
TOKEN_ATTEMPTS = 2
TOKEN_TIMEOUT = 10.0
# after a refresh that failed for lack of an answer, wait before trying again (per process)
REFRESH_RETRY_FIRST = 30.0
# a 401 for a token younger than this is not the token's fault: it is not refreshed again
FRESH_SECONDS = 60.0
REFRESH_RETRY_MAX = 600.0


@dataclass(frozen=True)
class OAuthFailure:
    """A token endpoint answer that is not a token, decoded (pure data, no secrets)."""

    status: int
    error: str
    description: str
    request_id: str | None
    retry_after: float | None


class _Transient(Exception):
    """A token request that may succeed if tried again (network, 5xx, temporarily_unavailable)."""


class _Rejected(Exception):
    def __init__(self, failure: OAuthFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


def parse_token_response(payload: Any, requested_at: float) -> Tokens:
    """Tokens from a successful token answer; expiries count from when the request was sent."""
    if not isinstance(payload, dict):
        raise AuthError("the token endpoint answered something that is not a JSON object")
    access = payload.get("access_token")
    expires_in = payload.get("expires_in")
    token_type = str(payload.get("token_type", "Bearer"))
    if not isinstance(access, str) or not access:
        raise AuthError("the token endpoint answered without an access_token")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        raise AuthError("the token endpoint answered without a valid expires_in")
    if token_type.lower() != "bearer":
        raise AuthError(f"the token endpoint issued an unsupported token type {token_type!r}")
    refresh = payload.get("refresh_token") or None
    refresh_in = payload.get("refresh_token_expires_in")
    refresh_expires = (
        requested_at + float(refresh_in)
        if refresh and isinstance(refresh_in, int | float) and not isinstance(refresh_in, bool)
        else None
    )
    scope = payload.get("scope")
    return Tokens(
        access_token=access,
        access_expires_at=requested_at + float(expires_in),
        refresh_token=refresh if isinstance(refresh, str) else None,
        refresh_expires_at=refresh_expires,
        scope=scope if isinstance(scope, str) else None,
        obtained_at=requested_at,
    )


def parse_oauth_failure(response: httpx.Response, now: float) -> OAuthFailure:
    """Decode an OAuth error answer; bodies that are not JSON still give a usable failure."""
    error, description = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or body.get("message") or "")
    if not error:
        error = "rate_limited" if response.status_code == 429 else f"http_{response.status_code}"
    return OAuthFailure(
        status=response.status_code,
        error=error,
        description=description[:300],
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
    )


@dataclass(frozen=True)
class SessionStatus:
    """What `harvester auth status` shows: never a secret."""

    logged_in: bool
    username: str
    client_id: str
    scope: str | None
    access_expires_at: float | None
    refresh_expires_at: float | None
    obtained_at: float | None
    last_refresh_at: float | None
    password_grants_last_hour: int
    password_grant_budget: int
    password_blocked_until: float | None
    block_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        def when(value: float | None) -> str | None:
            return iso_seconds(value) if value is not None else None

        return {
            "logged_in": self.logged_in,
            "username": self.username,
            "client_id": self.client_id,
            "scope": self.scope,
            "access_expires_at": when(self.access_expires_at),
            "refresh_expires_at": when(self.refresh_expires_at),
            "obtained_at": when(self.obtained_at),
            "last_refresh_at": when(self.last_refresh_at),
            "password_grants_last_hour": self.password_grants_last_hour,
            "password_grant_budget": self.password_grant_budget,
            "password_blocked_until": when(self.password_blocked_until),
            "block_reason": self.block_reason,
        }


class OAuthSession:
    """Produces valid access tokens for one iRacing user through one client registration."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.Client,
        store: TokenStore,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.RLock()
        self._cached: Tokens | None = None
        self._rejected: str | None = None
        self._refresh_retry_at = 0.0  # after a refresh got no answer (per process)
        self._refresh_retry_step = REFRESH_RETRY_FIRST
        for secret in settings.secrets():
            register_secret(secret)
        if settings.client_secret and settings.client_id:
            register_secret(mask(settings.client_secret, settings.client_id))
        if settings.password and settings.username:
            register_secret(mask(settings.password, settings.username))

    # -- the public face ---------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.settings.oauth_url}/token"

    def access_token(self) -> str:
        """A valid access token, refreshing or logging in only when needed."""
        with self._lock:
            cached = self._cached
            buffer = self.settings.token_refresh_buffer_seconds
            if (
                cached is not None
                and cached.access_token != self._rejected
                and cached.access_valid(self.clock.now(), buffer)
            ):
                return cached.access_token
            return self._obtain(force_refresh=False).access_token

    def recently_obtained(self, token: str, within: float = FRESH_SECONDS) -> bool:
        """True if `token` is the one this process obtained in the last `within` seconds: a
        401 for it is about the request (a subsession of another member), not the token."""
        cached = self._cached
        if cached is None or cached.access_token != token:
            return False
        obtained = cached.last_refresh_at or cached.obtained_at
        return self.clock.now() - obtained < within

    def invalidate(self, token: str) -> None:
        """The API refused `token` (401): the next `access_token()` gets a new one."""
        with self._lock:
            self._rejected = token

    def refresh(self) -> Tokens:
        """Spend the refresh token now (or log in if there is none)."""
        with self._lock:
            return self._obtain(force_refresh=True)

    def login(self, force: bool = False) -> Tokens:
        """Make sure a session is stored: reuse a valid one unless `force`, else log in."""
        with self._lock:
            if not force:
                return self._obtain(force_refresh=False)
            self._require_credentials()
            with self.store.locked() as conn:
                tokens, error = self._password_grant(conn)
            return self._finish(tokens, error)

    def current(self) -> Tokens | None:
        """The stored tokens, without any network call."""
        with self._lock:
            return self._cached or self.store.load()

    def logout(self) -> bool:
        """Revoke the session at the server when reachable, then delete the stored tokens."""
        with self._lock:
            tokens: Tokens | None
            try:
                tokens = self.store.load()
            except HarvesterError:
                tokens = None  # a session we cannot read cannot be revoked, only deleted
            if tokens is not None and tokens.access_valid(self.clock.now(), 0):
                self._revoke(tokens.access_token)
            with self.store.locked() as conn:
                deleted = self.store.delete(conn)
            self._cached = None
            return deleted

    def status(self) -> SessionStatus:
        tokens = self.current()
        now = self.clock.now()
        with self.store.reading() as conn:
            grants = self.store.password_grant_state(conn, now)
        return SessionStatus(
            logged_in=tokens is not None
            and (tokens.refresh_valid(now) or tokens.access_valid(now, 0)),
            username=self.settings.username,
            client_id=self.settings.client_id,
            scope=tokens.scope if tokens else None,
            access_expires_at=tokens.access_expires_at if tokens else None,
            refresh_expires_at=tokens.refresh_expires_at if tokens else None,
            obtained_at=tokens.obtained_at if tokens else None,
            last_refresh_at=tokens.last_refresh_at if tokens else None,
            password_grants_last_hour=grants.used_last_hour,
            password_grant_budget=self.settings.password_grants_per_hour,
            password_blocked_until=grants.blocked_until,
            block_reason=grants.block_reason,
        )

    @property
    def access_expires_at(self) -> float | None:
        tokens = self.current()
        return tokens.access_expires_at if tokens else None

    def as_httpx_auth(self) -> BearerAuth:
        return BearerAuth(self)

    # -- the grants ----------------------------------------------------------------------

    def _obtain(self, force_refresh: bool) -> Tokens:
        """Under the database lock: re-read, then refresh, then (once) the password grant."""
        buffer = self.settings.token_refresh_buffer_seconds
        rejected = self._rejected
        tokens: Tokens | None = None
        error: HarvesterError | None = None
        unexpected: BaseException | None = None
        with self.store.locked() as conn:
            try:
                now = self.clock.now()
                stored = self.store.load(conn)
                if (
                    stored is not None
                    and not force_refresh
                    and stored.access_token != rejected
                    and stored.access_valid(now, buffer)
                ):
                    tokens = stored  # another thread or process refreshed meanwhile
                elif (paused := self._grants_paused(conn, now)) is not None:
                    error = paused
                elif stored is not None and stored.refresh_valid(now):
                    tokens, error, retry_with_password = self._refresh_grant(conn, stored, rejected)
                    if retry_with_password:
                        tokens, error = self._password_grant(conn)
                elif self.settings.has_credentials:
                    tokens, error = self._password_grant(conn)
                else:
                    error = NotLoggedIn(
                        "no stored OAuth session and no credentials: set IRACING_CLIENT_ID, "
                        "IRACING_CLIENT_SECRET, IRACING_USERNAME and IRACING_PASSWORD, then run "
                        "`harvester auth login`"
                    )
            except BaseException as exc:  # re-raised below, after the commit
                # what was recorded must stay: a password login sent counts at iRacing even
                # if this process is interrupted before its answer is handled
                unexpected = exc
        if unexpected is not None:
            self._cached = None
            raise unexpected
        return self._finish(tokens, error)

    def _grants_paused(self, conn: Connection, now: float) -> HarvesterError | None:
        """The token endpoint asked us to stop (any grant), or a refresh recently got no
        answer: do not knock again before the pause ends."""
        if now < self._refresh_retry_at:
            return AuthError(
                "the token endpoint did not answer the last refresh; the next attempt is at "
                f"{iso_seconds(self._refresh_retry_at)}"
            )
        state = self.store.password_grant_state(conn, now)
        if state.blocked_until is not None:
            return PasswordGrantBlocked(
                f"the token endpoint refused us ({state.block_reason}); token requests are "
                f"paused until {iso_seconds(state.blocked_until)}",
                state.blocked_until,
            )
        return None

    def _finish(self, tokens: Tokens | None, error: HarvesterError | None) -> Tokens:
        if error is not None or tokens is None:
            self._cached = None
            raise error or AuthError("no token obtained")
        self._cached = tokens
        self._rejected = None
        return tokens

    def _refresh_grant(
        self, conn: Connection, stored: Tokens, rejected: str | None
    ) -> tuple[Tokens | None, HarvesterError | None, bool]:
        """Spend the refresh token. Returns (tokens, error, whether to try the password grant)."""
        assert stored.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": self.settings.client_id,
            "client_secret": mask(self.settings.client_secret, self.settings.client_id),
            "refresh_token": stored.refresh_token,
        }
        requested_at = self.clock.now()
        try:
            payload, request_id = self._post_token(form)
        except _Rejected as rejected_error:
            failure = rejected_error.failure
            self.store.record_event(
                conn, "refresh", failure.error, requested_at, failure.request_id
            )
            if failure.error == "invalid_grant":
                # spent, expired or revoked: discard it, and allow one password grant
                log.warning(
                    "oauth.refresh_rejected", error=failure.error, request_id=failure.request_id
                )
                self.store.save(conn, stored.without_refresh().access_expired(), requested_at)
                return None, None, self.settings.has_credentials
            return None, self._failure_error(conn, failure, "refresh"), False
        except HarvesterError as exc:
            # the answer was lost: the refresh token may or may not be spent. Keep it (a retry
            # answers invalid_grant if it was), but nothing stored may claim to be valid.
            self.store.record_event(conn, "refresh", "no_answer", requested_at)
            if rejected is not None or not stored.access_valid(requested_at, 0):
                self.store.save(conn, stored.access_expired(), requested_at)
            self._refresh_retry_at = self.clock.now() + self._refresh_retry_step
            self._refresh_retry_step = min(self._refresh_retry_step * 2, REFRESH_RETRY_MAX)
            return None, exc, False
        self._refresh_retry_step = REFRESH_RETRY_FIRST
        try:
            fresh = parse_token_response(payload, requested_at)
        except AuthError as exc:
            # the server spent our refresh token: keep the new one if the answer carried it
            new = payload.get("refresh_token") if isinstance(payload, dict) else None
            kept = replace(stored, refresh_token=new) if isinstance(new, str) and new else stored
            self.store.save(conn, kept.access_expired(), requested_at)
            self.store.record_event(conn, "refresh", "bad_answer", requested_at, request_id)
            return None, exc, False
        tokens = replace(
            fresh,
            # the server may keep the old refresh token instead of rotating it
            refresh_token=fresh.refresh_token or stored.refresh_token,
            refresh_expires_at=(
                fresh.refresh_expires_at if fresh.refresh_token else stored.refresh_expires_at
            ),
            obtained_at=stored.obtained_at,
            last_refresh_at=requested_at,
        )
        self._register(tokens)
        self.store.save(conn, tokens, requested_at)  # committed before the token is used
        self.store.record_event(conn, "refresh", "ok", requested_at, request_id)
        log.info(
            "oauth.refreshed",
            request_id=request_id,
            access_expires_at=iso_seconds(tokens.access_expires_at),
        )
        return tokens, None, False

    def _password_grant(self, conn: Connection) -> tuple[Tokens | None, HarvesterError | None]:
        now = self.clock.now()
        state = self.store.password_grant_state(conn, now)
        if state.blocked_until is not None:
            return None, PasswordGrantBlocked(
                f"password logins are paused until {iso_seconds(state.blocked_until)} "
                f"({state.block_reason}); harvester will not retry before then",
                state.blocked_until,
            )
        budget = self.settings.password_grants_per_hour
        if state.used_last_hour >= budget:
            until = (state.oldest_in_hour or now) + 3600
            return None, PasswordGrantBlocked(
                f"the password-login budget ({budget} an hour) is spent; the next is allowed at "
                f"{iso_seconds(until)} (HARVESTER_PASSWORD_GRANTS_PER_HOUR)",
                until,
            )
        form = {
            "grant_type": "password_limited",
            "client_id": self.settings.client_id,
            "client_secret": mask(self.settings.client_secret, self.settings.client_id),
            "username": self.settings.username,
            "password": mask(self.settings.password, self.settings.username),
            "scope": self.settings.scope,
        }
        # counted before it is sent: a login whose answer is lost still counts at iRacing
        event_id = self.store.record_event(conn, "password_grant", "sent", now)
        try:
            payload, request_id = self._post_token(form, attempts=1)
        except _Rejected as rejected_error:
            failure = rejected_error.failure
            self.store.update_event(conn, event_id, failure.error, failure.request_id)
            return None, self._failure_error(conn, failure, "password")
        except HarvesterError as exc:
            self.store.update_event(conn, event_id, "no_answer", None)
            return None, exc
        try:
            tokens = parse_token_response(payload, now)
        except AuthError as exc:
            self.store.update_event(conn, event_id, "bad_answer", request_id)
            return None, exc
        self._register(tokens)
        self.store.save(conn, tokens, now)
        self.store.update_event(conn, event_id, "ok", request_id)
        if tokens.scope is not None and self.settings.scope not in tokens.scope.split():
            log.warning("oauth.scope_differs", requested=self.settings.scope, granted=tokens.scope)
        log.info(
            "oauth.password_grant",
            request_id=request_id,
            access_expires_at=iso_seconds(tokens.access_expires_at),
        )
        return tokens, None

    def _failure_error(self, conn: Connection, failure: OAuthFailure, grant: str) -> HarvesterError:
        """Turn a refused grant into the right error, blocking password logins if told to."""
        now = self.clock.now()
        detail = f"{failure.error}" + (f": {failure.description}" if failure.description else "")
        if failure.error == "invalid_client":
            log.error("oauth.invalid_client", request_id=failure.request_id, grant=grant)
            return InvalidClient(
                "the token endpoint rejected the client (invalid_client): check IRACING_CLIENT_ID "
                f"and IRACING_CLIENT_SECRET (x-request-id {failure.request_id})"
            )
        if failure.error == "unauthorized_client" or failure.status == 429:
            wait = max(failure.retry_after or 0.0, MIN_PASSWORD_BACKOFF)
            until = now + wait
            self.store.block_password_grants(conn, until, detail)
            log.error(
                "oauth.password_grants_paused",
                error=failure.error,
                request_id=failure.request_id,
                until=iso_seconds(until),
                grant=grant,
            )
            return PasswordGrantBlocked(
                f"iRacing refused the {grant} grant ({detail}); token requests are paused until "
                f"{iso_seconds(until)} (x-request-id {failure.request_id})",
                until,
            )
        if grant == "password" and failure.error == "invalid_grant":
            log.error("oauth.credentials_rejected", request_id=failure.request_id)
            return AuthError(
                "the token endpoint rejected the username or password (invalid_grant): check "
                f"IRACING_USERNAME and IRACING_PASSWORD (x-request-id {failure.request_id})"
            )
        log.error(
            "oauth.grant_failed", grant=grant, error=failure.error, request_id=failure.request_id
        )
        return AuthError(
            f"the {grant} grant failed ({detail}, HTTP {failure.status}, "
            f"x-request-id {failure.request_id})"
        )

    def _post_token(
        self, form: dict[str, str], attempts: int = TOKEN_ATTEMPTS
    ) -> tuple[dict[str, Any], str | None]:
        """POST the form; retry transient failures with back-off; raise _Rejected for a refusal.

        A password grant is sent once only (attempts=1): each one counts against iRacing's limit.
        """
        last: str = ""
        for attempt in range(attempts):
            if attempt:
                self.clock.sleep(backoff_delay(attempt - 1, 1.0, 10.0, self.rng))
            try:
                response = self.http.post(
                    self.token_url,
                    data=form,
                    headers={"Accept": "application/json"},
                    timeout=min(self.settings.request_timeout, TOKEN_TIMEOUT),
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
                log.warning("oauth.token_request_failed", error=last, attempt=attempt + 1)
                continue
            request_id = response.headers.get("x-request-id")
            if response.status_code == 200:
                try:
                    payload = response.json()
                except ValueError:
                    last = "a token answer that is not JSON"
                    continue
                return payload, request_id
            failure = parse_oauth_failure(response, self.clock.now())
            if response.status_code >= 500 or failure.error in (
                "temporarily_unavailable",
                "server_error",
            ):
                last = f"{failure.error} (HTTP {failure.status}, x-request-id {request_id})"
                log.warning(
                    "oauth.token_endpoint_unavailable",
                    error=failure.error,
                    status=failure.status,
                    request_id=request_id,
                    attempt=attempt + 1,
                )
                continue
            raise _Rejected(failure)
        raise AuthError(f"the token endpoint could not be reached: {last}")

    def _revoke(self, access_token: str) -> None:
        try:
            response = self.http.post(
                f"{self.settings.oauth_url}/revoke/current",
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=min(self.settings.request_timeout, 10.0),
            )
            log.info(
                "oauth.revoked",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            )
        except httpx.TransportError as exc:
            log.warning("oauth.revoke_unreachable", error=type(exc).__name__)

    def _require_credentials(self) -> None:
        if not self.settings.has_credentials:
            raise NotLoggedIn(
                "credentials are missing: set IRACING_CLIENT_ID, IRACING_CLIENT_SECRET, "
                "IRACING_USERNAME and IRACING_PASSWORD (environment or .env)"
            )

    @staticmethod
    def _register(tokens: Tokens) -> None:
        register_token(tokens.access_token)
        register_token(tokens.refresh_token)


class BearerAuth(httpx.Auth):
    """httpx auth for /data: the session's access token; on a 401, one refresh and one retry
    (unless the token is brand new: /data also answers 401 for a subsession the member may not
    see, and refreshing for each of those would spend a refresh per item of a fan-out)."""

    def __init__(self, session: OAuthSession) -> None:
        self.session = session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.session.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and not self.session.recently_obtained(token):
            log.info("oauth.token_rejected_by_api")
            self.session.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self.session.access_token()}"
            yield request
