"""The OAuth session's persistence: tokens encrypted in the database, and the password-grant
bookkeeping shared by every process that opens the same database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from .._config.settings import Settings
from .._core.clock import iso_seconds, parse_iso
from .._core.errors import TokenKeyError
from .._core.redact import redact_text, register_token
from .._core.retry import MAX_RETRY_AFTER
from .._store import db
from .._store.models import AuthEvent, AuthState, OAuthToken
from .keys import KeyRing, load_key_source, rotate_keys
from .tokens import Tokens

SESSION_ROW = 1
# the longest pause of token requests kept (a server's Retry-After is cut to this)
MAX_PAUSE = MAX_RETRY_AFTER + 3600.0
NOT_SENT = "not_sent"  # the outcome of a login whose connection failed before it was sent
# how long a grant waits for another process's (the token endpoint's answer bounds that one)
GRANT_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class PasswordGrantState:
    used_last_hour: int
    oldest_in_hour: float | None  # the latest the oldest counted login may have been sent
    blocked_until: float | None
    block_reason: str | None


class TokenStore:
    """Reads and writes the encrypted session; callers hold `locked()` around a grant."""

    def __init__(
        self,
        engine: Engine,
        identity: str,
        keyring: Callable[[bool], KeyRing | None],
    ) -> None:
        self.engine = engine
        self.identity = identity
        self._keyring = keyring  # called with create=True only when something must be encrypted

    @contextmanager
    def locked(self) -> Iterator[Connection]:
        """A write transaction under the database's write lock."""
        with db.write(self.engine) as connection:
            yield connection

    @contextmanager
    def granting(self) -> Iterator[None]:
        """The grant lock: one token grant at a time across threads and processes, held while a
        grant waits for the token endpoint; not the write lock, so writers go on meanwhile."""
        with db.grant_lock(self.engine, GRANT_WAIT_SECONDS):
            yield

    @contextmanager
    def saving(self) -> Iterator[Connection]:
        """A short transaction for what a grant records (its outcome, the new tokens), under
        the grant lock: it takes no write lock on PostgreSQL (`db.write_own`), so rotated
        tokens are committed the moment they arrive, however long another writer holds it."""
        with db.write_own(self.engine) as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with db.read(self.engine) as connection:
            yield connection

    def load(self, connection: Connection | None = None) -> Tokens | None:
        """The stored tokens of this identity, or None (none stored, or another identity's)."""
        statement = select(OAuthToken.identity, OAuthToken.ciphertext).where(
            OAuthToken.id == SESSION_ROW
        )
        if connection is None:
            with db.read(self.engine) as conn:
                row = conn.execute(statement).first()
        else:
            row = connection.execute(statement).first()
        if row is None or row.identity != self.identity:
            return None
        keyring = self._keyring(False)
        if keyring is None:
            raise TokenKeyError(
                "an OAuth session is stored but its key is missing: restore the key file or set "
                "HARVESTER_KEY, or run `harvester auth logout` then `harvester auth login`"
            )
        tokens = Tokens.from_bytes(keyring.decrypt(row.ciphertext))
        register_token(tokens.access_token)
        register_token(tokens.refresh_token)
        return tokens

    def has_foreign_session(self, connection: Connection | None = None) -> bool:
        """True when the stored session belongs to another client id or username."""
        statement = select(OAuthToken.identity).where(OAuthToken.id == SESSION_ROW)
        with db.read(self.engine) if connection is None else _same(connection) as conn:
            identity = conn.execute(statement).scalar()
        return identity is not None and identity != self.identity

    def save(self, connection: Connection, tokens: Tokens, now: float) -> None:
        keyring = self._keyring(True)
        assert keyring is not None
        ciphertext = keyring.encrypt(tokens.to_bytes())
        db.upsert(
            connection,
            OAuthToken,
            {"id": SESSION_ROW},
            {"identity": self.identity, "ciphertext": ciphertext, "updated_at": now},
        )

    def delete(self, connection: Connection) -> bool:
        result = connection.execute(delete(OAuthToken).where(OAuthToken.id == SESSION_ROW))
        return bool(result.rowcount)

    def record_event(
        self,
        connection: Connection,
        kind: str,
        outcome: str,
        now: float,
        request_id: str | None = None,
    ) -> int:
        result = connection.execute(
            insert(AuthEvent).values(
                at=iso_seconds(now),
                kind=kind,
                outcome=outcome,
                request_id=request_id,
                pid=os.getpid(),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update_event(
        self, connection: Connection, event_id: int, outcome: str, request_id: str | None
    ) -> None:
        connection.execute(
            update(AuthEvent)
            .where(AuthEvent.id == event_id)
            .values(outcome=outcome, request_id=request_id)
        )

    def password_grant_state(self, connection: Connection, now: float) -> PasswordGrantState:
        """Logins sent in the last hour (an attempt that never left counts for nothing), and
        the pause in force.

        Attempts are stored to the second (`2026-11-28T06:47:00Z`, as every time is), so one
        stored as second S was sent in [S, S+1): it counts while S >= the second an hour ago
        (up to a second longer than the hour, never shorter), and the budget frees at S+3601.
        ISO text of one form compares as the times it names."""
        count, oldest = connection.execute(
            select(func.count(), func.min(AuthEvent.at)).where(
                AuthEvent.kind == "password_grant",
                AuthEvent.at >= iso_seconds(now - 3600),
                AuthEvent.outcome != NOT_SENT,
            )
        ).one()
        state = connection.execute(
            select(AuthState.password_blocked_until, AuthState.block_reason).where(
                AuthState.id == SESSION_ROW
            )
        ).first()
        blocked_until = state.password_blocked_until if state else None
        if blocked_until is not None and not now - 1 < blocked_until <= now + MAX_PAUSE:
            blocked_until = None  # no pause is ever written this long: it is not ours to keep
        return PasswordGrantState(
            used_last_hour=int(count),
            oldest_in_hour=parse_iso(oldest) + 1 if oldest is not None else None,
            blocked_until=blocked_until if blocked_until and blocked_until > now else None,
            block_reason=state.block_reason if state and blocked_until else None,
        )

    def block_password_grants(self, connection: Connection, until: float, reason: str) -> None:
        """Pause token requests until `until` (a pause already in force is not extended)."""
        db.upsert(
            connection,
            AuthState,
            {"id": SESSION_ROW},
            {"password_blocked_until": until, "block_reason": redact_text(reason)[:300]},
            only_if=or_(
                AuthState.password_blocked_until.is_(None),
                AuthState.password_blocked_until < until,
            ),
        )

    def logged_out(self, connection: Connection) -> bool:
        """True after `harvester auth logout`, until the next `harvester auth login`."""
        at = connection.execute(
            select(AuthState.logged_out_at).where(AuthState.id == SESSION_ROW)
        ).scalar()
        return at is not None

    def set_logged_out(self, connection: Connection, at: float | None) -> None:
        db.upsert(connection, AuthState, {"id": SESSION_ROW}, {"logged_out_at": at})

    def count_events(self, kind: str) -> int:
        """Every attempt of this kind ever recorded."""
        with db.read(self.engine) as conn:
            return int(
                conn.execute(select(func.count()).where(AuthEvent.kind == kind)).scalar_one()
            )


@contextmanager
def _same(connection: Connection) -> Iterator[Connection]:
    yield connection


def rotate_encryption(settings: Settings, engine: Engine) -> str:
    """Re-encrypt every stored secret with the newest key, all or nothing; say what was done.
    A stored session without any key is an error, not "nothing to rotate"."""
    if load_key_source(settings, create=False) is None:
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(OAuthToken)).scalar_one()
        if stored:
            raise TokenKeyError(
                "a session is stored but no encryption key was found (HARVESTER_KEY or the key "
                "file): it can be neither read nor rotated; restore the key, or `harvester auth "
                "logout` and log in again"
            )
    return rotate_keys(settings, lambda keyring: _reencrypt(engine, keyring))


def _reencrypt(engine: Engine, keyring: KeyRing) -> int:
    # under the grant lock too: a refresh saving new tokens meanwhile would be overwritten
    with db.grant_lock(engine, GRANT_WAIT_SECONDS), db.write(engine) as conn:
        rows = conn.execute(select(OAuthToken.id, OAuthToken.ciphertext)).all()
        for row in rows:
            conn.execute(
                update(OAuthToken)
                .where(OAuthToken.id == row.id)
                .values(ciphertext=keyring.rotate(row.ciphertext))
            )
    return len(rows)
