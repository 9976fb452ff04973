"""The world's modules import one way: `core` -> `handlers` -> the endpoint families -> `state`
-> the builders; no family imports another, and nothing imports back up (no import circle).
Read from the source, so a new module is held to it as soon as it exists."""

from __future__ import annotations

import ast
from pathlib import Path

from harvester.simulator.world import handlers
from tests.helpers import REPO

WORLD = REPO / "harvester" / "simulator" / "world"
FAMILIES = {family.__name__.rsplit(".", 1)[1] for family in handlers.FAMILIES}
TOP = {"core": 0, "handlers": 1, **dict.fromkeys(FAMILIES, 2), "state": 3}
BUILDER = 4  # every other module: what the families build documents from


def imported(path: Path) -> set[str]:
    """The world's modules `path` imports (relative imports within the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return {name for name in found if (WORLD / f"{name}.py").exists()}


GRAPH = {p.stem: imported(p) for p in WORLD.glob("*.py") if p.stem != "__init__"}


def rank(module: str) -> int:
    return TOP.get(module, BUILDER)


def test_imports_run_down_the_layers() -> None:
    wrong = [
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if rank(target) <= rank(module) and not rank(module) == rank(target) == BUILDER
    ]
    assert not wrong, f"imports running up or across the layers: {wrong}"


def test_the_world_has_no_import_circle() -> None:
    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(GRAPH[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(GRAPH.get(name, ()))
        return seen

    circles = sorted(name for name in GRAPH if name in reach(name))
    assert not circles, f"modules that import themselves through others: {circles}"


def test_every_endpoint_is_answered_by_exactly_one_family() -> None:
    from harvester.simulator.world.table import ENDPOINTS

    claimed = [path for family in handlers.FAMILIES for path in family.HANDLERS]
    assert len(claimed) == len(set(claimed)) == len(ENDPOINTS) == 74
    assert set(claimed) == set(ENDPOINTS)
