"""The OAuth session policy: one per database, shared by every thread and process that opens it.

Order of preference for a token: a valid access token (in memory, else in the database), else
the refresh grant, else the password grant. The refresh token is single-use, so a grant runs
under the grant lock (single flight across threads and processes: `TokenStore.granting`, not
the database's write lock, so writers go on while the token endpoint answers) after re-reading
the stored tokens, and its rotated result is committed in a short transaction of its own the
moment the answer arrives (retried on a fresh connection if that one was lost), before the new
access token is used. What is left of the refresh window is the token endpoint's answer on the
wire and that one commit: a process killed inside it loses the rotated token, and the next grant
is one password login. Password logins are rate limited by iRacing, so they are counted in the
database (a budget per hour across processes; each login is recorded and committed before it
is sent) and stopped for a while after `unauthorized_client`. After `logout`, only `login` uses
the password again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from .._config.settings import Settings
from .._core.clock import Clock, iso_seconds
from .._core.errors import (
    AuthError,
    HarvesterError,
    InvalidClient,
    NotLoggedIn,
    PasswordGrantBlocked,
)
from .._core.logs import get_logger
from .._core.redact import register_secret, register_token
from .endpoint import (
    OAuthFailure,
    TokenEndpoint,
    TokenEndpointUnreachable,
    TokenRejected,
    parse_token_response,
)
from .masking import mask
from .store import NOT_SENT, TokenStore
from .tokens import Tokens

log = get_logger("harvester.auth")

T = TypeVar("T")

# iRacing documents no Retry-After for `unauthorized_client`; the reference advises an hour
MIN_PASSWORD_BACKOFF = 3600.0
# after a refresh that failed for lack of an answer, wait before trying again (per process)
REFRESH_RETRY_FIRST = 30.0
REFRESH_RETRY_MAX = 600.0
# committing tokens that just arrived: tries on a fresh connection when one is lost
SAVE_ATTEMPTS = 3
SAVE_RETRY_SECONDS = 0.5


class RefreshTokenSpent(AuthError):
    """The refresh grant answered invalid_grant: the token is spent, expired or revoked."""


LOGGED_OUT = (
    "logged out with `harvester auth logout`: nothing logs in again until you run "
    "`harvester auth login`"
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
        self.endpoint = TokenEndpoint(settings, http, clock, self.rng)
        self._lock = threading.RLock()
        self._cached: Tokens | None = None
        self._rejected: str | None = None
        self._refused_after_refresh: str | None = None
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
        return self.endpoint.token_url

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

    def recover_from_401(self, token: str) -> str | None:
        """The API answered 401 for `token`: the token to retry with (a newer one another
        process stored, else a refreshed one), or None when `token` itself came from a refresh
        that a 401 followed: it is known good, and a refresh per refused item of a fan-out
        would prove nothing more.

        No age of the token is trusted: a server may invalidate a token at any time, and a
        clock that is off would make every token look new."""
        with self._lock:
            if token == self._refused_after_refresh:
                return None
            self._rejected = token
            return self._obtain(force_refresh=False).access_token

    def refused_after_refresh(self, token: str) -> None:
        """A 401 persisted with `token`, obtained for a 401: it is the request, not the token."""
        with self._lock:
            self._refused_after_refresh = token

    def refresh(self) -> Tokens:
        """Spend the refresh token now (or log in if there is none)."""
        with self._lock:
            return self._obtain(force_refresh=True)

    def login(self, force: bool = False) -> Tokens:
        """Make sure a session is stored: reuse a valid one unless `force`, else log in. This
        is the one way back in after `logout`."""
        with self._lock:
            if not force:
                return self._obtain(force_refresh=False, explicit=True)
            self._require_credentials()
            self._cached = None
            with self.store.granting():
                tokens = self._log_in(reuse_stored=False)
            self._cached, self._rejected = tokens, None
            return tokens

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
                self.endpoint.revoke(tokens.access_token)
            with self.store.granting(), self.store.saving() as conn:
                deleted = self.store.delete(conn)
                self.store.set_logged_out(conn, self.clock.now())
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

    def _obtain(self, force_refresh: bool, explicit: bool = False) -> Tokens:
        """Under the grant lock: re-read, then refresh, then (once) the password grant; the
        tokens obtained become the ones this process uses."""
        rejected = self._rejected
        self._cached = None
        with self.store.granting():
            tokens = self._grant(force_refresh, explicit, rejected)
        self._cached = tokens
        self._rejected = None
        return tokens

    def _grant(self, force_refresh: bool, explicit: bool, rejected: str | None) -> Tokens:
        """The stored tokens if they are still good, else a refresh, else the password grant;
        after a logout only an `explicit` login may use the password."""
        now = self.clock.now()
        with self.store.reading() as conn:
            stored = self.store.load(conn)
            if (
                stored is not None
                and not force_refresh
                and stored.access_token != rejected
                and stored.access_valid(now, self.settings.token_refresh_buffer_seconds)
            ):
                return stored  # another thread or process refreshed meanwhile
            self._raise_if_paused(conn, now)
            logged_out = self.store.logged_out(conn)
        if stored is not None and stored.refresh_valid(now):
            try:
                return self._refresh_grant(stored, rejected)
            except RefreshTokenSpent:
                if not self.settings.has_credentials:
                    raise
            return self._log_in(reuse_stored=True)  # the one password grant allowed
        if not explicit and logged_out:
            raise NotLoggedIn(LOGGED_OUT)
        if self.settings.has_credentials:
            return self._log_in(reuse_stored=True)
        some = len(self.settings.missing_credentials) < 4
        raise NotLoggedIn(
            f"no stored OAuth session and {'incomplete' if some else 'no'} credentials: "
            f"{self.settings.credentials_wanted()}, then run `harvester auth login`"
        )

    def _record(self, work: Callable[[Connection], T]) -> T:
        """What a grant learnt, in a short transaction of its own (see `TokenStore.saving`)."""
        with self.store.saving() as conn:
            return work(conn)

    def _commit_new(self, work: Callable[[Connection], None]) -> None:
        """Commit tokens that just arrived, now: the grant that produced them is spent at the
        server, so losing them costs a password login. A lost connection (the database
        restarted, this service severed its connections) is retried on a fresh one."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                self._record(work)
                return
            except DBAPIError as exc:
                if attempt == SAVE_ATTEMPTS:
                    log.error("oauth.tokens_not_saved", error=type(exc.orig).__name__)
                    raise
                log.warning("oauth.save_retried", attempt=attempt, error=type(exc.orig).__name__)
                time.sleep(SAVE_RETRY_SECONDS * attempt)

    def _raise_if_paused(self, conn: Connection, now: float) -> None:
        """The token endpoint asked us to stop (any grant), or a refresh recently got no
        answer: do not knock again before the pause ends."""
        if now < self._refresh_retry_at:
            raise AuthError(
                "the token endpoint did not answer the last refresh; the next attempt is at "
                f"{iso_seconds(self._refresh_retry_at)}"
            )
        state = self.store.password_grant_state(conn, now)
        if state.blocked_until is not None:
            raise PasswordGrantBlocked(
                f"the token endpoint refused us ({state.block_reason}); token requests are "
                f"paused until {iso_seconds(state.blocked_until)}",
                state.blocked_until,
            )

    def _refresh_grant(self, stored: Tokens, rejected: str | None) -> Tokens:
        """Spend the refresh token (under the grant lock, outside any transaction); raises
        RefreshTokenSpent when it is no longer valid."""
        assert stored.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": self.settings.client_id,
            "client_secret": mask(self.settings.client_secret, self.settings.client_id),
            "refresh_token": stored.refresh_token,
        }
        requested_at = self.clock.now()
        try:
            answer = self.endpoint.post(form)
        except TokenRejected as refused:
            failure = refused.failure

            def refused_grant(conn: Connection) -> HarvesterError:
                self.store.record_event(
                    conn, "refresh", failure.error, requested_at, failure.request_id
                )
                if failure.error == "invalid_grant":
                    # spent, expired or revoked: discard it, and allow one password grant
                    self.store.save(conn, stored.without_refresh().access_expired(), requested_at)
                    return RefreshTokenSpent(
                        "the stored refresh token was refused (invalid_grant) and no "
                        "credentials are set to log in again: set them and run "
                        "`harvester auth login`"
                    )
                return self._failure_error(conn, failure, "refresh")

            error = self._record(refused_grant)
            if failure.error == "invalid_grant":
                log.warning(
                    "oauth.refresh_rejected", error=failure.error, request_id=failure.request_id
                )
            raise error from None
        except TokenEndpointUnreachable:
            # the answer was lost: the refresh token may or may not be spent. Keep it (a retry
            # answers invalid_grant if it was), but nothing stored may claim to be valid.
            def unanswered(conn: Connection) -> None:
                self.store.record_event(conn, "refresh", "no_answer", requested_at)
                if rejected is not None or not stored.access_valid(requested_at, 0):
                    self.store.save(conn, stored.access_expired(), requested_at)

            self._record(unanswered)
            self._refresh_retry_at = self.clock.now() + self._refresh_retry_step
            self._refresh_retry_step = min(self._refresh_retry_step * 2, REFRESH_RETRY_MAX)
            raise
        self._refresh_retry_step = REFRESH_RETRY_FIRST
        payload, request_id = answer.payload, answer.request_id
        try:
            fresh = parse_token_response(payload, requested_at)
        except AuthError:
            # the server spent our refresh token: keep the new one if the answer carried it
            new = payload.get("refresh_token") if isinstance(payload, dict) else None
            kept = replace(stored, refresh_token=new) if isinstance(new, str) and new else stored

            def bad_answer(conn: Connection) -> None:
                self.store.save(conn, kept.access_expired(), requested_at)
                self.store.record_event(conn, "refresh", "bad_answer", requested_at, request_id)

            self._commit_new(bad_answer)
            raise
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

        def refreshed(conn: Connection) -> None:
            self.store.save(conn, tokens, requested_at)  # committed before the token is used
            self.store.record_event(conn, "refresh", "ok", requested_at, request_id)

        self._commit_new(refreshed)
        log.info(
            "oauth.refreshed",
            request_id=request_id,
            access_expires_at=iso_seconds(tokens.access_expires_at),
        )
        return tokens

    def _log_in(self, *, reuse_stored: bool) -> Tokens:
        """The password grant, under the grant lock: the attempt is recorded and committed
        before the request leaves (a login whose process is killed mid-request still counts,
        as it does at iRacing), then the request, then its outcome in a transaction of its
        own."""
        event_id = self._record(self._announce_password_grant)
        return self._password_grant(event_id, reuse_stored)

    def _announce_password_grant(self, conn: Connection) -> int:
        """Check the pause and the budget, then record the login about to be sent."""
        now = self.clock.now()
        state = self.store.password_grant_state(conn, now)
        if state.blocked_until is not None:
            raise PasswordGrantBlocked(
                f"password logins are paused until {iso_seconds(state.blocked_until)} "
                f"({state.block_reason}); harvester will not retry before then",
                state.blocked_until,
            )
        budget = self.settings.password_grants_per_hour
        if state.used_last_hour >= budget:
            until = (state.oldest_in_hour or now) + 3600
            raise PasswordGrantBlocked(
                f"the password-login budget ({budget} an hour) is spent; the next is allowed at "
                f"{iso_seconds(until)} (HARVESTER_PASSWORD_GRANTS_PER_HOUR)",
                until,
            )
        return self.store.record_event(conn, "password_grant", "sent", now)

    def _password_grant(self, event_id: int, reuse_stored: bool) -> Tokens:
        now = self.clock.now()
        if reuse_stored:
            stored = self.store.load()
            if stored is not None and stored.access_valid(
                now, self.settings.token_refresh_buffer_seconds
            ):
                # another process logged in before we took the grant lock: ours is not sent
                self._record(lambda conn: self.store.update_event(conn, event_id, NOT_SENT, None))
                return stored
        form = {
            "grant_type": "password_limited",
            "client_id": self.settings.client_id,
            "client_secret": mask(self.settings.client_secret, self.settings.client_id),
            "username": self.settings.username,
            "password": mask(self.settings.password, self.settings.username),
            "scope": self.settings.scope,
        }
        try:
            answer = self.endpoint.post(form, attempts=1)
        except TokenRejected as refused:
            failure = refused.failure

            def refused_login(conn: Connection) -> HarvesterError:
                self.store.update_event(conn, event_id, failure.error, failure.request_id)
                return self._failure_error(conn, failure, "password")

            raise self._record(refused_login) from None
        except TokenEndpointUnreachable as exc:
            outcome = "no_answer" if exc.sent else NOT_SENT
            self._record(lambda conn: self.store.update_event(conn, event_id, outcome, None))
            raise
        try:
            tokens = parse_token_response(answer.payload, now)
        except AuthError:
            self._record(
                lambda conn: self.store.update_event(
                    conn, event_id, "bad_answer", answer.request_id
                )
            )
            raise
        self._register(tokens)

        def logged_in(conn: Connection) -> None:
            self.store.save(conn, tokens, now)
            self.store.set_logged_out(conn, None)
            self.store.update_event(conn, event_id, "ok", answer.request_id)

        self._commit_new(logged_in)
        if tokens.scope is not None and self.settings.scope not in tokens.scope.split():
            log.warning("oauth.scope_differs", requested=self.settings.scope, granted=tokens.scope)
        log.info(
            "oauth.password_grant",
            request_id=answer.request_id,
            access_expires_at=iso_seconds(tokens.access_expires_at),
        )
        return tokens

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

    def _require_credentials(self) -> None:
        if not self.settings.has_credentials:
            raise NotLoggedIn(f"credentials are incomplete: {self.settings.credentials_wanted()}")

    @staticmethod
    def _register(tokens: Tokens) -> None:
        register_token(tokens.access_token)
        register_token(tokens.refresh_token)


class BearerAuth(httpx.Auth):
    """httpx auth for /data: the session's access token; on a 401, the newer token the database
    holds, else one refresh, and one retry. A 401 that persists after that is about the request
    (/data also answers 401 for a subsession the member may not see)."""

    def __init__(self, session: OAuthSession) -> None:
        self.session = session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.session.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        retry_with = self.session.recover_from_401(token)
        if retry_with is None:
            return  # this token already survived a refresh for a 401: the request is refused
        log.info("oauth.token_rejected_by_api")
        request.headers["Authorization"] = f"Bearer {retry_with}"
        response = yield request
        if response.status_code == 401:
            self.session.refused_after_refresh(retry_with)
