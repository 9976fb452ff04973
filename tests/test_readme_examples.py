"""Every `harvester ...` line in README.md's shell blocks is a real command, and every
`harvester query` shown runs (exit 0) against an archive filled from the simulator: examples
added to the README later are picked up by this test without touching it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from harvester.cli import cli
from harvester.simulator import RunningSimulator

from .conftest import REPO, CliResult, env_for, make_settings

BLOCK = re.compile(r"^```(?:sh|bash|console)\n(.*?)^```", re.S | re.M)
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&"}
COMMAND = re.compile(r"^\s*(?:\$ )?(?:\S*/)?harvester (.*)$")


def readme_commands() -> list[list[str]]:
    """The arguments of each `harvester` command in the README's shell blocks (a quoted
    argument may continue over several lines; `# comments` are dropped)."""
    commands: list[list[str]] = []
    for block in BLOCK.findall((REPO / "README.md").read_text()):
        lines = iter(block.splitlines())
        for line in lines:
            match = COMMAND.match(line)
            if not match:
                continue
            text = match.group(1)
            while True:
                try:
                    words = shlex.split(text, comments=True)
                    break
                except ValueError:  # an open quote: the command goes on
                    text += "\n" + next(lines)
            # as sh reads "...\$..." (shlex keeps the backslash); the command ends at a pipe
            words = [word.replace("\\$", "$") for word in words]
            for index, word in enumerate(words):
                if word in OPERATORS:
                    words = words[:index]
                    break
            commands.append(words)
    return commands


COMMANDS = readme_commands()
QUERIES = [words for words in COMMANDS if words[:1] == ["query"]]


def test_the_readme_shows_queries() -> None:
    assert len(QUERIES) >= 5


def command_path(words: list[str]) -> list[str]:
    """The subcommand names at the start of a command line."""
    group: click.Command = cli
    path: list[str] = []
    for word in words:
        if not isinstance(group, click.Group) or word not in group.commands:
            break
        group = group.commands[word]
        path.append(word)
    return path


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words)[:60])
def test_every_readme_command_exists_and_its_options_parse(words: list[str]) -> None:
    path = command_path(words)
    assert path, f"harvester {' '.join(words)}: no such command"
    command: click.Command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    rest = words[len(path) :]
    with command.make_context(" ".join(["harvester", *path]), list(rest), resilient_parsing=False):
        pass


JOBS = """
jobs:
  member_info: {endpoint: member/info, every: 1h}
  season_results:
    endpoint: results/search_series
    params: {season_year: 2026, season_quarter: 4, series_id: 285}
    every: 1h
  my_results:
    endpoint: results/search_series
    params: {season_year: 2026, season_quarter: 4}
    every: 1h
"""


@pytest.mark.slow
def test_every_readme_query_runs_on_a_filled_archive(
    tmp_path: Path, loopback: RunningSimulator, run_cli: object
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    env = env_for(make_settings(tmp_path, loopback.url))
    runs: CliResult = run_cli("run", "member_info", "season_results", "my_results", env=env)  # type: ignore[operator]
    assert runs.code == 0, runs.err
    failures = []
    for words in QUERIES:
        result: CliResult = run_cli(*words, env=env)  # type: ignore[operator]
        if result.code != 0:
            failures.append(f"harvester {shlex.join(words)}: {result.err.strip()}")
    assert not failures, "\n".join(failures)
