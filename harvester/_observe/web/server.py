"""The HTTP endpoint: stdlib ThreadingHTTPServer on its own thread, GET only.

Routes: /healthz and /readyz (open to all: systemd, a liveness probe or a load balancer asks
them), /metrics, / (the dashboard), /api/status, /api/runs. On a non-loopback address every
other route needs HARVESTER_HTTP_TOKEN (on loopback too, when it is set), as
`Authorization: Bearer TOKEN` (scripts, Prometheus) or as the password of HTTP Basic auth (a
browser asks; any user name).
Requests are served from the server's threads, reading the service's memory and the
database: a run never waits for them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import io
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ..._core.errors import ConfigError, HarvesterError
from ..._core.logs import get_logger
from ..._core.redact import redact_text
from .hosts import host_allowed, host_name, is_loopback

__all__ = ["WebServer", "authorised", "check_address", "host_allowed", "is_loopback"]

log = get_logger("harvester.web")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}


OPEN_PATHS = ("/healthz", "/readyz")  # no token: probes and load balancers ask them

REQUEST_HEAD_SECONDS = 10.0  # a client has this long to send its request line and headers
SEND_SECONDS = 15.0  # an answer not taken in this long is dropped
MAX_REQUEST_LINE = 8 * 1024  # beyond: 414
MAX_HEAD_BYTES = 64 * 1024  # the request line and headers; beyond: 431


class Pages(Protocol):
    """What the endpoint serves; the service's Watch provides it."""

    def healthz(self) -> tuple[int, dict[str, Any]]: ...

    def readyz(self) -> tuple[int, dict[str, Any]]: ...

    def metrics_text(self) -> tuple[bytes, str]: ...

    def dashboard(self) -> str: ...

    def api_status(self) -> dict[str, Any]: ...

    def api_runs(self, query: dict[str, str]) -> list[dict[str, Any]]: ...


def check_address(address: tuple[str, int], token: str) -> None:
    """Refuse to serve beyond this machine without a token (ConfigError naming the setting)."""
    if not is_loopback(address[0]) and not token:
        raise ConfigError(
            f"HARVESTER_HTTP is {address[0]}:{address[1]}, which is not a loopback address: "
            "set HARVESTER_HTTP_TOKEN (every path but /healthz and /readyz then needs it), or "
            "serve on 127.0.0.1"
        )


def authorised(header: str | None, token: str) -> bool:
    """A Bearer token or a Basic password equal to `token` (compared in constant time)."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode(), token.encode())


class _HeadTooLarge(http.client.HTTPException):
    """The request line and headers passed MAX_HEAD_BYTES (parse_request answers 431)."""


class _HeadReader(io.RawIOBase):
    """The connection's reads under the request head's deadline and size cap: a client that
    trickles a byte now and then is cut off at the deadline, not at a timeout per read."""

    def __init__(self, sock: socket.socket, monotonic: Callable[[], float]) -> None:
        super().__init__()
        self._sock = sock
        self._monotonic = monotonic
        self.deadline = math.inf
        self.received = 0  # bytes of this request's head read from the socket

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - self._monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        if self.received >= MAX_HEAD_BYTES:
            raise _HeadTooLarge("the request head is too large")
        self._sock.settimeout(left)
        count = self._sock.recv_into(buffer)
        self.received += count
        return count


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        pages: Pages,
        token: str | None,
        allowed_hosts: tuple[str, ...],
        head_seconds: float,
        monotonic: Callable[[], float],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.pages = pages
        self.token = token  # None: loopback, no token needed
        self.bound_host = address[0]
        self.allowed_hosts = allowed_hosts
        self.machine = socket.gethostname().lower()
        self.head_seconds = head_seconds
        self.monotonic = monotonic
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, never the stdlib's traceback on stderr (a client gone is routine)."""
        exc = sys.exc_info()[1]
        gone = isinstance(exc, (ConnectionError, TimeoutError))
        (log.debug if gone else log.warning)(
            "web.connection_failed",
            client=str(client_address[0]) if client_address else "",
            error=redact_text(f"{type(exc).__name__}: {exc}")[:300],
        )


