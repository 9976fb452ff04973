"""The simulator in-process, as an httpx transport: fast tests without a socket, with faults
(a reset connection, a truncated body) raised exactly as httpx raises them off the wire."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from .app import Simulator
from .messages import SimRequest


class _TruncatedStream(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[: len(self.body) // 2]
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body (incomplete read)"
        )


class SimulatorTransport(httpx.BaseTransport):
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sim_request = SimRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode("ascii"),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.read(),
        )
        response = self.simulator.handle(sim_request)
        if response.fault == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        headers = dict(response.headers)
        headers["content-length"] = str(len(response.body))
        if response.fault == "truncate":
            return httpx.Response(
                response.status,
                headers=headers,
                stream=_TruncatedStream(response.body),
                request=request,
            )
        return httpx.Response(
            response.status, headers=headers, content=response.body, request=request
        )
