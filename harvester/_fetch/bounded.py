"""One GET whose answer is bounded in size and time, whatever the server does.

The body is read as a stream and counted after decompression (a gzip bomb stops at the cap,
never inflated whole), the request has an overall deadline that a server dripping a byte at a
time cannot stretch (each read's timeout is only what is left of it), and the run's cancel token
is checked between reads, so a job's timeout or a shutdown ends a request in flight (a server
that sends nothing at all is cut by REQUEST_TIMEOUT).
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


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    deadline_seconds: float
    read_timeout: float  # REQUEST_TIMEOUT: the longest silence between two reads


def bounded_get(
    http: httpx.Client,
    url: str,
    label: str,
    limits: Limits,
    cancel: CancelToken,
    **options: Any,
) -> httpx.Response:
    """GET `url` and return the response with its whole (decoded) body loaded.

    Raises BodyTooLarge, DeadlineExceeded, Cancelled, or httpx's transport errors."""
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
            _append(body, raw, decoder, label, limits)
        if decoder is not None:
            body += decoder.flush()
            if len(body) > limits.max_bytes:
                raise _too_large(label, limits)
        kept = {
            k: v
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return httpx.Response(
            response.status_code, headers=kept, content=bytes(body), request=response.request
        )


def _append(
    body: bytearray,
    raw: bytes,
    decoder: Any,
    label: str,
    limits: Limits,
) -> None:
    if decoder is None:
        body += raw
    else:
        data = raw
        while data:
            body += decoder.decompress(data, limits.max_bytes - len(body) + 1)
            if len(body) > limits.max_bytes:
                break
            data = decoder.unconsumed_tail
    if len(body) > limits.max_bytes:
        raise _too_large(label, limits)


def _decoder(encoding: str, label: str) -> Any:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
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
