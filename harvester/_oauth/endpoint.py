"""The token endpoint: its I/O (post a grant, revoke) and the parsing of its answers.

The parsing is pure (`parse_token_response`, `parse_oauth_failure`): no network, no clock, no
database, so every hostile answer can be tested as data. `TokenEndpoint` only sends and
classifies: an answer that is a refusal raises `TokenRejected`, no usable answer raises
`TokenEndpointUnreachable`; what either means for the session is decided in `session`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import httpx

from .._config.settings import Settings
from .._core.clock import Clock
from .._core.errors import AuthError
from .._core.logs import get_logger
from .._core.redact import redact_text
from .._core.retry import Retries, parse_retry_after
from .._core.text import printable
from .tokens import Tokens

log = get_logger("harvester.auth")

# attempts at the token endpoint, under the grant lock: bounded so that another process's grant
# (which waits up to store.GRANT_WAIT_SECONDS for it) is never starved
TOKEN_ATTEMPTS = 2
TOKEN_TIMEOUT = 10.0
# the longest lifetimes believed from an answer (iRacing gives 600 s and 7 days); longer ones
# are cut to these, so no answer can make a token look valid for ever
MAX_ACCESS_SECONDS = 86_400.0
MAX_REFRESH_SECONDS = 365 * 86_400.0
MAX_ERROR_CHARS = 64  # an OAuth error code is a short word (auth_events.outcome: 64)
MAX_REQUEST_ID_CHARS = 128  # (auth_events.request_id: 128)


@dataclass(frozen=True)
class OAuthFailure:
    """A token endpoint answer that is not a token, decoded (pure data, no secrets)."""

    status: int
    error: str
    description: str
    request_id: str | None
    retry_after: float | None


@dataclass(frozen=True)
class TokenAnswer:
    """A 200 answer's decoded JSON body (not yet validated) and its x-request-id."""

    payload: Any
    request_id: str | None


class TokenRejected(AuthError):
    """The token endpoint refused the grant (invalid_grant, invalid_client, 429, ...)."""

    def __init__(self, failure: OAuthFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


class TokenEndpointUnreachable(AuthError):
    """No usable answer (network, 5xx, temporarily_unavailable): a grant may or may not have
    been spent at the server. `sent` is False only when no attempt left this host (the
    connection itself failed), so nothing can have been spent."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


# transport errors raised before a byte of the request was sent
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)


def parse_token_response(payload: Any, requested_at: float) -> Tokens:
    """Tokens from a successful token answer; expiries count from when the request was sent."""
    if not isinstance(payload, dict):
        raise AuthError("the token endpoint answered something that is not a JSON object")
    access = payload.get("access_token")
    expires_in = payload.get("expires_in")
    token_type = str(payload.get("token_type", "Bearer"))
    if not isinstance(access, str) or not access:
        raise AuthError("the token endpoint answered without an access_token")
    access_seconds = _lifetime(expires_in, MAX_ACCESS_SECONDS)
    if access_seconds is None:
        raise AuthError("the token endpoint answered without a valid expires_in")
    if token_type.lower() != "bearer":
        raise AuthError(f"the token endpoint issued an unsupported token type {token_type!r}")
    refresh = payload.get("refresh_token") or None
    refresh_in = payload.get("refresh_token_expires_in")
    refresh_seconds = _lifetime(refresh_in, MAX_REFRESH_SECONDS)
    if refresh and refresh_in is not None and refresh_seconds is None:
        raise AuthError("the token endpoint answered an invalid refresh_token_expires_in")
    refresh_expires = (
        requested_at + refresh_seconds if refresh and refresh_seconds is not None else None
    )
    scope = payload.get("scope")
    return Tokens(
        access_token=access,
        access_expires_at=requested_at + access_seconds,
        refresh_token=refresh if isinstance(refresh, str) else None,
        refresh_expires_at=refresh_expires,
        scope=scope if isinstance(scope, str) else None,
        obtained_at=requested_at,
    )


def _lifetime(value: Any, cap: float) -> float | None:
    """A lifetime in seconds from an answer: a positive finite number, cut to `cap`; None for
    anything else (a string, a bool, NaN, an infinity, zero or less)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(seconds, cap)


def parse_oauth_failure(response: httpx.Response, now: float) -> OAuthFailure:
    """Decode an OAuth error answer; bodies that are not JSON still give a usable failure.

    Its texts are the server's, so untrusted: each becomes one printable line (line breaks
    folded, ESC and other control characters escaped, secrets redacted) cut to what shows it
    (auth_events.outcome holds 64 characters, request_id 128), before it reaches an error, a
    log line, `runs.error` or the terminal."""
    error, description = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = server_text(str(body.get("error") or ""), MAX_ERROR_CHARS)
        description = server_text(
            str(body.get("error_description") or body.get("message") or ""), 300
        )
    if not error:
        error = "rate_limited" if response.status_code == 429 else f"http_{response.status_code}"
    request_id = response.headers.get("x-request-id")
    return OAuthFailure(
        status=response.status_code,
        error=error,
        description=description,
        request_id=server_text(request_id, MAX_REQUEST_ID_CHARS) if request_id else None,
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
    )


def server_text(text: str, limit: int) -> str:
    """Text from the token endpoint fit to show: one printable line, redacted, at most `limit`
    characters."""
    return printable(redact_text(" ".join(text.split())))[:limit]


class TokenEndpoint:
    """Sends grants and revocations to IRACING_OAUTH_URL."""

    def __init__(
        self, settings: Settings, http: httpx.Client, clock: Clock, rng: random.Random
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self.rng = rng

    @property
    def token_url(self) -> str:
        return f"{self.settings.oauth_url}/token"

    def post(self, form: dict[str, str], attempts: int = TOKEN_ATTEMPTS) -> TokenAnswer:
        """POST the form; retry transient failures with back-off.

        A password grant is sent once only (attempts=1): each one counts against iRacing's limit.
        """
        last: str = ""
        sent = False
        for attempt in Retries(attempts, 1.0, 10.0, self.rng, self.clock.sleep):
            try:
                response = self.http.post(
                    self.token_url,
                    data=form,
                    headers={"Accept": "application/json"},
                    timeout=min(self.settings.request_timeout, TOKEN_TIMEOUT),
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
                sent = sent or not isinstance(exc, _NEVER_SENT)
                log.warning("oauth.token_request_failed", error=last, attempt=attempt + 1)
                continue
            sent = True
            request_id = response.headers.get("x-request-id")
            if response.status_code == 200:
                try:
                    payload = response.json()
                except ValueError:
                    last = "a token answer that is not JSON"
                    continue
                return TokenAnswer(payload, request_id)
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
            raise TokenRejected(failure)
        raise TokenEndpointUnreachable(f"the token endpoint could not be reached: {last}", sent)

    def revoke(self, access_token: str) -> None:
        """Revoke the session at the server; an unreachable server is logged, not raised."""
        try:
            response = self.http.post(
                f"{self.settings.oauth_url}/revoke/current",
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=min(self.settings.request_timeout, TOKEN_TIMEOUT),
            )
            log.info(
                "oauth.revoked",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            )
        except httpx.TransportError as exc:
            log.warning("oauth.revoke_unreachable", error=type(exc).__name__)
