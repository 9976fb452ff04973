"""The import rules of ARCHITECTURE.md are import-linter contracts (`make lint`). Here each kind
of rule is broken on purpose, in a copy of the package, and the contract must see it: a
contract that stopped checking (a renamed package, a typo in pyproject.toml) fails this test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# a file of the package, a line added to it, and the contract that must then be broken
BREAKS = [
    ("harvester/_observe/web/svg.py", "import harvester._service.runner", "Stages import"),
    ("harvester/_core/text.py", "from harvester import _store", "Stages import"),
    (
        "harvester/simulator/messages.py",
        "from harvester._core import clock",
        "The simulator imports",
    ),
    ("harvester/_service/runtime.py", "import harvester.simulator", "Only the command line"),
    ("harvester/_oauth/tokens.py", "from harvester._oauth import session", "The OAuth session"),
    ("harvester/_archive/archive.py", "import psycopg", "psycopg only"),
    ("harvester/_service/scheduler.py", "import apscheduler", "APScheduler only"),
    ("harvester/_config/catalog.py", "import alembic", "Alembic only"),
    ("harvester/_observe/alerts.py", "import apprise", "Apprise, requests and Jinja2 only"),
]


def _lint(root: Path) -> str:
    ran = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    return ran.stdout + ran.stderr


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("house")
    shutil.copytree(
        REPO / "harvester", root / "harvester", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.slow
def test_the_house_keeps_every_contract(copy: Path) -> None:
    output = _lint(copy)
    assert "BROKEN" not in output and " kept, 0 broken." in output, output


@pytest.mark.slow
def test_each_kind_of_rule_broken_is_seen(copy: Path) -> None:
    for path, line, contract in BREAKS:
        target = copy / path
        original = target.read_text()
        target.write_text(original + f"\n{line}  # noqa\n")
        try:
            output = _lint(copy)
        finally:
            target.write_text(original)
        broken = [row for row in output.splitlines() if row.endswith("BROKEN")]
        assert any(contract in row for row in broken), f"{path}: {line!r}\n{output}"


def test_no_text_of_the_package_sends_a_reader_to_the_readme() -> None:
    """What the README said moved to the docs site: help, errors, comments and templates name
    the docs page (docs/jobs.md...), never "the README"."""
    package = REPO / "harvester"
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(package.rglob("*"))
        if path.suffix in (".py", ".yaml")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "readme" in line.lower()
    ]
    assert not found, found
