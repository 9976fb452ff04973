"""Reading the documentation as a reader pastes from it: the pages (README.md and docs/*.md),
the commands of their shell blocks and console examples, the `harvester ...` invocations
written in their text, and how many rows a command's output holds. The tests of tests/docs run
what this finds."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

from harvester._cli.jobs_init import template_text
from harvester._cli.main import cli
from harvester._cli.output import FORMATS
from tests.helpers import REPO

BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
REDIRECT = re.compile(r"^\d*(>>|>|<)(&\d+)?(.*)$")  # 2> log, >>file, 2>&1
WALKTHROUGH = "docs/walkthrough.md"  # run as a whole, in order, by test_walkthrough.py


def page_names() -> list[str]:
    """Every page of the documentation, by its path in the repository."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]


def page_text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


@dataclass
class Command:
    page: str  # README.md, docs/jobs.md...
    line: int  # in that page
    text: str  # as written (comments cut; the rest of a list or pipeline too, unless kept)
    output: list[str] = field(default_factory=list)  # what a console example shows after it
    background: bool = False  # written with a trailing `&`

    @property
    def words(self) -> list[str]:
        """The command's words as sh passes them: without NAME=value before it and without
        its redirections."""
        words = shlex.split(self.text)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # NAME=value before the command
        kept: list[str] = []
        target_next = False
        for word in words:
            redirect = REDIRECT.match(word)
            if target_next:
                target_next = False
            elif redirect:
                target_next = not redirect.group(2) and not redirect.group(3)
            else:
                kept.append(word)
        return kept

    @property
    def is_harvester(self) -> bool:
        return bool(self.words) and Path(self.words[0]).name == "harvester"

    @property
    def args(self) -> list[str]:
        return self.words[1:]

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def split_commands(
    block: str, first_line: int, page: str = "README.md", pipes: bool = True
) -> list[Command]:
    """The simple commands of a shell block as sh reads them: one per line (a quoted string or
    a trailing backslash continues it), cut at `&&`, `||`, `;`, `&` and (unless `pipes` is
    False, which keeps a pipeline whole) `|`; `# comments` dropped; a heredoc's lines belong to
    its command; a command ended by a single `&` runs in the background."""
    commands: list[Command] = []
    current: list[str] = []
    start = line = first_line
    quote: str | None = None
    heredoc: str | None = None
    i = 0

    def emit(background: bool = False) -> None:
        text = "".join(current).strip()
        if text:
            commands.append(Command(page, start, text, background=background))
        current.clear()

    while i < len(block):
        c = block[i]
        nxt = block[i + 1] if i + 1 < len(block) else ""
        if c == "\n":
            line += 1
        if quote == "'":
            quote = None if c == "'" else quote
            current.append(c)
        elif quote == '"':
            if c == "\\":
                current.append(c + nxt)
                i += 1
            elif c == '"':
                quote = None
                current.append(c)
            else:
                current.append(c)
        elif c == "\\" and nxt == "\n":
            current.append(" ")
            line += 1
            i += 1
        elif c == "\\":
            current.append(c + nxt)
            i += 1
        elif c in "'\"":
            quote = c
            current.append(c)
        elif c == "#" and (not current or current[-1].isspace()):
            while i + 1 < len(block) and block[i + 1] != "\n":
                i += 1
        elif c == "<" and nxt == "<":
            match = re.match(r"<<-?\s*['\"]?(\w+)['\"]?", block[i:])
            assert match, f"{page}:{line}: a heredoc this test cannot read"
            heredoc = match.group(1)
            current.append(match.group(0))
            i += len(match.group(0)) - 1
        elif c == "\n":
            if heredoc is not None:  # its lines, up to the delimiter, are part of the command
                rest = block[i + 1 :].split("\n")
                end = rest.index(heredoc)
                current[:] = ["".join(current).rstrip(), "\n" + "\n".join(rest[: end + 1])]
                i += len("\n".join(rest[: end + 1])) + 1
                line += end + 1
                heredoc = None
            emit()
            start = line
        elif c == "|" and nxt != "|" and not pipes:
            current.append(c)
        elif c in "|&;" and not (c == "&" and current and current[-1].endswith(">")):
            emit(background=c == "&" and nxt not in "&>")
            while i + 1 < len(block) and block[i + 1] in "|&":
                i += 1
            start = line
        else:
            current.append(c)
        i += 1
    emit()
    return commands


