"""The session's tokens as a value: absolute expiries, validity checks, the stored form.

Pure data (no I/O): the endpoint parses answers into it, the store encrypts it, the session
decides with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Tokens:
    """One OAuth session's tokens with absolute expiries (epoch seconds, UTC)."""

    access_token: str = field(repr=False)
    access_expires_at: float
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: float | None
    scope: str | None
    obtained_at: float
    last_refresh_at: float | None = None

    def access_valid(self, now: float, buffer: float) -> bool:
        """Valid for more than `buffer` seconds; the buffer is at most half the token's
        lifetime, so a short-lived token is not refreshed at every request."""
        lifetime = self.access_expires_at - (self.last_refresh_at or self.obtained_at)
        margin = min(buffer, max(lifetime, 0.0) / 2)
        return bool(self.access_token) and now < self.access_expires_at - margin

    def refresh_valid(self, now: float) -> bool:
        return bool(self.refresh_token) and (
            self.refresh_expires_at is None or now < self.refresh_expires_at
        )

    def without_refresh(self) -> Tokens:
        return replace(self, refresh_token=None, refresh_expires_at=None)

    def access_expired(self) -> Tokens:
        return replace(self, access_expires_at=0.0)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Tokens:
        """The stored form read back; a time no clock can hold (stored before answers were
        checked: NaN, an infinity, 1e300) reads as long past, so the token is renewed."""
        values = json.loads(data)
        for name in ("access_expires_at", "refresh_expires_at", "obtained_at", "last_refresh_at"):
            if values.get(name) is not None:
                values[name] = sane_time(values[name])
        return cls(**values)


LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second a date can print


def sane_time(value: float) -> float:
    """An epoch time fit to compare and print: NaN, infinities and times past year 9999
    become 0.0 (long past)."""
    return value if math.isfinite(value) and -LATEST_TIME <= value <= LATEST_TIME else 0.0


def identity_of(client_id: str, username: str) -> str:
    """Whose session a row holds, without storing who: sha256 of client id and username."""
    return hashlib.sha256(f"{client_id}\n{username.strip().lower()}".encode()).hexdigest()
