"""Pure redaction: what must never be written anywhere (logs, errors, the archive).

Two kinds of secrets are removed: values harvester knows (the password, the client secret, their
masked and URL-encoded forms, every token it obtained), registered at run time; and shapes that
are secret whatever their value (Bearer credentials, JWTs, `Authorization` headers, token and
password fields, pre-signed URL query strings).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from .text import storable

REDACTED = "[REDACTED]"

# The query string of a pre-signed S3/CloudFront URL (SigV4 or SigV2): a short-lived credential.
# Inside JSON text `&` may be escaped as \u0026, so anything up to a quote or a space is taken.
SIGNED_QUERY = re.compile(
    r"\?(?=[^\"'\s<>]*?(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|"
    r"AWSAccessKeyId|Signature|Key-Pair-Id)=)[^\"'\s<>]*"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (SIGNED_QUERY, "?" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?)(?!\[REDACTED\])[^'\"\s,}\]]+"),
        r"\1" + REDACTED,
    ),
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_)?token|password|client_secret|secret)="
            r"(?!\[REDACTED\])[^&\s'\"]+"
        ),
        r"\1=" + REDACTED,
    ),
    (
        re.compile(
            r"(?i)(['\"](?:access_token|refresh_token|id_token|password|client_secret)['\"]\s*:\s*)"
            r"(['\"])(?:(?!\2).)*\2"
        ),
        r"\1\2" + REDACTED + r"\2",
    ),
)

_SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "password",
        "client_secret",
        "secret",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "masked_password",
        "masked_secret",
    }
)


class SecretRegistry:
    """Known secret values. Configuration secrets stay; tokens are kept for the last 64."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fixed: set[str] = set()
        self._tokens: deque[str] = deque(maxlen=64)
        self._snapshot: tuple[str, ...] = ()

    def add(self, value: str | None, *, token: bool = False) -> None:
        if not value or len(value) < 4:
            return
        forms = {value, quote_plus(value), quote(value, safe="")}
        with self._lock:
            for form in forms:
                if token:
                    if form not in self._tokens:
                        self._tokens.append(form)
                else:
                    self._fixed.add(form)
            # longest first, so a secret that contains another is cut whole
            self._snapshot = tuple(sorted({*self._fixed, *self._tokens}, key=len, reverse=True))

    def values(self) -> tuple[str, ...]:
        return self._snapshot

    def clear(self) -> None:
        with self._lock:
            self._fixed.clear()
            self._tokens.clear()
            self._snapshot = ()


SECRETS = SecretRegistry()


def register_secret(value: str | None) -> None:
    """A configuration secret (password, client secret, their masked forms)."""
    SECRETS.add(value)


def register_token(value: str | None) -> None:
    """A token obtained at run time."""
    SECRETS.add(value, token=True)


def redact_text(text: str, known: Iterable[str] | None = None) -> str:
    """Remove known secrets and secret-shaped substrings from a string."""
    for secret in SECRETS.values() if known is None else known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Redact strings anywhere inside dicts, lists and tuples; sensitive keys lose their value."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and key.lower() in _SENSITIVE_KEYS and val
                else redact(val)
            )
            for key, val in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    # anything else would be rendered with str() or repr() later: render it now, redacted
    return redact_text(str(value))


# Query parameters that make a URL pre-signed; such a query is cut from URL values in documents.
_SIGNATURE_PARAMETERS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "awsaccesskeyid",
        "signature",
        "key-pair-id",
    }
)
# A signed URL needs a query, so a `?` in its value: in JSON text either a `?` or its escape
# `\u003f` (hex digits in either case; `\u` itself must be lower case), in CSV a `?`. Found
# with str.find, not a regular expression: a regex tries every position of the text in turn.
_QUERY_MARKS = ("?", "\\u003f", "\\u003F")
_KEY_COLON = re.compile(r"\s*:")
_CSV_FIELD = re.compile(r'(?<![^,\r\n])(?:"(?:[^"]|"")*"|[^,\r\n"][^,\r\n]*)')


