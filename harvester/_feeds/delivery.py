"""Sending one message to one Apprise target, and what became of it.

Apprise knows the targets (Discord, Slack, Telegram, Matrix, ntfy, email, `json://` and
`form://` webhooks and ~100 more) but answers a send with True or False only. What the sender
needs besides (the HTTP status, a 429's `retry_after`, Discord's rate-limit headers) is taken
from the one place every HTTP target goes through: `requests`' transport adapter, wrapped here
while, and only where (a context variable of the sending thread), a send is in progress. A 429
is turned into a transport error at once, so that no plugin sleeps or retries on its own:
the sender decides when to try again, and a sleeping plugin never holds a worker.

Time is bounded: a new plugin object per send (so no plugin throttles on what an earlier send
left it), connect and read timeouts set on it. Apprise's own logger is silenced: its debug
lines print URLs, which carry the targets' keys.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import apprise
import requests
from apprise.manager_plugins import NotificationManager
from requests.adapters import HTTPAdapter

from .._core.redact import redact_text, register_secret
from .._core.retry import parse_retry_after

CONNECT_SECONDS = 5.0
READ_SECONDS = 10.0  # per read of the answer: a send takes at most about both
MAX_WAIT = 600.0  # the longest a target may ask us to wait (Retry-After, retry_after)
DEFAULT_429_WAIT = 5.0
RETRY_BASE = 2.0  # the back-off of every send that did not go through, feeds' and alerts'
RETRY_CAP = 120.0

with warnings.catch_warnings():
    # Apprise's email plugin imports `imghdr`, deprecated in Python 3.11 and 3.12: imported
    # once here, quietly, so that its warning (Apprise's to fix) never reaches a user or a send
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import imghdr  # noqa: F401

_logger = logging.getLogger("apprise")
_logger.propagate = False  # its debug lines carry URLs, and URLs carry keys
_logger.addHandler(logging.NullHandler())
_logger.setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True)
class Answer:
    """What an HTTP target answered (one request of a send)."""

    status: int
    retry_after: float | None = None
    remaining: float | None = None  # X-RateLimit-Remaining
    reset_after: float | None = None  # X-RateLimit-Reset-After (seconds)


@dataclass(frozen=True)
class Outcome:
    """What became of one send: taken, to be tried again (after `wait`, if the target said),
    or refused for good (this message will never be taken: a 4xx)."""

    taken: bool
    reason: str = ""
    wait: float | None = None  # the target's own word on when to try again
    refused: bool = False
    pause: float | None = None  # taken, but the target's budget is spent for this long

    @property
    def rate_limited(self) -> bool:
        return self.reason.startswith("HTTP 429")


class _RateLimited(requests.exceptions.RequestException):
    """Raised by the seam on a 429 so that the plugin gives up at once (no sleep, no retry)."""


_answers: contextvars.ContextVar[list[Answer] | None] = contextvars.ContextVar(
    "harvester_feed_answers", default=None
)
_installed = threading.Lock()
_original_send: Callable[..., Any] | None = None


def _install_seam() -> None:
    global _original_send
    with _installed:
        if _original_send is not None:
            return
        original = HTTPAdapter.send

        def send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = original(self, request, *args, **kwargs)
            answers = _answers.get()
            if answers is not None:
                answer = answer_of(response.status_code, response.headers, _body(response))
                answers.append(answer)
                if response.status_code == 429:
                    raise _RateLimited("HTTP 429")
            return response

        HTTPAdapter.send = send  # type: ignore[method-assign]
        _original_send = original


def _body(response: Any) -> bytes:
    if response.status_code != 429:
        return b""
    try:
        return bytes(response.content[:4096])
    except Exception:
        return b""


def answer_of(status: int, headers: Any, body: bytes, now: float | None = None) -> Answer:
    """An HTTP answer's status and rate-limit words: Discord's JSON `retry_after` (seconds),
    `Retry-After` (seconds or an HTTP date), `X-RateLimit-Remaining`/`-Reset-After`. Pure."""
    retry_after = None
    if body:
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("retry_after"), int | float):
                retry_after = float(parsed["retry_after"])
        except ValueError:
            pass
    if retry_after is None:
        retry_after = _seconds(headers.get("Retry-After"), now)
    return Answer(
        status,
        _bounded(retry_after),
        _number(headers.get("X-RateLimit-Remaining")),
        _bounded(_number(headers.get("X-RateLimit-Reset-After"))),
    )


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _seconds(value: str | None, now: float | None) -> float | None:
    return parse_retry_after(value, time.time() if now is None else now)


def _bounded(seconds: float | None) -> float | None:
    return None if seconds is None else min(max(seconds, 0.0), MAX_WAIT)


def outcome_of(notified: bool, answers: list[Answer]) -> Outcome:
    """Classify a send from Apprise's True/False and the HTTP answers seen. Pure."""
    last = answers[-1] if answers else None
    if notified and (last is None or last.status < 300):
        pause = None
        if last is not None and last.remaining is not None and last.remaining <= 0:
            pause = last.reset_after
        return Outcome(True, pause=pause)
    if last is None:
        return Outcome(False, "no answer: the target could not be reached or did not take it")
    if last.status == 429:
        return Outcome(False, "HTTP 429 (rate limited)", wait=last.retry_after or DEFAULT_429_WAIT)
    if last.status >= 500 or last.status == 408:
        return Outcome(False, f"HTTP {last.status}", wait=last.retry_after)
    if last.status >= 400:
        return Outcome(False, f"HTTP {last.status}", refused=True)
    return Outcome(False, f"HTTP {last.status}")


