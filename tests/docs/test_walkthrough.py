"""The walkthrough (docs/walkthrough.md) runs as a reader follows it: its shell blocks in order,
in a folder of its own with nothing of the test's settings, the simulator and the service
started as the page starts them and left running, the dashboard asked where the page points,
and every output the page shows (its `text` blocks) found in what the commands just before it
printed, numbers, times and column widths aside. Only the ports differ from the page: the
machine is shared, so the test picks free ones (the simulator's `--port`, HARVESTER_HTTP)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.docs.pages import BLOCK, WALKTHROUGH, Command, answer_size, page_text, split_commands
from tests.helpers import db_rows, wait_for

BIN = Path(sys.executable).parent  # this venv's harvester
DASHBOARD = re.compile(r"<(http://127\.0\.0\.1:8686/[^>]*)>")
ELIDED = "..."  # a line of an excerpt that stands for lines left out


@dataclass
class Step:
    line: int  # in the page
    commands: list[Command] = field(default_factory=list)  # a shell block
    shown: list[str] = field(default_factory=list)  # an output excerpt
    dashboard: str = ""  # the URL the page sends the reader to


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def walkthrough() -> list[Step]:
    """The page's shell blocks, output excerpts and dashboard link, in the page's order."""
    text = page_text(WALKTHROUGH)
    steps: list[Step] = []
    for match in BLOCK.finditer(text):
        kind, body = match.group(1), match.group(2)
        line = text[: match.start(2)].count("\n") + 1
        if kind == "sh":
            steps.append(Step(line, commands=split_commands(body, line, WALKTHROUGH, pipes=False)))
        elif kind == "text":
            steps.append(Step(line, shown=[s for s in body.splitlines() if s.strip() != ELIDED]))
        else:
            raise AssertionError(f"{WALKTHROUGH}:{line}: a ```{kind} block this test cannot run")
    for match in DASHBOARD.finditer(text):
        steps.append(Step(text[: match.start()].count("\n") + 1, dashboard=match.group(1)))
    return sorted(steps, key=lambda step: step.line)


def shape(line: str) -> str:
    """A line with what changes from run to run made alike: numbers (ids, counts, times,
    ports), the width of a table's columns and of the dashes under its header."""
    line = re.sub(r"\d+", "0", line)
    return " ".join(re.sub(r"-{2,}", "-", line).split())


def serves(command: Command) -> bool:
    """A command the page leaves running: written with `&`, or the simulator, or the service."""
    words = shlex.split(command.text)
    return command.background or (
        Path(words[0]).name == "harvester" and words[1:2] in (["simulate"], ["start"])
    )


