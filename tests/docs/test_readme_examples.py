"""Every command in README.md's shell blocks runs, as pasted, against an archive harvested from
the simulator, or is in EXCLUDED with the reason it cannot run here. A command added to the
README later is picked up without touching this test; one that is neither run nor excluded,
and an exclusion that no longer matches anything, fail it. A command that prints an answer
(rows, or `harvester get`'s JSON) must answer something there, or be in ANSWERS_NOTHING with why
it rightly answers nothing: an example naming ids the simulator's world lacks fails."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml

from harvester._cli.jobs_init import template_text
from harvester._cli.main import cli
from harvester._cli.output import FORMATS, render
from harvester._core.clock import ManualClock, iso_seconds
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.helpers import REPO, PostgresServer, env_for, make_settings

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
HARVESTER = Path(sys.executable).parent / "harvester"  # this venv's
TIMEOUT = 120.0

# What cannot run in a test, and why (matched against each command as the README writes it).
EXCLUDED: dict[str, str] = {
    r"^make (demo|test)$": "the demo and the whole suite: tests/test_service_process.py runs "
    "`harvester demo`, and `make test` is what runs this test",
    r"^(sudo )?(python3 -m venv|\S*pip install)": "installs from PyPI (no network in tests); "
    ".ci/run proves `pip install .` into a fresh venv",
    r"^(cp jobs\.yaml my-jobs\.yaml|cat > \.env <<)": "a real set-up with placeholder "
    "credentials; the test's folder has its own jobs and the simulator's settings",
    r"^sudo ": "changes this machine as root (users, /opt, /etc, systemd); the unit is checked by "
    "tests/test_web_deploy.py, and the harvester commands here run as the test's user",
    r"^datasette ": "serves until stopped; tests/test_tables_cli.py opens the archive in "
    "Datasette (a dev dependency) with the metadata of the `harvester datasette-metadata` here, "
    "which runs",
    r"^export HARVESTER_DATABASE_URL=postgresql://harvester@db\.example\.com/": "an example "
    "server; the `harvester db copy` below runs against a PostgreSQL test database instead",
}

# README examples whose answer is rightly empty in the test's folder, and why. Every other
# command that prints an answer (rows of `--format`, or `harvester get`'s JSON) must answer
# something: an example that exits 0 with nothing shows a reader nothing.
ANSWERS_NOTHING: dict[str, str] = {
    r"status <> 'success' AND started_at >": "failures of the last day: every run of the "
    "folder succeeded (test_failures_of_the_last_day_compare_times_as_stored gives it some)",
    r"^harvester runs --status failed": "failed runs of the last day: the same",
    r"FROM tables_skipped": "the tables take every document the simulator serves",
}

# A console example's documented failure: its exit code and the files it is shown with.
BAD_JOBS = "jobs:\n  a:\n    endpoint: member/info\n    evry: 1h\n"
DOCUMENTED = {"harvester jobs validate": (1, {"jobs.yaml": BAD_JOBS})}


@dataclass
class Command:
    line: int  # in README.md
    text: str  # as written (comments and the rest of a pipeline cut)
    output: list[str] = field(default_factory=list)  # what a console example shows after it

    @property
    def words(self) -> list[str]:
        words = shlex.split(self.text)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # NAME=value before the command
        return words

    @property
    def is_harvester(self) -> bool:
        return bool(self.words) and Path(self.words[0]).name == "harvester"

    @property
    def args(self) -> list[str]:
        return self.words[1:]

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def split_commands(block: str, first_line: int) -> list[Command]:
    """The simple commands of a shell block as sh reads them: one per line (a quoted string or
    a trailing backslash continues it), cut at `&&`, `||`, `;` and `|`; `# comments` dropped; a
    heredoc's lines belong to its command."""
    commands: list[Command] = []
    current: list[str] = []
    start = line = first_line
    quote: str | None = None
    heredoc: str | None = None
    i = 0

    def emit() -> None:
        text = "".join(current).strip()
        if text:
            commands.append(Command(start, text))
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
            assert match, f"README.md:{line}: a heredoc this test cannot read"
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
        elif c in "|&;" and not (c == "&" and current and current[-1].endswith(">")):
            emit()
            while i + 1 < len(block) and block[i + 1] in "|&":
                i += 1
            start = line
        else:
            current.append(c)
        i += 1
    emit()
    return commands