def cut_signed_query(value: str) -> str | None:
    """The URL (or file name) without its query when `value` is one whole pre-signed URL; None
    for anything else, e.g. a sentence that merely contains one."""
    if "?" not in value or any(ch.isspace() or ch in "\"'<>" for ch in value):
        return None
    head, _, query = value.partition("?")
    names = {pair.split("=", 1)[0].lower() for pair in query.split("#", 1)[0].split("&")}
    return head if names & _SIGNATURE_PARAMETERS else None


def strip_signatures(text: str, content_type: str = "application/json") -> str:
    """A received document without the pre-signed queries of its URL values (for the archive).

    Only whole string values of the JSON (whole cells of a CSV) that are signed URLs change;
    every other byte stays as received, so the result is still valid JSON (the same CSV), and two
    polls that differ only by their signatures become the same text (and the same sha256).

    Most documents hold no query mark at all: two substring searches (C speed) tell, and the
    text is returned as is (the search for `\\u003` also finds `\\u003c`, an escaped `<`; the
    marks themselves are then looked for). Otherwise only the JSON strings around a query mark
    are decoded; CSV, rare and small, is cut cell by cell.
    """
    if content_type == "text/csv":
        if "?" not in text:
            return text
        return _CSV_FIELD.sub(_csv_cell, text)
    if "?" not in text and "\\u003" not in text:
        return text
    return _strip_json(text)


def _strip_json(text: str) -> str:
    """The cut of every JSON string value holding a query mark, the rest of `text` as is.

    In valid JSON a `?` (or a backslash) only occurs inside a string, which ends at the first
    unescaped quote after it and begins at the nearest quote before it, unless that quote is
    escaped: then the value holds a `"` and cannot be a URL. Each string is looked at once,
    whatever the number of marks in it.
    """
    pieces: list[str] = []
    kept = 0  # text[:kept] is in pieces (or unchanged, while pieces is empty)
    looked = 0  # the strings before this position have been looked at
    for at in _query_marks(text):
        if at < looked:
            continue  # a second mark in a string already looked at
        closing = _closing_quote(text, at)
        if closing < 0:
            break  # no string ends after this mark: not JSON from here on
        looked = closing + 1
        opening = text.rfind('"', 0, at)
        if opening < 0 or _escaped(text, opening) or _KEY_COLON.match(text, looked):
            continue  # a value holding a quote, or an object key: never cut
        token = text[opening:looked]
        cut = _cut_json_token(token)
        if cut != token:
            pieces += (text[kept:opening], cut)
            kept = looked
    if not pieces:
        return text
    pieces.append(text[kept:])
    return "".join(pieces)


def _closing_quote(text: str, at: int) -> int:
    """The first unescaped quote at or after `at` (-1 if none)."""
    closing = text.find('"', at)
    while closing >= 0 and _escaped(text, closing):
        closing = text.find('"', closing + 1)
    return closing


def _query_marks(text: str) -> list[int]:
    """Where `text` holds a query mark, in order."""
    found = []
    for mark in _QUERY_MARKS:
        at = text.find(mark)
        while at >= 0:
            found.append(at)
            at = text.find(mark, at + 1)
    return sorted(found)


def _escaped(text: str, at: int) -> bool:
    """Whether the character at `at` follows an odd run of backslashes."""
    run = at
    while run > 0 and text[run - 1] == "\\":
        run -= 1
    return (at - run) % 2 == 1


def _cut_json_token(token: str) -> str:
    """A JSON string token, its signed query cut when its value is one whole signed URL."""
    try:
        value = json.loads(token)
    except ValueError:
        return token  # not a JSON string (the text is not valid JSON): nothing to decode
    cut = cut_signed_query(value) if isinstance(value, str) else None
    if cut is None:
        return token
    dumped = json.dumps(cut, ensure_ascii=False)
    return dumped if storable(dumped) else json.dumps(cut)


def _csv_cell(match: re.Match[str]) -> str:
    cell = match.group(0)
    quoted = cell.startswith('"')
    cut = cut_signed_query(cell[1:-1].replace('""', '"') if quoted else cell)
    if cut is None:
        return cell
    return '"' + cut.replace('"', '""') + '"' if quoted else cut
