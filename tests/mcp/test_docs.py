"""docs/mcp.md says what the server does: its commands parse as written, its client
configurations start `harvester mcp` with options that exist, and its table of tools, its
resources and prompts are the server's, no more, no fewer."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import anyio
import click

from harvester._cli.main import cli
from harvester._config.settings import Settings
from harvester._mcp.archive import Archive
from harvester._mcp.server import build_server
from tests.helpers import REPO

DOC = (REPO / "docs" / "mcp.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def parses(args: list[str], folder: Path) -> None:
    """`harvester ARGS` as click reads it (without running it; the folder named is one that
    exists here)."""
    assert args[0] == "mcp"
    command = cli.get_command(click.Context(cli), "mcp")
    assert command is not None
    before = ["", *args[:-1]]
    here = [str(folder) if b == "--folder" else a for b, a in zip(before, args, strict=True)]
    command.make_context("mcp", here[1:])


def test_every_command_and_client_configuration_parses(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC)
    commands = [
        shlex.split(line.split("#")[0])
        for kind, body in blocks
        if kind == "sh"
        for line in body.splitlines()
        if line.strip()
    ]
    assert len(commands) == 4
    for words in commands:
        assert words[0] == "harvester"
        parses(words[1:], tmp_path)
    configs = [json.loads(body) for kind, body in blocks if kind == "json" and "mcpServers" in body]
    assert len(configs) == 2
    for config in configs:
        for server in config["mcpServers"].values():
            assert server["command"].endswith("/.venv/bin/harvester")
            parses(server["args"], tmp_path)


def test_the_tools_resources_and_prompts_are_the_servers(tmp_path: Path) -> None:
    server = build_server(Archive(f"sqlite:///{tmp_path / 'h.db'}"), Settings())
    tools = {tool.name for tool in anyio.run(server.list_tools)}
    assert tools == set(re.findall(r"^\| `(\w+)` \|", DOC, re.M))
    resources = {str(r.uri) for r in anyio.run(server.list_resources)}
    templates = {t.uri_template for t in anyio.run(server.list_resource_templates)}
    for uri in resources | templates:
        assert f"`{uri}`" in DOC
    for prompt in anyio.run(server.list_prompts):
        assert f"**`{prompt.name}`**" in DOC