def readme_commands() -> list[Command]:
    """Every command of the README's shell blocks, and of its console examples (`$ ` lines,
    with the output shown after them)."""
    found: list[Command] = []
    for match in BLOCK.finditer(README):
        kind, body = match.group(1), match.group(2)
        first = README[: match.start(2)].count("\n") + 1
        if kind in ("sh", "bash", "shell"):
            found += split_commands(body, first)
        elif kind in ("", "console"):
            for offset, text in enumerate(body.splitlines()):
                if text.startswith("$ "):
                    found += split_commands(text[2:], first + offset)
                elif found and found[-1].line >= first and text.strip():
                    found[-1].output.append(text)
    return found


def exclusion(command: Command) -> str | None:
    for pattern, reason in EXCLUDED.items():
        if re.search(pattern, command.text):
            return reason
    return None


def answers_nothing(command: Command) -> str | None:
    for pattern, reason in ANSWERS_NOTHING.items():
        if re.search(pattern, command.text):
            return reason
    return None


def inline_commands() -> list[Command]:
    """`harvester ...` written in the text with arguments and no placeholder (`[--x N]`,
    `JOB`, `...`): invocations a reader copies, to be checked as the blocks' are."""
    found: list[Command] = []
    for match in re.finditer(r"`((?:\S*/)?harvester [^`]+)`", README):
        text = " ".join(match.group(1).split())
        if re.search(r"[\[\]|]|\b[A-Z]{2,}\b|\.\.\.", text):
            continue
        command = Command(README[: match.start()].count("\n") + 1, text)
        if len(command.args) > len(command_path(command.args)):
            found.append(command)
    return found


COMMANDS = readme_commands()
TO_RUN = [command for command in COMMANDS if exclusion(command) is None]


def test_the_readme_shows_commands_and_queries() -> None:
    assert len([c for c in TO_RUN if c.args[:1] == ["query"]]) >= 5
    assert len(TO_RUN) >= 25


def test_every_readme_command_is_run_or_excluded_with_a_reason() -> None:
    neither = [str(c) for c in TO_RUN if not c.is_harvester]
    assert not neither, "run by nothing and not in EXCLUDED:\n" + "\n".join(neither)
    unused = [p for p in EXCLUDED if not any(re.search(p, c.text) for c in COMMANDS)]
    assert not unused, f"exclusions that match no README command any more: {unused}"
    answers = [c for c in TO_RUN + inline_commands() if answer_size(c, "") is not None]
    stale = [p for p in ANSWERS_NOTHING if not any(re.search(p, c.text) for c in answers)]
    assert not stale, f"ANSWERS_NOTHING entries that match no README answer any more: {stale}"


def test_the_parser_reads_shell_as_sh_does() -> None:
    block = (
        "a one && b 'x && y' | tee f  # c\n"
        'q "multi\nline" \\\n  --x\n'
        "cat > .env <<'EOF'  # note\nA=1\nEOF\nlast\n"
    )
    assert [c.text for c in split_commands(block, 1)] == [
        "a one",
        "b 'x && y'",
        "tee f",
        'q "multi\nline"    --x',
        "cat > .env <<'EOF'\nA=1\nEOF",
        "last",
    ]
    assert [c.line for c in split_commands(block, 1)] == [1, 1, 1, 2, 5, 8]


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


@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS if c.is_harvester] + inline_commands(),
    ids=lambda c: c.text[:60],
)
def test_every_readme_command_exists_and_its_options_parse(command: Command) -> None:
    words = command.args
    path = command_path(words)
    assert path, f"{command}: no such command"
    group: click.Command = cli
    for name in path:
        assert isinstance(group, click.Group), path
        group = group.commands[name]
    rest = words[len(path) :]
    with group.make_context(" ".join(["harvester", *path]), list(rest), resilient_parsing=False):
        pass


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


