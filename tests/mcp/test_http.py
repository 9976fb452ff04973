"""`harvester mcp --http`: the streamable HTTP transport, driven by the SDK's own client. It is
served on loopback, beyond it only with a bearer token (refused with one line before anything
is opened otherwise), a token given is required on every request, and the token never appears
in the server's output."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.helpers import run_harvester
from tests.mcp.harvest import Harvested, data, harvest

pytestmark = pytest.mark.slow

TOKEN = "mcp-test-token-7f3a9c"


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Harvested:
    return harvest(tmp_path_factory.mktemp("mcp-http"))


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    lines: list[str]  # everything it wrote to stderr so far


@contextmanager
def serving(archive: Harvested, *args: str, **env: str) -> Iterator[Served]:
    """`harvester mcp --http ARGS` until the test is done, its URL read from its log."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harvester", "mcp", *args],
        env={**archive.env, **env},
        cwd=archive.folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    urls: queue.Queue[str | None] = queue.Queue()

    def read() -> None:  # drains stderr for the whole life of the process
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if '"mcp.listening"' in line:
                urls.put(json.loads(line)["url"])
        urls.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        url = urls.get(timeout=120)
        assert url is not None, "".join(lines)
        yield Served(url, process, lines)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


async def ask(url: str, token: str | None, tool: str, arguments: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return data(await client.call_tool(tool, arguments))


def test_http_serves_every_tool_on_loopback(harvested: Harvested) -> None:
    with serving(harvested, "--http", "127.0.0.1:0") as served:
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/mcp")

        async def session() -> None:
            async with Client(served.url) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "harvest_health" in names and "query" in names
                answer = data(
                    await client.call_tool("query", {"sql": "SELECT count(*) FROM subsessions"})
                )
                assert answer["rows"][0][0] > 0
                refused = await client.call_tool("query", {"sql": "DELETE FROM runs"})
                assert refused.is_error
                health = data(await client.call_tool("harvest_health", {}))
                assert "missing_race" in health["verdict"]

        anyio.run(session)
    assert served.process.returncode == 0  # SIGTERM: a graceful stop
    assert not any("Traceback" in line for line in served.lines)


def test_a_token_given_is_required_and_never_shown(harvested: Harvested) -> None:
    args = ("--http", "127.0.0.1:0", "--token", "{env:MCP_TOKEN}")
    with serving(harvested, *args, MCP_TOKEN=TOKEN) as served:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = httpx.post(served.url, json=hello, headers=headers, timeout=30)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
        answer = anyio.run(ask, served.url, TOKEN, "query", {"sql": "SELECT 1 AS one"})
        assert answer["rows"] == [[1]]
    assert not any(TOKEN in line for line in served.lines)


def test_beyond_loopback_only_with_a_token(harvested: Harvested) -> None:
    with serving(
        harvested, "--http", "0.0.0.0:0", "--token", "{env:MCP_TOKEN}", MCP_TOKEN=TOKEN
    ) as served:
        port = served.url.rsplit(":", 1)[1].split("/")[0]
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json={}, timeout=30).status_code == 401
        answer = anyio.run(ask, url, TOKEN, "query", {"sql": "SELECT count(*) FROM laps"})
        assert answer["rows"][0][0] > 0


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (
            ["--http", "0.0.0.0:0"],
            {},
            "--http 0.0.0.0:0 is not a loopback address: give --token {env:NAME}",
        ),
        (
            ["--http", "192.0.2.7:8687"],
            {},
            "--http 192.0.2.7:8687 is not a loopback address",
        ),
        (
            ["--http", "0.0.0.0:0", "--token", TOKEN],
            {},
            "--token takes {env:NAME}",
        ),
        (
            ["--http", "0.0.0.0:0", "--token", "{env:MCP_TOKEN}"],
            {"MCP_TOKEN": " "},
            "--token {env:MCP_TOKEN}: MCP_TOKEN is not set",
        ),
        (["--token", "{env:MCP_TOKEN}"], {"MCP_TOKEN": TOKEN}, "--token is for --http"),
        (["--http", "nonsense"], {}, "--http must be HOST:PORT"),
    ],
)
def test_a_bad_address_or_token_is_one_line_and_nothing_is_served(
    harvested: Harvested, args: list[str], env: dict[str, str], error: str
) -> None:
    done = run_harvester("mcp", *args, env={**harvested.env, **env}, cwd=harvested.folder)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("harvester: error: ") and error in line, line
    assert TOKEN not in done.stderr and done.stdout == ""
