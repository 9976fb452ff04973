"""One GET whose answer is bounded in size and time, whatever the server does.

The body is read as a stream and counted after decompression (a gzip bomb stops at the cap,
never inflated whole), the request has an overall deadline that a server dripping a byte at a
time cannot stretch (each read's timeout is only what is left of it), and the run's cancel token
is checked between reads, so a job's timeout or a shutdown ends a request in flight (a server
that sends nothing at all is cut by REQUEST_TIMEOUT).

A compressed body counts only when it decodes whole: every gzip member in turn (`cat a.gz b.gz`
is one body, as gzip(1) reads it), each checked against its CRC. A stream that ends inside a
member, fails its check or is followed by anything but zero padding is a failed transfer
(`BrokenEncoding`, an httpx transport error, so it is retried like a dropped connection): a
truncated body is never stored as a complete one.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from .._core.cancel import CancelToken
from .._core.errors import ApiError


class BodyTooLarge(ApiError):
    """The answer is larger than HARVESTER_MAX_DOCUMENT_BYTES."""


class DeadlineExceeded(ApiError):
    """The answer did not arrive whole within HARVESTER_REQUEST_DEADLINE_SECONDS."""


class BrokenEncoding(httpx.DecodingError):
    """A compressed body that does not decode whole (cut short, a failed CRC, trailing bytes):
    a failed transfer, retried as one."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    deadline_seconds: float
    read_timeout: float  # REQUEST_TIMEOUT: the longest silence between two reads


def bounded_get(
    http: httpx.Client,
    url: str | httpx.URL,
    label: str,
    limits: Limits,
    cancel: CancelToken,
    **options: Any,
) -> httpx.Response:
    """GET `url` and return the response with its whole (decoded) body loaded.

    Raises BodyTooLarge, DeadlineExceeded, Cancelled, or httpx's transport errors (among them
    BrokenEncoding)."""
    deadline = time.monotonic() + limits.deadline_seconds
    headers = {**options.pop("headers", {}), "Accept-Encoding": "gzip, identity"}
    timeout = _timeout(limits, deadline, cancel)
    with http.stream("GET", url, headers=headers, timeout=timeout, **options) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise _too_large(label, limits)
        if response.is_stream_consumed:  # an in-memory transport: the body is already here
            if len(response.content) > limits.max_bytes:
                raise _too_large(label, limits)
            return response
        decoder = _decoder(response.headers.get("content-encoding", ""), label)
        body = bytearray()
        stream = response.iter_raw()  # each network read as it comes (no buffering)
        while True:
            cancel.check()
            if time.monotonic() > deadline:
                raise _late(label, limits)
            try:
                raw = next(stream)
            except StopIteration:
                break
            except httpx.ReadTimeout:
                cancel.check()  # the job's timeout cut the read: the run ends with that reason
                if time.monotonic() >= deadline - 0.01:
                    raise _late(label, limits) from None
                raise
            body += raw if decoder is None else decoder.inflate(raw, limits.max_bytes - len(body))
            if len(body) > limits.max_bytes:
                raise _too_large(label, limits)
        if decoder is not None:
            body += decoder.finish()
            if len(body) > limits.max_bytes:
                raise _too_large(label, limits)
        kept = [  # as received (a header that is not ASCII could not be rebuilt from text)
            (name, value)
            for name, value in response.headers.raw
            if name.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=kept, content=bytes(body), request=response.request
        )


class Inflater:
    """A gzip body (every member, in turn) or a deflate one, decoded as it arrives, with its
    output bounded per call; `finish` says whether the stream ended whole."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._gzip = encoding == "gzip"
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
        self._member = zlib.decompressobj(self._wbits)
        self._fed = False  # a member has begun (an empty body is an empty body)
        self._padding = False  # gzip(1) allows zero bytes after the last member, nothing else

    def inflate(self, data: bytes, room: int) -> bytes:
        """The bytes `data` decodes to, stopping once past `room` (the caller then refuses the
        body as too large); raises BrokenEncoding for a stream that cannot be right."""
        out = bytearray()
        while data and len(out) <= room:
            if self._padding:
                if data.strip(b"\0"):
                    raise self._broken("bytes after the last member that are not gzip")
                return bytes(out)
            if self._member.eof:
                if not data.strip(b"\0"):
                    self._padding = True
                    continue
                if not self._gzip:
                    raise self._broken("bytes after the end of the compressed stream")
                self._member = zlib.decompressobj(self._wbits)  # the next member
            self._fed = True
            try:
                out += self._member.decompress(data, room - len(out) + 1)
            except zlib.error as exc:
                raise self._broken(str(exc).rsplit(": ", 1)[-1]) from None
            data = self._member.unused_data if self._member.eof else self._member.unconsumed_tail
        return bytes(out)

    def finish(self) -> bytes:
        """What is left to decode; BrokenEncoding unless the stream ended with a member."""
        try:
            tail = self._member.flush()
        except zlib.error as exc:
            raise self._broken(str(exc).rsplit(": ", 1)[-1]) from None
        if self._fed and not self._member.eof:
            raise BrokenEncoding(
                f"a {self.encoding} body cut short (it ends inside a compressed member)"
            )
        return tail

    def _broken(self, why: str) -> BrokenEncoding:
        return BrokenEncoding(f"a corrupt {self.encoding} body ({why})")


def _decoder(encoding: str, label: str) -> Inflater | None:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return Inflater("gzip")
    if name == "deflate":
        return Inflater("deflate")
    raise ApiError(f"{label} came with an encoding harvester does not read ({name})")


def _timeout(limits: Limits, deadline: float, cancel: CancelToken) -> httpx.Timeout:
    """Each read waits at most REQUEST_TIMEOUT, what is left of the request's deadline and what
    is left of the job's timeout (so a server gone silent cannot hold a run past its timeout)."""
    read = min(limits.read_timeout, deadline - time.monotonic())
    job_left = cancel.seconds_left()
    if job_left is not None:
        read = min(read, job_left)
    read = max(read, 0.01)
    return httpx.Timeout(read, connect=min(read, 10.0))


def _too_large(label: str, limits: Limits) -> BodyTooLarge:
    return BodyTooLarge(
        f"{label} is larger than {limits.max_bytes} bytes (HARVESTER_MAX_DOCUMENT_BYTES)"
    )


def _late(label: str, limits: Limits) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{label} did not arrive within {limits.deadline_seconds:g} s "
        "(HARVESTER_REQUEST_DEADLINE_SECONDS)"
    )