def test_an_answer_is_counted_in_every_format() -> None:
    columns, rows = ("n", "text"), [(1, 'a, "b"\nc'), (2, None)]
    for fmt in FORMATS:
        command = Command(1, f'harvester query --format {fmt} "SELECT 1"')
        assert answer_size(command, render(columns, rows, fmt)) == 2, fmt
        assert answer_size(command, render(columns, [], fmt)) == 0, fmt
    plain = Command(1, 'harvester query "SELECT 1"')  # a table by default
    assert answer_size(plain, render(columns, rows, "table")) == 2
    tables = render(("table", "rows"), [("laps", 3)], "table") + "\nno document skipped\n"
    assert answer_size(Command(1, "harvester tables"), tables) == 1
    assert answer_size(Command(1, "harvester runs --since 1d"), render(columns, [], "table")) == 0
    assert answer_size(Command(1, "harvester get member/info"), '{"cust_id": 1}\n') == 1
    assert answer_size(Command(1, "harvester get results/search_series"), "[]\n") == 0
    assert answer_size(Command(1, "harvester get results/get --raw"), "{}\n[1]\n") == 1
    for silent in (
        "harvester tables rebuild",
        "harvester run member_info",
        "harvester status",
        "harvester catalog --format json results/search_series",
    ):
        assert answer_size(Command(1, silent), "anything\n") is None, silent
    assert answer_size(Command(1, "harvester catalog --format csv"), "endpoint\na\n") == 1


# -- running them --------------------------------------------------------------------------


def readme_jobs() -> dict[str, object]:
    """The jobs of the README's jobs.yaml examples, and the my-results set (the demo's)."""
    jobs: dict[str, object] = {}
    for kind, body in BLOCK.findall(README):
        data = yaml.safe_load(body) if kind == "yaml" else None
        if isinstance(data, dict) and isinstance(data.get("jobs"), dict):
            jobs.update(data["jobs"])
    jobs.update(yaml.safe_load(template_text("my-results"))["jobs"])
    return jobs


