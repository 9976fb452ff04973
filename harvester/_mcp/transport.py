"""How a client reaches the server: over stdio (what desktop clients start: the protocol on
stdin/stdout, logs on stderr), or over the streamable HTTP transport.

HTTP is served on 127.0.0.1 unless told otherwise, and beyond loopback only with a bearer
token, given as `{env:NAME}` (the variable holding it, in the environment or .env: a token
written on the command line is visible to every user of the machine). A token that is given is
required on loopback too, as the dashboard's HARVESTER_HTTP_TOKEN is.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
from collections.abc import Callable, Mapping

import anyio
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from .._core.errors import ConfigError
from .._core.redact import register_secret
from .._observe.web.server import authorised, is_loopback

PATH = "/mcp"
_ENV_REFERENCE = re.compile(r"^\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
# the SDK's and the web server's loggers: their INFO lines are per request
_CHATTY = ("mcp", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx2", "sse_starlette")


def token_from(reference: str, env: Mapping[str, str]) -> str:
    """The token `--token {env:NAME}` names, registered as a secret (never logged)."""
    match = _ENV_REFERENCE.match(reference.strip())
    if match is None:
        raise ConfigError(
            "--token takes {env:NAME}, the environment variable that holds the token (a token "
            "written on the command line is visible to every user of the machine)"
        )
    name = match.group(1)
    token = (env.get(name) or "").strip()
    if not token:
        raise ConfigError(f"--token {{env:{name}}}: {name} is not set (in the environment or .env)")
    register_secret(token)
    return token


def check_address(address: tuple[str, int], token: str | None) -> None:
    """Refuse to serve beyond this machine without a token, before anything is opened."""
    host, port = address
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--http {host}:{port} is not a loopback address: give --token {{env:NAME}} (every "
            "client must then send it in an Authorization header), or serve on 127.0.0.1"
        )


def quiet_libraries(debug: bool) -> None:
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def serve_stdio(server: MCPServer) -> None:
    """Until the client closes stdin."""
    anyio.run(server.run_stdio_async)


class BearerToken:
    """ASGI middleware: every HTTP request carries the token (`Authorization: Bearer ...`,
    compared in constant time), or is answered 401 without reaching the server."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or ()).get(b"authorization")
            value = header.decode("latin-1") if header is not None else None
            if not authorised(value, self.token):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="harvester mcp"'),
                        ],
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b'{"error": "this server needs its token as a bearer token"}',
                    }
                )
                return
        await self.app(scope, receive, send)


def listening_socket(address: tuple[str, int]) -> socket.socket:
    """The server's socket, bound now (port 0 picks a free port), so its URL is known."""
    host, port = address
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"--http {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--http {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{PATH}"


def serve_http(
    server: MCPServer,
    address: tuple[str, int],
    token: str | None,
    listening: Callable[[str], None],
) -> None:
    """Until SIGTERM or Ctrl-C (uvicorn stops gracefully on both)."""
    import uvicorn

    check_address(address, token)
    app: ASGIApp = server.streamable_http_app(streamable_http_path=PATH, host=address[0])
    if token:
        app = BearerToken(app, token)
    sock = listening_socket(address)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, timeout_graceful_shutdown=5, lifespan="on"
    )
    listening(url_of(sock))
    # uvicorn stops gracefully on SIGTERM, then raises it again for the handler it found: a
    # handler that returns makes SIGTERM a clean stop (exit 0), as it is for `harvester start`
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


def _stopped(*_: object) -> None:
    """SIGTERM after uvicorn's graceful stop: nothing more to do."""
