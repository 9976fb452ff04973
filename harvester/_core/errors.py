"""Typed errors. Every message is one line a user can act on, and never carries a secret."""

from __future__ import annotations

from .run_status import RunStatus


class HarvesterError(Exception):
    """Base of every error harvester raises on purpose; `outcome` is the run status it means."""

    outcome: RunStatus = RunStatus.FAILED


class ConfigError(HarvesterError):
    """A setting, a key or a jobs file is wrong; retrying will not help."""


class AuthError(HarvesterError):
    """The OAuth session cannot produce a valid access token."""


class InvalidClient(AuthError):
    """The token endpoint rejected the client id or secret (`invalid_client`)."""


class PasswordGrantBlocked(AuthError):
    """A password login is not allowed now (back-off after `unauthorized_client`, or budget)."""

    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until


class NotLoggedIn(AuthError):
    """No stored session and no credentials to start one."""


class TokenKeyError(ConfigError):
    """The stored tokens cannot be decrypted with the configured key."""


class ApiError(HarvesterError):
    """The /data API answered something other than a usable document."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(ApiError):
    """400: the parameters are wrong; the server's message is kept."""


class Forbidden(ApiError):
    """403: the member may not see this (a private session, say); not retried."""

    outcome = RunStatus.FORBIDDEN


class NotFound(ApiError):
    """404: unknown endpoint or id; not retried."""

    outcome = RunStatus.NOT_FOUND


class RateLimited(ApiError):
    """429 answers kept coming after the bounded retries."""


class Maintenance(ApiError):
    """503 Site Maintenance, or the process-wide maintenance pause is holding."""

    outcome = RunStatus.MAINTENANCE

    def __init__(self, message: str, resume_at: float | None = None) -> None:
        super().__init__(message, 503)
        self.resume_at = resume_at


class BadCatalogue(ApiError):
    """/data/doc answered something that is no usable catalogue: not stored, the last good one
    stays in force."""


class ServerError(ApiError):
    """5xx, HTML pages, timeouts, resets or truncated bodies after the bounded retries."""


class IncompleteResult(ApiError):
    """A chunked result could not be fetched whole (a chunk failed, or rows are missing)."""


class Cancelled(HarvesterError):
    """The run was stopped (shutdown or its timeout) before it finished."""

    outcome = RunStatus.INTERRUPTED


class ReadOnlyViolation(ConfigError):
    """`harvester query` SQL tried to change the database or reach outside it."""


class LostActiveLock(HarvesterError):
    """The active service's lock connection is gone (PostgreSQL): another service may be
    active now, so this one writes nothing more."""
