"""The simulated oauth.iracing.com: the Password Limited and Refresh Token grants, revocation.

Faithful to the reference where it matters to a client: form encoding is required, the client
secret and password must arrive masked (and URL-encoded: a raw `+` decodes to a space and fails),
access tokens are JWT-shaped and reusable until they expire, refresh tokens are single use and
rotate, and password logins beyond a per-hour limit answer `unauthorized_client`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ._time import Clock, iso
from .config import SimConfig
from .masking import mask
from .messages import SimRequest, SimResponse, json_response, request_id

_STATUS_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
}
SCOPES = ("iracing.auth", "iracing.profile")  # what a client may ask for
DATA_SCOPE = "iracing.auth"  # what /data wants
PROFILE_SCOPE = "iracing.profile"  # what /oauth2/iracing/profile wants
ERROR_STATUS = {
    "insufficient_scope": 403,
    "invalid_request": 400,
    "invalid_client": 403,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    "invalid_token": 401,
}


@dataclass
class Session:
    """One login: what its tokens were issued to."""

    session_id: str
    client_id: str
    username: str
    cust_id: int
    scope: str
    created_at: float = 0.0
    last_used_at: float = 0.0
    revoked: bool = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope.split()


@dataclass
class AccessToken:
    session: Session
    expires_at: float


@dataclass
class RefreshToken:
    session: Session
    expires_at: float
    used: bool = False
    revoked: bool = False


class OAuthService:
    """Token issuance and verification; thread-safe. `verify_access` serves the /data side."""

    def __init__(
        self,
        config: SimConfig,
        clock: Clock,
        cust_id_of: dict[str, int],
        name_of: Callable[[int], str] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.cust_id_of = cust_id_of
        self.name_of = name_of or (lambda cust_id: f"Driver {cust_id}")
        self._sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._password_grants: dict[str, deque[float]] = {}
        self._signing_key = secrets.token_bytes(32)
        self._count_lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._count_lock:
            self.counters[name] += 1

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        rid = request_id()
        routes = {
            "/oauth2/token": ("POST", self._token),
            "/oauth2/revoke/current": ("POST", self._revoke_current),
            "/oauth2/revoke/sessions": ("POST", self._revoke_sessions),
            "/oauth2/revoke/client": ("POST", self._revoke_client),
            "/oauth2/sessions": ("GET", self._list_sessions),
            "/oauth2/iracing/profile": ("GET", self._profile),
        }
        route = routes.get(request.path.rstrip("/"))
        if route is None:
            response = json_response(404, {"status": 404, "status_reason": "Not Found"})
        elif request.method != route[0]:
            response = self._error(
                "invalid_request", f"{request.path} takes {route[0]} only", status=405
            )
            response.headers["allow"] = route[0]
        else:
            response = route[1](request)
        response.headers["x-request-id"] = rid
        return response

    def _token(self, request: SimRequest) -> SimResponse:
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return self._error("invalid_request", "form encoding (x-www-form-urlencoded) required")
        try:
            form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return self._error("invalid_request", "body is not UTF-8")
        if not form.get("grant_type"):
            return self._error("invalid_request", "grant_type missing")
        client_id = form.get("client_id", "")
        if not client_id:
            return self._error("invalid_request", "client_id missing")
        secret = self.config.clients.get(client_id)
        if secret is None or not hmac.compare_digest(
            form.get("client_secret", ""), mask(secret, client_id)
        ):
            return self._error("invalid_client", "client authentication failed")
        grant = form.get("grant_type", "")
        if grant == "password_limited":
            return self._password_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        return self._error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _password_grant(self, form: dict[str, str]) -> SimResponse:
        username = form.get("username", "")
        if not username or "password" not in form:
            return self._error("invalid_request", "username and password are required")
        now = self.clock.now()
        key = f"{form['client_id']}\n{username.strip().lower()}"
        with self.lock:
            window = self._password_grants.setdefault(key, deque())
            while window and window[0] <= now - 3600:
                window.popleft()
            if len(window) >= self.config.password_grants_per_hour:
                self.count("password_rate_limited")
                headers = {}
                if self.config.password_limit_retry_after is not None:
                    headers["retry-after"] = str(self.config.password_limit_retry_after)
                return self._error(
                    "unauthorized_client", "rate limit exceeded for this grant", headers=headers
                )
            window.append(now)
        password = self._find_password(username)
        if password is None or not hmac.compare_digest(form["password"], mask(password, username)):
            return self._error("invalid_grant", "invalid username or password")
        scope = " ".join((form.get("scope") or DATA_SCOPE).split())
        unknown = [name for name in scope.split() if name not in SCOPES]
        if unknown:
            return self._error("invalid_scope", f"unknown scope {unknown[0]!r}")
        session = Session(
            session_id=secrets.token_hex(8),
            client_id=form["client_id"],
            username=username.strip().lower(),
            cust_id=self.cust_id_of.get(username.strip().lower(), 100_001),
            scope=scope,
            created_at=now,
            last_used_at=now,
        )
        with self.lock:
            self._sessions[session.session_id] = session
            self.count("password_grants")
            return self._issue(session, now)

    def _refresh_grant(self, form: dict[str, str]) -> SimResponse:
        token = form.get("refresh_token", "")
        if not token:
            return self._error("invalid_request", "refresh_token missing")
        now = self.clock.now()
        with self.lock:
            record = self._refresh.get(token)
            if record is None or record.session.client_id != form["client_id"]:
                self.count("refresh_unknown")
                return self._error("invalid_grant", "refresh token is invalid")
            if record.used:
                self.count("refresh_reuses")
                return self._error("invalid_grant", "refresh token was already used")
            if record.revoked or record.session.revoked:
                self.count("refresh_revoked")
                return self._error("invalid_grant", "refresh token was revoked")
            if record.expires_at <= now:
                self.count("refresh_expired")
                return self._error("invalid_grant", "refresh token is expired or revoked")
            record.used = True
            self.count("refreshes")
            return self._issue(record.session, now)

    def _revoke_current(self, request: SimRequest) -> SimResponse:
        session = self.verify_access(request.header("authorization"))
        if session is None:
            return self._error("invalid_token", "access token is invalid", status=401)
        with self.lock:
            session.revoked = True
            self.count("revocations")
        return SimResponse(200, {}, b"")

    def _revoke_sessions(self, request: SimRequest) -> SimResponse:
        """Revoke the named sessions (form `session_ids=a,b`) of the token's user."""
        session = self.verify_access(request.header("authorization"))
        if session is None:
            return self._error("invalid_token", "access token is invalid", status=401)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        wanted = {part.strip() for part in form.get("session_ids", "").split(",") if part.strip()}
        if not wanted:
            return self._error("invalid_request", "session_ids missing")
        with self.lock:
            for other in self._sessions.values():
                if other.session_id in wanted and other.username == session.username:
                    other.revoked = True
                    self.count("revocations")
        return SimResponse(200, {}, b"")

    def _revoke_client(self, request: SimRequest) -> SimResponse:
        """Revoke every session of the token's client for its user."""
        session = self.verify_access(request.header("authorization"))
        if session is None:
            return self._error("invalid_token", "access token is invalid", status=401)
        with self.lock:
            for other in self._sessions.values():
                if other.client_id == session.client_id and other.username == session.username:
                    other.revoked = True
                    self.count("revocations")
        return SimResponse(200, {}, b"")

    def _list_sessions(self, request: SimRequest) -> SimResponse:
        session = self.verify_access(request.header("authorization"))
        if session is None:
            return self._error("invalid_token", "access token is invalid", status=401)
        with self.lock:
            mine = [s for s in self._sessions.values() if s.username == session.username]
            rows = [
                {
                    "session_id": s.session_id,
                    "client_id": s.client_id,
                    "scopes": s.scope.split(),
                    "created": iso(s.created_at),
                    "last_used": iso(s.last_used_at),
                    "first_ip": "127.0.0.1",
                    "last_ip": "127.0.0.1",
                    "current": s is session,
                }
                for s in mine
                if not s.revoked
            ]
        return json_response(200, {"sessions": rows})

    def _profile(self, request: SimRequest) -> SimResponse:
        session = self.verify_access(request.header("authorization"))
        if session is None:
            return self._error("invalid_token", "access token is invalid", status=401)
        if not session.has_scope(PROFILE_SCOPE):
            return self._error("insufficient_scope", f"the token lacks scope {PROFILE_SCOPE}")
        body = {"iracing_name": self.name_of(session.cust_id), "iracing_cust_id": session.cust_id}
        return json_response(200, body)

    # -- tokens ------------------------------------------------------------------------

    def _issue(self, session: Session, now: float) -> SimResponse:
        """Caller holds the lock."""
        access = self._jwt(session, now)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = AccessToken(session, now + self.config.access_token_lifetime)
        self._refresh[refresh] = RefreshToken(session, now + self.config.refresh_token_lifetime)
        self._forget_expired(now)
        return json_response(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.config.access_token_lifetime,
                "refresh_token": refresh,
                "refresh_token_expires_in": self.config.refresh_token_lifetime,
                "scope": session.scope,
            },
            headers={"cache-control": "no-store"},
        )

    def _jwt(self, session: Session, now: float) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64(
            json.dumps(
                {
                    "session_id": session.session_id,
                    "iss": "https://oauth.iracing.com/oauth2",
                    "aud": ["data-server"],
                    "sub": str(session.cust_id),
                    "client_id": session.client_id,
                    "iat": int(now),
                    "exp": int(now + self.config.access_token_lifetime),
                    "jti": secrets.token_hex(8),
                    "scope": session.scope,
                    "iracing_cust_id": session.cust_id,
                }
            ).encode()
        )
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{b64(signature.digest())}"

    def verify_access(self, authorization: str | None) -> Session | None:
        """The session of a valid `Bearer` access token, or None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        with self.lock:
            record = self._access.get(token)
            now = self.clock.now()
            if record is None or record.session.revoked or record.expires_at <= now:
                return None
            record.session.last_used_at = now
            return record.session

    def revoke_all_refresh_tokens(self) -> int:
        """Chaos control: every outstanding refresh token becomes invalid."""
        with self.lock:
            count = 0
            for record in self._refresh.values():
                if not record.used and not record.revoked:
                    record.revoked = True
                    count += 1
            return count

    def expire_access_tokens(self) -> int:
        """Test control: every access token expires now (the next /data call answers 401)."""
        with self.lock:
            now = self.clock.now()
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)
            return len(self._access)

    def _forget_expired(self, now: float) -> None:
        if len(self._sessions) > 1000:
            self._sessions = {k: v for k, v in self._sessions.items() if not v.revoked}
        if len(self._access) > 1000:
            self._access = {k: v for k, v in self._access.items() if v.expires_at > now}
        if len(self._refresh) > 1000:
            self._refresh = {
                k: v for k, v in self._refresh.items() if v.expires_at > now and not v.used
            }

    def _find_password(self, username: str) -> str | None:
        wanted = username.strip().lower()
        for name, password in self.config.users.items():
            if name.strip().lower() == wanted:
                return password
        return None

    def _error(
        self,
        error: str,
        description: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> SimResponse:
        code = status or ERROR_STATUS.get(error, 400)
        self.count("rejections")
        self.count(f"error_{error}")
        return json_response(
            code,
            {
                "status": code,
                "status_reason": _STATUS_REASONS.get(code, "Error"),
                "error": error,
                "error_description": description,
                "error_uri": f"https://oauth.iracing.com/oauth2/book/error_{error}.html",
            },
            headers=headers,
        )
