"""The simulator on a real socket (127.0.0.1), for integration tests, the demo and
`harvester simulate`. Faults are real: a reset is a TCP RST, a truncated body is a closed
connection after half of the promised Content-Length."""

from __future__ import annotations

import socket
import struct
import sys
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from .app import Simulator
from .messages import SimRequest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK would add ~40 ms to every answer
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, on the simulator's clock."""
        return formatdate(self.server.simulator.clock.now(), usegmt=True)

    def log_message(self, format: str, *args: object) -> None:
        return  # the simulator keeps quiet; its counters tell what happened

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = SimRequest(
            method=self.command,
            path=url.path,
            query=url.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        response = self.server.simulator.handle(request)
        if response.fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(response.status)  # writes Date (date_time_string) itself
        for name, value in response.headers.items():
            if name != "date":
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if response.fault == "truncate":
            self.send_header("connection", "close")
        self.end_headers()
        if response.fault == "truncate":
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (killed, timed out) is normal here; anything else is not."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class RunningSimulator:
    """A simulator served on loopback in a background thread; a context manager."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self._server = _Server((host, port), simulator)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        simulator.set_base_url(self.url)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="simulator",
            daemon=True,
        )

    def start(self) -> RunningSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread (the `harvester simulate` command) until interrupted."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def settings(self) -> dict[str, str]:
        """Environment settings that point harvester at this simulator."""
        config = self.simulator.config
        client_id, client_secret = next(iter(config.clients.items()))
        username, password = next(iter(config.users.items()))
        env = {
            "IRACING_CLIENT_ID": client_id,
            "IRACING_CLIENT_SECRET": client_secret,
            "IRACING_USERNAME": username,
            "IRACING_PASSWORD": password,
            "IRACING_OAUTH_URL": f"{self.url}/oauth2",
            "IRACING_DATA_URL": self.url,
        }
        spec = getattr(self.simulator.clock, "spec", None)
        if callable(spec):
            env["HARVESTER_CLOCK"] = str(spec())
        return env

    def __enter__(self) -> RunningSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
