"""The docs site builds strictly, and its generated references say what the code has: every
click command has its section in the command reference, every column of every analysis table
its row in the column reference, every exported error its row in the library page. And the
README stays a landing page: at most 10 KB, opening with its two commands, the bench table
between its markers."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import harvester
from harvester._cli.main import cli
from harvester._tables.schema import SPECS
from tests.helpers import REPO

MKDOCS = Path(sys.executable).parent / "mkdocs"  # this venv's


def click_commands(group: click.Group, path: tuple[str, ...] = ("harvester",)) -> Iterator[str]:
    """The full path of every command a user can call (`harvester auth login`...)."""
    for name, command in group.commands.items():
        if command.hidden:
            continue
        yield " ".join((*path, name))
        if isinstance(command, click.Group):
            yield from click_commands(command, (*path, name))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (strict: a warning fails), into a folder of its own."""
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(folder)],
        cwd=REPO,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(MKDOCS.parent)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def section(text: str, anchor: str) -> str:
    """The HTML from the heading with this id to the next heading of its level or above."""
    start = text.index(f'id="{anchor}"')
    following = re.search(r"<h[12][ >]", text[start:])
    return text[start : start + following.start()] if following else text[start:]


@pytest.mark.slow
def test_every_click_command_has_its_section_in_the_command_reference(site: Path) -> None:
    reference = page(site, "cli")
    commands = list(click_commands(cli))
    assert len(commands) >= 25
    for command in commands:
        anchor = command.replace(" ", "-")
        assert f'id="{anchor}"' in reference, f"{command} is not in the command reference"
        usage = html.unescape(section(reference, anchor))
        assert f"{command} [OPTIONS]" in usage, f"{command}: no usage line"


@pytest.mark.slow
def test_every_column_has_its_row_in_the_column_reference(site: Path) -> None:
    reference = page(site, "columns")
    for name, spec in SPECS.items():
        rows = section(reference, name)
        for column in spec.columns:
            cell = f"<td><code>{column.name}</code></td>\n<td>{column.kind}</td>"
            assert cell in rows, f"{name}.{column.name} ({column.kind}) is not in its section"
        for endpoint in spec.feeds:
            assert f"<code>{endpoint}</code>" in rows, f"{name}: fed by {endpoint}, not said"


@pytest.mark.slow
def test_every_exported_error_has_its_row_in_the_library_page(site: Path) -> None:
    library = page(site, "library")
    errors = [
        name
        for name in harvester.__all__
        if isinstance(value := getattr(harvester, name), type) and issubclass(value, Exception)
    ]
    assert len(errors) >= 20
    for name in errors:
        assert f"<td><code>{name}</code></td>" in library, f"{name} is not in the library page"


@pytest.mark.slow
def test_the_architecture_page_is_the_repository_s(site: Path) -> None:
    architecture = html.unescape(page(site, "architecture"))
    first = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
    assert first in architecture


README = (REPO / "README.md").read_text(encoding="utf-8")
BENCH_TABLE = re.compile(r"<!-- bench-table:start -->\n(.*?)<!-- bench-table:end -->", re.S)


def test_the_readme_is_a_landing_page() -> None:
    assert len(README.encode()) <= 10 * 1024
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None and README.index("```sh") < README.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_readme_bench_table_is_one_table_between_its_markers() -> None:
    """Another tool rewrites what is between the markers from the bench's JSON: a line saying
    when and where it was measured, a pointer to the full table, then one table, nothing else."""
    (block,) = BENCH_TABLE.findall(README)
    lines = [line for line in block.strip().splitlines() if line.strip()]
    first_row = next(i for i, line in enumerate(lines) if line.startswith("| "))
    assert lines[0].startswith("Measured on ")
    table = lines[first_row:]
    assert len(table) >= 3 and all(row.startswith("| ") and row.endswith(" |") for row in table)
    columns = len(table[0].strip("|").split("|"))
    assert table[1].replace(" ", "").strip("|").split("|") == ["---"] * columns
    assert all(len(row.strip("|").split("|")) == columns for row in table)
