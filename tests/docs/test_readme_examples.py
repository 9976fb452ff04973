"""Every command in the shell blocks of README.md and of the docs site's pages (docs/*.md)
runs, as pasted, against an archive harvested from the simulator, or is in EXCLUDED with the
reason it cannot run here (the walkthrough's run in order, in a folder of their own:
test_walkthrough.py). A command added to a page later is picked up without touching this test;
one that is neither run nor excluded, and an exclusion that no longer matches anything, fail
it. A command that prints an answer (rows, or `harvester get`'s JSON) must answer something
there, or be in ANSWERS_NOTHING with why it rightly answers nothing: an example naming ids the
simulator's world lacks fails. Every Python example runs too."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from harvester._cli.main import cli
from harvester._cli.output import FORMATS, render
from harvester._core.clock import ManualClock, iso_seconds, parse_iso
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.docs.pages import (
    BLOCK,
    WALKTHROUGH,
    Command,
    answer_size,
    command_path,
    documented_jobs,
    inline_commands,
    page_commands,
    page_names,
    page_text,
    split_commands,
)
from tests.helpers import PostgresServer, env_for, make_settings

HARVESTER = Path(sys.executable).parent / "harvester"  # this venv's
TIMEOUT = 120.0

# What cannot run in a test, and why (matched against each command as the page writes it).
EXCLUDED: dict[str, str] = {
    r"^make (demo|test)$": "the demo and the whole suite: tests/service/test_service_process.py "
    "runs `harvester demo`, and `make test` is what runs this test",
    r"^(sudo )?(python3 -m venv|\S*pip install)": "installs from PyPI (no network in tests); "
    ".ci/run proves `pip install .` into a fresh venv",
    r"^(cp jobs\.yaml my-jobs\.yaml|cat > \.env <<)": "a real set-up with placeholder "
    "credentials; the test's folder has its own jobs and the simulator's settings",
    r"^sudo ": "changes this machine as root (users, /opt, /etc, systemd); the unit is checked by "
    "tests/observe/test_web_deploy.py, and the harvester commands here run as the test's user",
    r"^datasette ": "serves until stopped; tests/tables/test_cli.py opens the archive in "
    "Datasette (a dev dependency) with the metadata of the `harvester datasette-metadata` here, "
    "which runs",
    r"^export HARVESTER_DATABASE_URL=postgresql://harvester@db\.example\.com/": "an example "
    "server; the `harvester db copy` below runs against a PostgreSQL test database instead",
    r"::json|to_char\(": "PostgreSQL's dialect (docs/postgres.md): tests/docs/test_queries.py runs "
    "it on a PostgreSQL copy of this archive",
    r"^harvester mcp": "serves until stopped (stdio or HTTP): tests/mcp drives `python -m "
    "harvester mcp` with the MCP SDK's own client over both transports, `--folder` and the "
    "token rule included",
}

# Examples whose answer is rightly empty in the test's folder, and why. Every other command
# that prints an answer (rows of `--format`, or `harvester get`'s JSON) must answer something:
# an example that exits 0 with nothing shows a reader nothing.
ANSWERS_NOTHING: dict[str, str] = {
    r"status <> 'success' AND started_at >": "failures of the last day: every run of the "
    "folder succeeded (test_failures_of_the_last_day_compare_times_as_stored gives it some)",
    r"^harvester runs --status failed": "failed runs of the last day: the same",
    r"FROM tables_skipped": "the tables take every document the simulator serves",
}

# A console example's documented failure: its exit code and the files it is shown with.
BAD_JOBS = "jobs:\n  a:\n    endpoint: member/info\n    evry: 1h\n"
DOCUMENTED = {"harvester jobs validate": (1, {"jobs.yaml": BAD_JOBS})}


def unique(commands: list[Command]) -> list[Command]:
    """The first of each command text: one written on several pages runs once."""
    seen: dict[str, Command] = {}
    for command in commands:
        seen.setdefault(command.text, command)
    return list(seen.values())


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


PAGES = page_names()
COMMANDS = [command for page in PAGES for command in page_commands(page)]
INLINE = [command for page in PAGES for command in inline_commands(page)]
# the walkthrough's commands run in order in their own folder (test_walkthrough.py)
TO_RUN = [c for c in COMMANDS if c.page != WALKTHROUGH and exclusion(c) is None]
INLINE_TO_RUN = [c for c in INLINE if c.page != WALKTHROUGH and exclusion(c) is None]


def test_the_pages_show_commands_and_queries() -> None:
    assert len([c for c in TO_RUN if c.args[:1] == ["query"]]) >= 5
    assert len(unique(TO_RUN)) >= 25
    with_commands = {c.page for c in COMMANDS}
    assert "README.md" in with_commands
    assert len(with_commands) >= 10, f"only these pages show commands: {sorted(with_commands)}"


def test_every_command_is_run_or_excluded_with_a_reason() -> None:
    neither = [str(c) for c in TO_RUN if not c.is_harvester]
    assert not neither, "run by nothing and not in EXCLUDED:\n" + "\n".join(neither)
    unused = [p for p in EXCLUDED if not any(re.search(p, c.text) for c in COMMANDS)]
    assert not unused, f"exclusions that match no command of the pages any more: {unused}"
    answers = [c for c in TO_RUN + INLINE_TO_RUN if answer_size(c, "") is not None]
    stale = [p for p in ANSWERS_NOTHING if not any(re.search(p, c.text) for c in answers)]
    assert not stale, f"ANSWERS_NOTHING entries that match no answer of the pages any more: {stale}"


def test_the_parser_reads_shell_as_sh_does() -> None:
    block = (
        "a one && b 'x && y' | tee f  # c\n"
        'q "multi\nline" \\\n  --x\n'
        "cat > .env <<'EOF'  # note\nA=1\nEOF\nlast\n"
        "serve 2>&1 > log &\nthen\n"
    )
    commands = split_commands(block, 1)
    assert [c.text for c in commands] == [
        "a one",
        "b 'x && y'",
        "tee f",
        'q "multi\nline"    --x',
        "cat > .env <<'EOF'\nA=1\nEOF",
        "last",
        "serve 2>&1 > log",
        "then",
    ]
    assert [c.line for c in commands] == [1, 1, 1, 2, 5, 8, 9, 10]
    assert [c.text for c in commands if c.background] == ["serve 2>&1 > log"]
    whole = split_commands("a | tee f && b || c\n", 1, pipes=False)
    assert [c.text for c in whole] == ["a | tee f", "b", "c"]
    redirected = Command("README.md", 1, "X=1 harvester start 2> log >>out 2>&1 --http off")
    assert redirected.words == ["harvester", "start", "--http", "off"]


@pytest.mark.parametrize(
    "command",
    unique([c for c in COMMANDS if c.is_harvester] + INLINE),
    ids=lambda c: c.text[:60],
)
def test_every_command_exists_and_its_options_parse(command: Command) -> None:
    words = command.args
    path = command_path(words)
    assert path, f"{command}: no such command"
    group: click.Command = cli
    for name in path:
        assert isinstance(group, click.Group), path
        group = group.commands[name]
    rest = words[len(path) :]
    try:
        with group.make_context(" ".join(["harvester", *path]), list(rest)):
            pass
    except click.BadParameter as exc:
        # a folder the page names on the reader's machine (/opt/harvester): the option exists
        # and its value has the right form; only the folder is not on this one
        if not (isinstance(exc.param and exc.param.type, click.Path) and "not exist" in str(exc)):
            raise


def test_an_answer_is_counted_in_every_format() -> None:
    columns, rows = ("n", "text"), [(1, 'a, "b"\nc'), (2, None)]
    for fmt in FORMATS:
        command = Command("README.md", 1, f'harvester query --format {fmt} "SELECT 1"')
        assert answer_size(command, render(columns, rows, fmt)) == 2, fmt
        assert answer_size(command, render(columns, [], fmt)) == 0, fmt
    plain = Command("README.md", 1, 'harvester query "SELECT 1"')  # a table by default
    assert answer_size(plain, render(columns, rows, "table")) == 2

    def size(text: str, stdout: str) -> int | None:
        return answer_size(Command("README.md", 1, text), stdout)

    tables = render(("table", "rows"), [("laps", 3)], "table") + "\nno document skipped\n"
    assert size("harvester tables", tables) == 1
    assert size("harvester runs --since 1d", render(columns, [], "table")) == 0
    assert size("harvester get member/info", '{"cust_id": 1}\n') == 1
    assert size("harvester get results/search_series", "[]\n") == 0
    assert size("harvester get results/get --raw", "{}\n[1]\n") == 1
    for silent in (
        "harvester tables rebuild",
        "harvester run member_info",
        "harvester status",
        "harvester catalog --format json results/search_series",
    ):
        assert size(silent, "anything\n") is None, silent
    assert size("harvester catalog --format csv", "endpoint\na\n") == 1


# -- running them --------------------------------------------------------------------------


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
    """A folder as the set-up pages leave it (jobs.yaml, harvester.db, the key, and
    `.venv/bin/harvester`), harvested once from a simulator whose time is now."""
    folder = tmp_path_factory.mktemp("readme")
    simulator = Simulator(SimConfig(rate_limit=None, chunk_size=10), ManualClock(time.time()))
    jobs = documented_jobs()
    (folder / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}), encoding="utf-8")
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "harvester").symlink_to(HARVESTER)
    with RunningSimulator(simulator) as server:
        env = env_for(make_settings(folder, server.url))
        env.update(
            HARVESTER_DATABASE_URL="sqlite:///harvester.db",  # as the set-up's folder has it
            HARVESTER_JOBS="jobs.yaml",
            HARVESTER_HTTP=f"127.0.0.1:{free_port()}",
            IRACING_CUST_ID=str(simulator.world.config.me_cust_id),
            LOG_LEVEL="WARNING",
            PATH=f"{HARVESTER.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        done = subprocess.run(
            [str(HARVESTER), "run", *jobs],
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
    process = subprocess.Popen(
        ["sh", "-c", text],
        cwd=cwd or archive.folder,
        env={**archive.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a command that outlives its time is killed with its children
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"{command}: still running after {TIMEOUT:g} s (killed)") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def shell(command: str, archive: Archive, cwd: Path | None = None, **env: str) -> tuple[int, str]:
    """The command as pasted: exit code and all its output."""
    done = pasted(command, archive, cwd, **env)
    return done.returncode, done.stdout + done.stderr


def matching(pattern: str) -> list[Command]:
    return [c for c in unique(TO_RUN + INLINE_TO_RUN) if re.search(pattern, c.text)]


SERVICE = r"harvester start$"
HEALTHCHECK = r"harvester healthcheck\b"


RUN_ONCE = [c for c in unique(TO_RUN + INLINE_TO_RUN) if not re.search(SERVICE, c.text)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [c for c in RUN_ONCE if not re.search(HEALTHCHECK, c.text)],  # those need the service
    ids=lambda c: c.text[:60],
)
def test_every_command_runs(
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
    if "$HARVESTER_DATABASE_URL" in command.text:  # the page exported a PostgreSQL URL
        server: PostgresServer = request.getfixturevalue("postgres_server")
        env["HARVESTER_DATABASE_URL"] = server.new_database(migrated=False)
    done = pasted(command.text, archive, cwd, **env)
    code, output = done.returncode, done.stdout + done.stderr
    assert code == expected, f"{command}\nexit {code}:\n{output[-3000:]}"
    for line in command.output:  # what the page shows it print
        assert line in output.splitlines(), f"{command}: the page shows {line!r}; got:\n{output}"
    size = answer_size(command, done.stdout) if code == 0 else None
    why_empty = answers_nothing(command)
    if size is not None and why_empty:
        assert size == 0, f"{command}: answers {size} row(s), but ANSWERS_NOTHING: {why_empty}"
    elif size is not None:
        assert size > 0, (
            f"{command}: exits 0 and answers nothing in the set-up's folder (the simulator's "
            f"world): name ids it has, or say in ANSWERS_NOTHING why it is empty\n{output}"
        )


@pytest.mark.slow
def test_the_service_starts_answers_its_healthcheck_and_stops(archive: Archive) -> None:
    """`harvester start` runs until SIGTERM: started as each page writes it, it is healthy by
    the pages' `harvester healthcheck`, then stops cleanly."""
    starts = matching(SERVICE)
    checks = matching(HEALTHCHECK)
    assert starts and checks
    first = next(c for c in checks if c.text.endswith("healthcheck"))  # no --wait: asks once
    for started in starts:
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
                code, output = shell(first.text, archive)
                while code != 0 and time.monotonic() < deadline and service.poll() is None:
                    time.sleep(0.2)  # the service is starting (a real process: no clock to move)
                    code, output = shell(first.text, archive)
                assert code == 0 and output.startswith("200 ok"), f"{first}: exit {code}: {output}"
                for command in checks:
                    code, output = shell(command.text, archive)
                    assert code == 0 and output.startswith("200 ok"), f"{command}: {output}"
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(timeout=60)
        assert service.returncode == 0, f"{started}\n{log.read_text()}"