@dataclass
class Reader:
    """The reader's shell: a folder, an environment, and what they left running."""

    folder: Path
    logs: Path  # where the output of what is left running goes (outside the reader's folder)
    env: dict[str, str]
    simulator_port: int
    http_port: int
    running: list[tuple[Command, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def pasted(self, command: Command) -> str:
        """The command as the page writes it, but on the ports this test picked."""
        return command.text.replace(
            "harvester simulate", f"harvester simulate --port {self.simulator_port}"
        ).replace("127.0.0.1:8686", f"127.0.0.1:{self.http_port}")

    def run(self, command: Command) -> list[str]:
        """Run a command as the page does; the lines it printed (so far, for one it left
        running)."""
        if command.text.startswith("cd "):
            self.folder = self.folder / command.text.removeprefix("cd ").strip()
            assert self.folder.is_dir(), f"{command}: no such folder"
            return []
        if serves(command):
            log = self.logs / f"job-{len(self.running) + 1}.log"
            pasted = self.pasted(command)
            if "|" not in pasted:
                pasted = f"exec {pasted}"  # the command itself is the job, not a shell around it
            with log.open("wb") as out:
                process = subprocess.Popen(
                    ["sh", "-c", pasted],
                    cwd=self.folder,
                    env=self.env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,  # its own process group, as a terminal's job is
                )
            self.running.append((command, process, log))
            return []
        done = subprocess.run(
            ["sh", "-c", self.pasted(command)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}\nexit {done.returncode}:\n{output[-3000:]}"
        if command.words[:1] == ["harvester"]:
            size = answer_size(command, done.stdout)
            assert size is None or size > 0, f"{command}: answers nothing\n{output}"
        return output.splitlines()

    def printed_by_running(self) -> list[str]:
        return [line for _, _, log in self.running for line in log.read_text().splitlines()]

    def stop(self) -> None:
        """What the page ends with: `kill %1` for the service, Ctrl-C for the simulator (each
        signal to the process group of what was left running, as a shell's job control does);
        the service must then stop cleanly."""
        for command, process, _ in reversed(self.running):
            if process.poll() is None:
                is_service = " start" in command.text
                os.killpg(process.pid, signal.SIGTERM if is_service else signal.SIGINT)
                process.wait(timeout=60)
        for command, process, log in self.running:
            if " start" in command.text:
                assert process.returncode == 0, f"{command}: {log.read_text()[-3000:]}"


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    """A new folder and an environment with none of the test's settings: only PATH (this
    venv's harvester first) and HOME, and HARVESTER_HTTP on a free port."""
    http_port = free_port()
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HARVESTER_HTTP": f"127.0.0.1:{http_port}",
    }
    (tmp_path / "logs").mkdir()
    (tmp_path / "home").mkdir()
    env["HOME"] = str(tmp_path / "home")
    reader = Reader(tmp_path / "home", tmp_path / "logs", env, free_port(), http_port)
    try:
        yield reader
    finally:
        reader.stop()


def test_the_walkthrough_shows_the_whole_way() -> None:
    steps = walkthrough()
    texts = [c.text for step in steps for c in step.commands]
    assert any(t.startswith("harvester simulate") and t.endswith("| tee .env") for t in texts)
    assert any(t.startswith("harvester start") for t in texts)
    assert any(t.startswith("harvester healthcheck") for t in texts)
    assert len([t for t in texts if t.startswith("harvester query")]) >= 2
    assert [step.dashboard for step in steps if step.dashboard] == ["http://127.0.0.1:8686/"]
    assert sum(bool(step.shown) for step in steps) >= 6


def test_an_excerpt_line_is_alike_whatever_the_numbers_and_widths() -> None:
    table = ["id  job         status", "--  ----------  -------", "12  my_results  success"]
    assert shape("id  job  status") == shape(table[0])
    assert shape("-  ---  -") == shape(table[1])
    assert shape("7   my_results  success") == shape(table[2])
    assert shape("3   my_results  failed") != shape(table[2])
    assert shape("export HARVESTER_CLOCK=scaled:60@1796613683.469") == shape(
        "export HARVESTER_CLOCK=scaled:60@1800000000.1"
    )


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(reader: Reader) -> None:
    printed: list[str] = []  # by the commands of the last shell block
    for step in walkthrough():
        if step.commands:
            printed = [line for command in step.commands for line in reader.run(command)]
        elif step.shown:
            excerpt_is_printed(step, printed, reader)
        else:
            dashboard_answers(reader, step.dashboard)


def excerpt_is_printed(step: Step, printed: list[str], reader: Reader) -> None:
    """Each line the page shows was printed by the block before it, or by what it left
    running: that output comes while the simulator starts, and the reader waits for it."""

    def missing() -> list[str]:
        got = {shape(line) for line in printed + reader.printed_by_running()}
        return [line for line in step.shown if shape(line) not in got]

    try:
        wait_for(lambda: not missing(), timeout=60)
    except AssertionError:
        got = "\n".join(printed + reader.printed_by_running())
        raise AssertionError(
            f"{WALKTHROUGH}:{step.line}: the page shows {missing()}; printed:\n{got}"
        ) from None


def dashboard_answers(reader: Reader, url: str) -> None:
    """The page's dashboard answers with every job of the folder's jobs.yaml; then, as the
    page says, every job runs once within seconds (the steps after it show their outcome)."""
    jobs = [*yaml.safe_load((reader.folder / "jobs.yaml").read_text())["jobs"], "catalog"]
    page = httpx.get(url.replace(":8686/", f":{reader.http_port}/"), timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    missing = [job for job in jobs if f">{job}<" not in page.text]
    assert not missing, f"the dashboard does not show {missing}"
    ran = "SELECT count(DISTINCT job) FROM runs WHERE finished_at IS NOT NULL"
    wait_for(lambda: db_rows(reader.folder / "harvester.db", ran) == [(len(jobs),)], timeout=120)
