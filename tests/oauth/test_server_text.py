"""What the token endpoint says is untrusted text: an `error` or `error_description` with line
breaks, ESC sequences or a JSON log line in it reaches the terminal, `runs.error`, the log and
`auth_events` only as one printable line, cut to what the column holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harvester._core.clock import ManualClock
from harvester._oauth.endpoint import parse_oauth_failure
from harvester._store.db import sqlite_path
from tests.helpers import CliResult, db_rows, env_for, make_settings

FORGED = '{"event": "oauth.forged", "level": "info", "logger": "harvester.auth"}'
ERROR = f"invalid_request\n{FORGED}\n\x1b[2J\x1b[31mowned\r" + "x" * 300
DESCRIPTION = "line one\r\nline two \x1b]8;;https://evil.example\x07click\x1b]8;;\x07\u2028end"


class Hostile(BaseHTTPRequestHandler):
    """A token endpoint that refuses every grant with hostile text."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({"error": ERROR, "error_description": DESCRIPTION}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", "req-1")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def one_printable_line(text: str) -> bool:
    return text.isprintable() and "\x1b" not in text


def test_the_failure_is_decoded_into_one_printable_line() -> None:
    request = httpx.Request("POST", "https://oauth.example/token")
    response = httpx.Response(
        400,
        json={"error": ERROR, "error_description": DESCRIPTION},
        headers={"x-request-id": "a" * 500},
        request=request,
    )
    failure = parse_oauth_failure(response, ManualClock().now())
    for text in (failure.error, failure.description, failure.request_id or ""):
        assert one_printable_line(text), text
    assert failure.error.startswith('invalid_request {"event"')
    assert len(failure.error) <= 64  # auth_events.outcome holds 64 characters
    assert len(failure.request_id or "") <= 128  # auth_events.request_id: 128
    assert "line one line two" in failure.description


@pytest.mark.parametrize("command", [("auth", "login"), ("run", "member_info")])
def test_hostile_token_endpoint_text_reaches_no_terminal_log_or_table_raw(
    tmp_path: Path,
    hostile: str,
    backend: str,
    run_cli: Callable[..., CliResult],
    command: tuple[str, ...],
) -> None:
    settings = make_settings(tmp_path, hostile, database_url=backend)
    settings.jobs_path.write_text("jobs:\n  member_info: {endpoint: member/info, every: 1h}\n")
    result = run_cli(*command, env=env_for(settings))
    assert result.code != 0
    assert "run.crashed" not in result.err  # (was: the refusal, too long for PostgreSQL)
    for line in (result.out + result.err).splitlines():
        assert one_printable_line(line), line
        if line.startswith("{"):  # a log line: harvester's own, never the server's
            assert json.loads(line)["event"] != "oauth.forged", line
    assert "invalid_request {" in result.out + result.err  # said, on one line
    database = sqlite_path(backend) or backend
    for (error,) in db_rows(database, "SELECT error FROM runs"):
        assert one_printable_line(error), error
    outcomes = db_rows(database, "SELECT outcome, request_id FROM auth_events")
    assert outcomes, "the refused login is recorded"
    for outcome, request_id in outcomes:
        assert one_printable_line(outcome) and outcome.startswith("invalid_request {"), outcome
        assert request_id == "req-1"