# the short reason of each refusal (the stdlib's messages echo the request line: never sent)
REFUSALS = {
    400: "bad request: not an HTTP/1.x request harvester can read",
    408: "the request did not arrive in time",
    414: f"the request line is longer than {MAX_REQUEST_LINE // 1024} KiB",
    431: f"the request headers are larger than {MAX_HEAD_BYTES // 1024} KiB or more than 100",
    501: "unsupported method: GET and HEAD only",
    505: "HTTP/1.0 and HTTP/1.1 only",
}
MISDIRECTED = (
    "this endpoint does not answer for that host name (a DNS-rebinding guard); if the name is "
    "yours, add it to HARVESTER_HTTP_ALLOWED_HOSTS"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "harvester"
    sys_version = ""
    timeout = SEND_SECONDS  # writes; the head's reads are bounded by the server's head_seconds
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader, replaced by one under the head's deadline
        self._reader = _HeadReader(self.connection, self.server.monotonic)
        self.rfile = io.BufferedReader(self._reader)
        self._served = 0

    def handle_one_request(self) -> None:
        """One request: its head within the deadline and size caps, the Host checked, then the
        method. Every refusal is answered (4xx, JSON) and logged as one line."""
        reader = self._reader
        reader.deadline = self.server.monotonic() + self.server.head_seconds
        reader.received = 0
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        self.headers = Message()
        try:
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(line) > MAX_REQUEST_LINE:
                self._refuse(414, REFUSALS[414])
                return
            if not line:
                self.close_connection = True
                return
            self.raw_requestline = line
            if not self.parse_request():  # a refusal was sent (send_error), or a blank line
                self.close_connection = True
                return
        except _HeadTooLarge:  # in the headers, parse_request answers 431 itself
            self._refuse(414, REFUSALS[414])
            return
        except TimeoutError:
            if self._served and reader.received == 0:  # an idle keep-alive: closed quietly
                log.debug("web.idle_closed", client=self.client_address[0])
                self.close_connection = True
            else:
                self._refuse(408, REFUSALS[408])
            return
        except ConnectionError:
            self.close_connection = True
            return
        self.connection.settimeout(SEND_SECONDS)
        self._served += 1
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):  # HTTP/0.9: no headers
            self._refuse(400, REFUSALS[400])
            return
        if not self._host_accepted():
            return
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self._refuse(501, REFUSALS[501], {"Allow": "GET, HEAD"})
            return
        method()
        self.wfile.flush()

    def _host_accepted(self) -> bool:
        hosts = self.headers.get_all("Host") or []
        if not hosts:
            if self.request_version == "HTTP/1.0":  # no Host in HTTP/1.0; browsers send one
                return True
            self._refuse(400, "bad request: HTTP/1.1 needs a Host header")
            return False
        if len(hosts) > 1 or host_name(hosts[0]) is None:
            self._refuse(400, "bad request: the Host header is not a host name")
            return False
        server = self.server
        if not host_allowed(hosts[0], server.bound_host, server.allowed_hosts, server.machine):
            self._refuse(421, MISDIRECTED)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's refusals (parse_request's 400, 431, 505) as harvester's: JSON, one line."""
        self._refuse(code, REFUSALS.get(code, "bad request"))

    def _refuse(self, status: int, reason: str, extra: dict[str, str] | None = None) -> None:
        """Answer a request that is not served, close the connection, log one line."""
        log.info(
            "web.refused",
            status=int(status),
            reason=reason,
            client=str(self.client_address[0]),
            method=(self.command or "")[:16],
            path=_path_of(self.path),
            host=(self.headers.get("Host") or "")[:100],
        )
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # the status line is written for HTTP/1.x only
        self.close_connection = True
        data = json.dumps({"error": reason}).encode("utf-8")
        try:
            self.connection.settimeout(SEND_SECONDS)
            self._send(
                status,
                data,
                "application/json",
                self.command == "HEAD",
                {"Connection": "close", **(extra or {})},
            )
            self.wfile.flush()
        except OSError:  # the client is gone: nothing to answer
            pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        token = self.server.token
        if path not in OPEN_PATHS and token is not None:  # noqa: SIM102 (one question each)
            if not authorised(self.headers.get("Authorization"), token):
                self._send(
                    401,
                    b'{"error": "this path needs HARVESTER_HTTP_TOKEN as a bearer token"}',
                    "application/json",
                    head,
                    {"WWW-Authenticate": 'Bearer, Basic realm="harvester", charset="UTF-8"'},
                )
                return
        try:
            self._route(path, url.query, head)
        except (ValueError, HarvesterError) as exc:
            self._json(400, {"error": redact_text(str(exc))}, head)
        except Exception as exc:  # the endpoint must never take the service down
            log.error("web.error", path=path, error=redact_text(f"{type(exc).__name__}: {exc}"))
            self._json(500, {"error": "internal error (see the service's log)"}, head)

    def _route(self, path: str, query: str, head: bool) -> None:
        pages = self.server.pages
        if path == "/healthz":
            status, body = pages.healthz()
            self._json(status, body, head)
        elif path == "/readyz":
            status, body = pages.readyz()
            self._json(status, body, head)
        elif path == "/metrics":
            data, content_type = pages.metrics_text()
            self._send(200, data, content_type, head)
        elif path == "/":
            html = pages.dashboard().encode("utf-8")
            self._send(200, html, "text/html; charset=utf-8", head)
        elif path == "/api/status":
            self._json(200, pages.api_status(), head)
        elif path == "/api/runs":
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            self._json(200, {"runs": pages.api_runs(params)}, head)
        else:
            self._json(404, {"error": f"no such path: {path[:100]}"}, head)

    def do_POST(self) -> None:
        # a refusal like the others (one log line); the connection closes, so the body, never
        # read, cannot become a request
        self._refuse(405, "read-only: GET only", {"Allow": "GET, HEAD"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _json(
        self, status: int, body: Any, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, indent=1).encode("utf-8")
        self._send(status, data, "application/json", head, extra)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        head: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # the path only: a query string could carry anything
        log.debug(
            "web.request", method=(self.command or "")[:16], path=_path_of(self.path), status=code
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing of the stdlib's reaches stderr: its messages become debug lines."""
        log.debug("web.message", message=redact_text(format % args)[:200])

    def log_error(self, format: str, *args: Any) -> None:
        self.log_message(format, *args)


def _path_of(target: str | None) -> str:
    """The path of a request target for the log: no query string, at most 200 characters."""
    try:
        return urlsplit(target or "").path[:200]
    except ValueError:
        return ""


class WebServer:
    """The endpoint on its own thread; `port` is the bound one (useful with port 0)."""

    def __init__(
        self,
        address: tuple[str, int],
        pages: Pages,
        token: str,
        *,
        allowed_hosts: tuple[str, ...] = (),
        head_seconds: float = REQUEST_HEAD_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        check_address(address, token)
        try:  # a token that is set is required, on loopback too
            self._server = _Server(
                address, pages, token or None, allowed_hosts, head_seconds, monotonic
            )
        except OSError as exc:
            raise ConfigError(
                f"HARVESTER_HTTP {address[0]}:{address[1]}: cannot listen there ({exc.strerror})"
            ) from None
        self.host = address[0]
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="web",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("web.listening", url=self.url, token_required=self._server.token is not None)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