@dataclass
class Archive:
    folder: Path
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """A folder as the README's set-up leaves it (jobs.yaml, harvester.db, the key, and
    `.venv/bin/harvester`), harvested once from a simulator whose time is now."""
    folder = tmp_path_factory.mktemp("readme")
    simulator = Simulator(SimConfig(rate_limit=None, chunk_size=10), ManualClock(time.time()))
    (folder / "jobs.yaml").write_text(yaml.safe_dump({"jobs": readme_jobs()}), encoding="utf-8")
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "harvester").symlink_to(HARVESTER)
    with RunningSimulator(simulator) as server:
        env = env_for(make_settings(folder, server.url))
        env.update(
            HARVESTER_DATABASE_URL="sqlite:///harvester.db",  # as the README's folder has it
            HARVESTER_JOBS="jobs.yaml",
            HARVESTER_HTTP=f"127.0.0.1:{free_port()}",
            IRACING_CUST_ID=str(simulator.world.config.me_cust_id),
            LOG_LEVEL="WARNING",
            PATH=f"{HARVESTER.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        done = subprocess.run(
            [str(HARVESTER), "run", *readme_jobs()],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield Archive(folder, env)


def pasted(
    command: str, archive: Archive, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command as pasted into sh in the archive's folder, its output and errors apart."""
    text = command.replace("/opt/harvester/.venv/bin/harvester", str(HARVESTER))
    return subprocess.run(
        ["sh", "-c", text],
        cwd=cwd or archive.folder,
        env={**archive.env, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def shell(command: str, archive: Archive, cwd: Path | None = None, **env: str) -> tuple[int, str]:
    """The command as pasted: exit code and all its output."""
    done = pasted(command, archive, cwd, **env)
    return done.returncode, done.stdout + done.stderr


def find(pattern: str) -> Command:
    (command,) = [c for c in TO_RUN if re.search(pattern, c.text)]
    return command


SERVICE = r"harvester start$"
HEALTHCHECK = r"harvester healthcheck\b"


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [c for c in TO_RUN + inline_commands() if not re.search(f"{SERVICE}|{HEALTHCHECK}", c.text)],
    ids=lambda c: c.text[:60],
)
def test_every_readme_command_runs(
    command: Command, archive: Archive, request: pytest.FixtureRequest
) -> None:
    env: dict[str, str] = {}
    cwd = None
    expected, files = DOCUMENTED.get(command.text, (0, {}))
    if files:
        cwd = archive.folder / f"example-{command.line}"
        cwd.mkdir(exist_ok=True)
        for name, content in files.items():
            (cwd / name).write_text(content, encoding="utf-8")
        env.update(
            HARVESTER_JOBS="jobs.yaml",
            HARVESTER_DATABASE_URL=f"sqlite:///{archive.folder / 'harvester.db'}",
        )
    if "$HARVESTER_DATABASE_URL" in command.text:  # the README exported a PostgreSQL URL
        server: PostgresServer = request.getfixturevalue("postgres_server")
        env["HARVESTER_DATABASE_URL"] = server.new_database(migrated=False)
    done = pasted(command.text, archive, cwd, **env)
    code, output = done.returncode, done.stdout + done.stderr
    assert code == expected, f"{command}\nexit {code}:\n{output[-3000:]}"
    for line in command.output:  # what the README shows it print
        assert line in output.splitlines(), f"{command}: README shows {line!r}; got:\n{output}"
    size = answer_size(command, done.stdout) if code == 0 else None
    why_empty = answers_nothing(command)
    if size is not None and why_empty:
        assert size == 0, f"{command}: answers {size} row(s), but ANSWERS_NOTHING: {why_empty}"
    elif size is not None:
        assert size > 0, (
            f"{command}: exits 0 and answers nothing in the README's folder (the simulator's "
            f"world): name ids it has, or say in ANSWERS_NOTHING why it is empty\n{output}"
        )


@pytest.mark.slow
def test_the_service_starts_answers_its_healthcheck_and_stops(archive: Archive) -> None:
    """`harvester start` runs until SIGTERM: started as the README writes it, it is healthy
    by the README's `harvester healthcheck`, then stops cleanly."""
    started = find(SERVICE)
    check = find(HEALTHCHECK + "$")
    waiting = [c for c in inline_commands() if re.search(HEALTHCHECK, c.text)]  # --wait 90
    text = started.text.replace("/opt/harvester/.venv/bin/harvester", str(HARVESTER))
    log = archive.folder / "service.log"
    with log.open("w") as err:
        service = subprocess.Popen(
            ["sh", "-c", f"exec {text}"],
            cwd=archive.folder,
            env=archive.env,
            stdout=err,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            code, output = shell(check.text, archive)
            while code != 0 and time.monotonic() < deadline and service.poll() is None:
                time.sleep(0.2)  # the service is starting (a real process: no clock to move)
                code, output = shell(check.text, archive)
            assert code == 0 and output.startswith("200 ok"), f"{check}: exit {code}: {output}"
            for command in waiting:
                code, output = shell(command.text, archive)
                assert code == 0 and output.startswith("200 ok"), f"{command}: {output}"
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    assert service.returncode == 0, log.read_text()


@pytest.mark.slow
def test_failures_of_the_last_day_compare_times_as_stored(archive: Archive) -> None:
    """The README's query finds a failure 23 h 58 min ago and not one 24 h 2 min ago: it
    compares stored text with text of the same form, never with `datetime('now')`."""
    command = find(r"status <> 'success' AND started_at >")
    copy = archive.folder / "failures.db"
    shutil.copy(archive.folder / "harvester.db", copy)
    now = time.time()
    with sqlite3.connect(copy) as conn:
        for job, ago in (("inside", 86_400 - 120), ("outside", 86_400 + 120)):
            conn.execute(
                "INSERT INTO runs (job, trigger, status, started_at, requests, bytes, "
                "documents_new, documents_dup, rows_new, rows_dup, error) "
                "VALUES (?, 'schedule', 'failed', ?, 0, 0, 0, 0, 0, 0, 'boom')",
                (job, iso_seconds(now - ago)),
            )
    code, output = shell(command.text, archive, HARVESTER_DATABASE_URL=f"sqlite:///{copy}")
    assert code == 0, output
    jobs = {json.loads(line)["job"] for line in output.splitlines() if line.startswith("{")}
    assert "inside" in jobs and "outside" not in jobs