def page_commands(page: str, pipes: bool = True) -> list[Command]:
    """Every command of a page's shell blocks, and of its console examples (`$ ` lines, with
    the output shown after them)."""
    text = page_text(page)
    found: list[Command] = []
    for match in BLOCK.finditer(text):
        kind, body = match.group(1), match.group(2)
        first = text[: match.start(2)].count("\n") + 1
        if kind in ("sh", "bash", "shell"):
            found += split_commands(body, first, page, pipes)
        elif kind in ("", "console"):
            for offset, line in enumerate(body.splitlines()):
                if line.startswith("$ "):
                    found += split_commands(line[2:], first + offset, page, pipes)
                elif found and found[-1].line >= first and line.strip():
                    found[-1].output.append(line)
    return found


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


def inline_commands(page: str) -> list[Command]:
    """`harvester ...` written in a page's text with arguments and no placeholder (`[--x N]`,
    `JOB`, `...`): invocations a reader copies, to be checked as the blocks' are."""
    text = page_text(page)
    found: list[Command] = []
    for match in re.finditer(r"`((?:\S*/)?harvester [^`]+)`", text):
        invocation = " ".join(match.group(1).split())
        if re.search(r"[\[\]|]|\b[A-Z]{2,}\b|\.\.\.", invocation):
            continue
        command = Command(page, text[: match.start()].count("\n") + 1, invocation)
        if len(command.args) > len(command_path(command.args)):
            found.append(command)
    return found


def documented_jobs() -> dict[str, object]:
    """The jobs of the pages' jobs.yaml examples, and the my-results set (the demo's)."""
    jobs: dict[str, object] = {}
    for page in page_names():
        for kind, body in BLOCK.findall(page_text(page)):
            data = yaml.safe_load(body) if kind == "yaml" else None
            if isinstance(data, dict) and isinstance(data.get("jobs"), dict):
                jobs.update(data["jobs"])
    jobs.update(yaml.safe_load(template_text("my-results"))["jobs"])
    return jobs


def resolved(words: list[str]) -> tuple[click.Command, dict[str, object]]:
    """The command a line runs and its parameters, resolved as click resolves them (a group
    may take a name that is not one of its commands: `harvester catalog ENDPOINT`)."""
    target: click.Command = cli
    ctx = cli.make_context("harvester", list(words))
    while isinstance(target, click.Group) and (rest := [*left_to_subcommand(ctx), *ctx.args]):
        name, found, args = target.resolve_command(ctx, rest)
        assert name is not None and found is not None, words
        target, ctx = found, found.make_context(name, args, parent=ctx)
    return target, ctx.params


def left_to_subcommand(ctx: click.Context) -> list[str]:
    """The name a group's parsing left for its subcommand (click 8.2 made it private)."""
    if hasattr(ctx, "_protected_args"):
        return list(ctx._protected_args)
    return list(ctx.protected_args)  # click 8.1


SEPARATOR = re.compile(r"^-+(  -+)*$")  # under a table's header


def answer_size(command: Command, stdout: str) -> int | None:
    """How many rows a command's output holds (for `harvester get`, how many non-empty JSON
    documents); None for a command that prints no answer (a login, a run, a file written).
    In a table, a row of only empty cells shows nothing, and counts as none."""
    target, params = resolved(command.args)
    lines = stdout.splitlines()
    if target is cli.commands["get"]:
        return sum(json.loads(line) not in ([], {}, None, "") for line in lines if line.strip())
    kind = next((p.type for p in target.params if p.name == "fmt"), None)
    if not isinstance(kind, click.Choice) or tuple(kind.choices) != FORMATS:
        return None  # prints no rows, or no table (`harvester catalog ENDPOINT`, `status`)
    fmt = params["fmt"]
    if fmt == "table":
        start = next((i + 1 for i, line in enumerate(lines) if SEPARATOR.match(line)), len(lines))
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        return end - start  # `harvester tables` says more after a blank line
    if fmt == "csv":
        return max(0, len(list(csv.reader(io.StringIO(stdout)))) - 1)
    if fmt == "json":
        return len(json.loads(stdout)) if stdout.strip() else 0
    return sum(1 for line in lines if line.strip())  # ndjson
