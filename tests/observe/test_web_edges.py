"""The endpoint's edges, over real sockets on loopback: the Host header a DNS-rebinding page
sends is refused, and a malformed, oversized or silent request gets its 4xx answer and one JSON
log line, never a traceback on stderr."""

from __future__ import annotations

import io
import json
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvester._config.settings import load_settings
from harvester._core.errors import ConfigError
from harvester._core.logs import configure_logging
from harvester._observe.web.hosts import host_allowed
from harvester._observe.web.server import WebServer
from harvester.simulator import RunningSimulator
from tests.helpers import env_for, make_settings, start_harvester, wait_for


class Pages:
    """What the endpoint serves, fixed: the edges are the server's, not the pages'."""

    def healthz(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def readyz(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def metrics_text(self) -> tuple[bytes, str]:
        return b"harvester_up 1\n", "text/plain; version=0.0.4"

    def dashboard(self) -> str:
        return "<html>dashboard</html>"

    def api_status(self) -> dict[str, Any]:
        return {"jobs": []}

    def api_runs(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return []


class Served:
    """A WebServer on 127.0.0.1:<ephemeral> with its log captured as JSON lines."""

    def __init__(self, server: WebServer, log: io.StringIO) -> None:
        self.server = server
        self._log = log

    def exchange(self, data: bytes, *, close_write: bool = False) -> bytes:
        """Send `data` on a fresh connection; everything the server answers until it closes."""
        with socket.create_connection((self.server.host, self.server.port), timeout=10) as sock:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
            return _read_all(sock)

    def get(self, path: str, host: str | None) -> tuple[int, bytes]:
        head = f"GET {path} HTTP/1.1\r\n"
        if host is not None:
            head += f"Host: {host}\r\n"
        answer = self.exchange((head + "Connection: close\r\n\r\n").encode())
        return status_of(answer), answer.partition(b"\r\n\r\n")[2]

    def log_lines(self) -> list[str]:
        return [line for line in self._log.getvalue().splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines()]


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 else 0


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[WebServer] = []

    def start(host: str = "127.0.0.1", **options: Any) -> Served:
        log = io.StringIO()
        configure_logging("INFO", "json", log)
        server = WebServer((host, 0), Pages(), options.pop("token", ""), **options)
        server.start()
        started.append(server)
        return Served(server, log)

    yield start
    for server in started:
        server.stop()


# -- 1. the Host header: a DNS-rebinding page is refused ---------------------------------------


def test_a_rebinding_page_cannot_read_the_api_or_metrics(serve: Any) -> None:
    served = serve()
    port = served.server.port
    for path in ("/api/status", "/metrics", "/", "/api/runs", "/healthz"):
        status, body = served.get(path, f"evil.example:{port}")
        assert status == 421, path
        assert b"evil.example" not in body  # short, and says nothing of the attacker's name
        assert b"HARVESTER_HTTP_ALLOWED_HOSTS" in body
        assert b"dashboard" not in body and b"harvester_up" not in body
    refused = [e for e in served.events() if e["event"] == "web.refused"]
    assert len(refused) == 5
    assert {e["status"] for e in refused} == {421}
    assert all(e["host"] == f"evil.example:{port}" for e in refused)


def test_the_bound_names_are_answered_on_loopback(serve: Any) -> None:
    served = serve()
    port = served.server.port
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST.", "[::1]:1"):
        assert served.get("/metrics", host)[0] == 200, host
    assert served.get("/metrics", "192.168.1.9")[0] == 421  # an address it is not bound to
    assert served.get("/metrics", "localhost.evil.example")[0] == 421
    assert served.get("/metrics", "")[0] == 400  # HTTP/1.1 without a usable Host
    assert served.get("/metrics", None)[0] == 400
    http10 = served.exchange(b"GET /metrics HTTP/1.0\r\n\r\n")
    assert status_of(http10) == 200  # HTTP/1.0 has no Host; no browser sends that


def test_configured_host_names_are_answered(serve: Any) -> None:
    served = serve(allowed_hosts=("harvester.example.com", "*.lan"))
    assert served.get("/api/status", "harvester.example.com:8686")[0] == 200
    assert served.get("/api/status", "box.lan")[0] == 200
    assert served.get("/api/status", "lan")[0] == 421
    assert served.get("/api/status", "harvester.example.com.evil.example")[0] == 421


def test_which_hosts_a_wildcard_address_answers() -> None:
    hosts = ("dash.example.com",)
    assert host_allowed("10.1.2.3:8686", "0.0.0.0", (), "box")  # noqa: S104 (an IP: typed)
    assert host_allowed("[fe80::1]", "::", (), "box")
    assert host_allowed("box:8686", "0.0.0.0", (), "box")  # noqa: S104 (the machine's name)
    assert host_allowed("localhost", "0.0.0.0", (), "box")  # noqa: S104
    assert not host_allowed("evil.example", "0.0.0.0", (), "box")  # noqa: S104
    assert host_allowed("DASH.example.com", "192.168.1.4", hosts, "box")
    assert host_allowed("192.168.1.4:80", "192.168.1.4", (), "box")
    assert not host_allowed("localhost", "192.168.1.4", (), "box")
    assert not host_allowed("10.1.2.3", "192.168.1.4", (), "box")
    assert not host_allowed("a b", "127.0.0.1", (), "box")
    assert not host_allowed("[::1", "127.0.0.1", (), "box")


def test_the_allowed_hosts_setting() -> None:
    settings = load_settings(
        {"HARVESTER_HTTP_ALLOWED_HOSTS": " Dash.Example.com, *.lan ,[fd00::1],10.0.0.7"},
        env_file=None,
    )
    assert settings.http_allowed_hosts == ("dash.example.com", "*.lan", "fd00::1", "10.0.0.7")
    assert load_settings({}, env_file=None).http_allowed_hosts == ()
    for bad in ("http://dash.example.com", "dash.example.com:8686", "a/b", "*", "a..b"):
        with pytest.raises(ConfigError, match=r"^HARVESTER_HTTP_ALLOWED_HOSTS: ") as error:
            load_settings({"HARVESTER_HTTP_ALLOWED_HOSTS": bad}, env_file=None)
        assert "\n" not in str(error.value)


# -- 2. bad requests: an answer and one JSON line each, nothing raw on stderr ------------------


def _assert_json_log(served: Served, capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Exception occurred" not in err, err[:2000]
    assert err.strip() == "" and out.strip() == ""
    return served.events()  # every line parses as JSON


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/9.x\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n", 501),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: " + b"c" * 1000 + b"\r\n" * 1 + b"\r\n", 400),
    ],
    ids=[
        "garbage",
        "bad-version",
        "http2",
        "unknown-method",
        "70kB-line",
        "70kB-header",
        "200-headers",
        "no-host",
    ],
)
def test_a_bad_request_gets_its_status_and_one_json_line(
    serve: Any, capfd: pytest.CaptureFixture[str], request_bytes: bytes, status: int
) -> None:
    served = serve()
    answer = served.exchange(request_bytes)
    assert status_of(answer) == status
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head and b"connection: close" in head.lower()
    assert "error" in json.loads(body)
    events = _assert_json_log(served, capfd)
    refused = [e for e in events if e["event"] == "web.refused"]
    assert [e["status"] for e in refused] == [status]
    assert all(len(json.dumps(e)) < 1000 for e in events)  # the 70 kB never reaches the log


def test_a_silent_client_gets_408_and_an_idle_keepalive_is_closed_quietly(
    serve: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    served = serve(head_seconds=0.2)
    with socket.create_connection((served.server.host, served.server.port), timeout=10) as sock:
        assert status_of(_read_all(sock)) == 408  # sent nothing at all
    partial = served.exchange(b"GET /metrics HTTP/1.1\r\nHost: loc")
    assert status_of(partial) == 408  # started, never finished
    with socket.create_connection((served.server.host, served.server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = _read_all(sock)  # the answer, then the idle connection is closed
    assert status_of(answer) == 200 and answer.count(b"HTTP/1.1 ") == 1
    events = _assert_json_log(served, capfd)
    assert [e["status"] for e in events if e["event"] == "web.refused"] == [408, 408]


def test_a_client_that_goes_away_leaves_one_json_line_at_most(
    serve: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    served = serve()
    for data in (b"", b"GET / HT", b"GET / HTTP/1.1\r\nHost: localhost\r\n"):
        served.exchange(data, close_write=True)
    assert served.get("/healthz", "localhost")[0] == 200  # still serving
    _assert_json_log(served, capfd)


def test_a_post_body_is_not_read_as_the_next_request(
    serve: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A POST is refused as every other request harvester does not serve: 405 with Allow, the
    connection closed, and one `web.refused` line (it left none before)."""
    served = serve()
    answer = served.exchange(
        b"POST /api/runs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12\r\n\r\nGET / HTTP/1.1"
    )
    assert status_of(answer) == 405 and answer.count(b"HTTP/1.1 ") == 1
    assert b"Allow: GET, HEAD" in answer
    events = _assert_json_log(served, capfd)
    refused = [e for e in events if e["event"] == "web.refused"]
    assert [(e["status"], e["method"], e["path"]) for e in refused] == [(405, "POST", "/api/runs")]


def test_the_machines_own_name_is_answered_on_any_address() -> None:
    assert host_allowed("box", "192.168.1.4", (), "box.corp.example")  # the short name
    assert host_allowed("box.corp.example:8686", "127.0.0.1", (), "box.corp.example")
    assert not host_allowed("corp.example", "192.168.1.4", (), "box.corp.example")


@pytest.mark.slow
def test_harvester_start_logs_only_json_lines_whatever_the_requests(
    tmp_path: Path, loopback: RunningSimulator
) -> None:
    """The service as a process, LOG_FORMAT=json: a scan's garbage, a 70 kB request line, a
    rebinding page and a request cut off leave one JSON line each on stderr, nothing else."""
    (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    env = {**env_for(make_settings(tmp_path, loopback.url)), "HARVESTER_HTTP": "127.0.0.1:0"}
    service = start_harvester("start", env=env, cwd=tmp_path, output=True)
    lines: list[str] = []
    assert service.stderr is not None
    stderr = service.stderr
    reader = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any('"web.listening"' in line for line in lines))
        url = next(json.loads(line)["url"] for line in lines if '"web.listening"' in line)
        host, port = url.removeprefix("http://").split(":")
        requests = (
            b"GARBAGE\r\n\r\n",
            b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
            b"GET /api/status HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Cut: of",
        )
        statuses = []
        for data in requests:
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                statuses.append(status_of(_read_all(sock)))
        assert statuses == [400, 414, 421, 200]
        wait_for(lambda: sum('"web.refused"' in line for line in lines) >= 3)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        reader.join(10)
        for pipe in (service.stdout, service.stderr):
            if pipe is not None:
                pipe.close()
    assert lines, "nothing logged"
    events = [json.loads(line) for line in lines]  # every line JSON: no traceback, no print
    refused = [e["status"] for e in events if e["event"] == "web.refused"]
    assert refused == [400, 414, 421]
    assert all(len(line) < 2000 for line in lines)