@functools.cache
def known_schemes() -> frozenset[str]:
    """The schemes of Apprise's plugins (loaded on first use)."""
    return frozenset(NotificationManager().schemas())  # type: ignore[no-untyped-call]


def register_url_secrets(url: str) -> None:
    """A target URL and every part of it that could be a key: redacted wherever they appear
    (a plugin builds the URL it posts to from the parts, in another form)."""
    register_secret(url)
    parts = urlsplit(url)
    for piece in (parts.username, parts.password, *parts.path.split("/")):
        if piece and len(piece) >= 6:
            register_secret(piece)
    for _, value in parse_qsl(parts.query):
        if len(value) >= 6:
            register_secret(value)
    if parts.netloc and parts.scheme not in ("json", "jsons", "form", "forms", "http", "https"):
        register_secret(
            parts.hostname
        )  # discord://ID/TOKEN, tgram://BOTTOKEN/CHAT: the host is a key


def webhook_url(url: str) -> str:
    """HARVESTER_ALERT_WEBHOOK as an Apprise URL: an Apprise URL as it is; a Discord or Slack
    webhook's https URL as Apprise recognises it; any other http(s) URL as a JSON webhook whose
    body is `{"text": ...}` (Slack, Mattermost, Rocket.Chat and their kind)."""
    if not url.startswith(("http://", "https://")):
        return url
    if apprise.Apprise.instantiate(url) is not None:
        return url
    scheme = "jsons" if url.startswith("https://") else "json"
    rest = url.split("://", 1)[1]
    mapping = ":message=text&:version=&:title=&:type=&:attachments="
    return f"{scheme}://{rest}{'&' if '?' in rest else '?'}{mapping}"


def check_url(url: str) -> str | None:
    """Why `url` is not a target Apprise can send to, or None. Never quotes the URL."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        return "not a URL (an Apprise URL looks like discord://ID/TOKEN or json://host/path)"
    if scheme not in known_schemes() and scheme not in ("http", "https"):
        return f"unknown target scheme {scheme!r} (Apprise's are listed at appriseit.com)"
    if apprise.Apprise.instantiate(webhook_url(url)) is None:
        return f"not a valid {scheme}:// URL for Apprise (a part is missing or malformed)"
    return None


@dataclass
class Sender:
    """Sends to one target URL with bounded time; reports an `Outcome`. Thread-safe."""

    url: str = field(repr=False)
    connect_seconds: float = CONNECT_SECONDS
    read_seconds: float = READ_SECONDS

    def __post_init__(self) -> None:
        register_url_secrets(self.url)
        _install_seam()
        self._apprise_url = webhook_url(self.url)

    def send(self, body: str, title: str = "") -> Outcome:
        plugin = apprise.Apprise.instantiate(self._apprise_url)
        if plugin is None:
            return Outcome(False, "not a usable Apprise URL", refused=True)
        plugin.socket_connect_timeout = self.connect_seconds
        plugin.socket_read_timeout = self.read_seconds
        answers: list[Answer] = []
        token = _answers.set(answers)
        try:
            notified = bool(plugin.notify(body=body, title=title))
        except Exception as exc:  # a plugin's own bug must not stop the sender
            return Outcome(False, redact_text(f"the target's plugin failed: {type(exc).__name__}"))
        finally:
            _answers.reset(token)
        return outcome_of(notified, answers)