@pytest.mark.slow
def test_failures_of_the_last_day_compare_times_as_stored(archive: Archive) -> None:
    """The pages' query finds a failure 23 h 58 min ago and not one 24 h 2 min ago: it
    compares stored text with text of the same form, never with `datetime('now')`."""
    (command,) = matching(r"status <> 'success' AND started_at >")
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


# -- the Python examples -------------------------------------------------------------------

PYTHON = [
    (page, page_text(page)[: match.start()].count("\n") + 2, match.group(2))
    for page in PAGES
    for match in BLOCK.finditer(page_text(page))
    if match.group(1) == "python"
]
# what an example may print after the member's name and id, and how each line is checked
PRINTED = re.compile(r"(\d+) races|\d+ requests left until .+|access token valid until 20.+")


@pytest.mark.slow
@pytest.mark.parametrize(("page", "line", "code"), PYTHON, ids=[f"{p}:{n}" for p, n, _ in PYTHON])
def test_every_python_example_runs(page: str, line: int, code: str, tmp_path: Path) -> None:
    """Each Python example of the pages runs against the simulator with the settings of the
    environment, as a script would, and prints what its comments say."""
    # the server's time stands in 2026 Q4 (the examples ask for its races), whatever the date
    sim = Simulator(SimConfig(), ManualClock(parse_iso("2026-11-15T00:00:00Z")))
    with RunningSimulator(sim) as server:
        env = env_for(make_settings(tmp_path, server.url))
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    where = f"{page}:{line}"
    assert done.returncode == 0, f"{where}: {done.stderr}"
    first, *rest = done.stdout.splitlines()
    assert first.endswith(str(sim.world.config.me_cust_id)), f"{where}: {first}"
    for printed in rest:
        match = PRINTED.fullmatch(printed)
        assert match, f"{where}: prints {printed!r}"
        assert match.group(1) is None or int(match.group(1)) > 100, f"{where}: {printed}"


def test_the_library_page_and_the_readme_show_python() -> None:
    assert {page for page, _, _ in PYTHON} >= {"README.md", "docs/library.md"}
