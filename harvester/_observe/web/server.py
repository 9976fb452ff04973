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
import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ..._core.errors import ConfigError, HarvesterError
from ..._core.logs import get_logger
from ..._core.redact import redact_text

log = get_logger("harvester.web")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}


OPEN_PATHS = ("/healthz", "/readyz")  # no token: probes and load balancers ask them


class Pages(Protocol):
    """What the endpoint serves; the service's Watch provides it."""

    def healthz(self) -> tuple[int, dict[str, Any]]: ...

    def readyz(self) -> tuple[int, dict[str, Any]]: ...

    def metrics_text(self) -> tuple[bytes, str]: ...

    def dashboard(self) -> str: ...

    def api_status(self) -> dict[str, Any]: ...

    def api_runs(self, query: dict[str, str]) -> list[dict[str, Any]]: ...


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], pages: Pages, token: str | None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.pages = pages
        self.token = token  # None: loopback, no token needed
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "harvester"
    sys_version = ""
    timeout = 15  # a client that sends nothing is dropped
    protocol_version = "HTTP/1.1"

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
        self._json(405, {"error": "read-only: GET only"}, False, {"Allow": "GET, HEAD"})

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

    def log_message(self, format: str, *args: Any) -> None:
        # the path only: a query string could carry anything
        log.debug("web.request", path=urlsplit(self.path).path[:200], status=args[1:2])


class WebServer:
    """The endpoint on its own thread; `port` is the bound one (useful with port 0)."""

    def __init__(self, address: tuple[str, int], pages: Pages, token: str) -> None:
        check_address(address, token)
        try:  # a token that is set is required, on loopback too
            self._server = _Server(address, pages, token or None)
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
