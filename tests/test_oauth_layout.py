"""The oauth package's import rules, checked on the source: what each module may stand on."""

from __future__ import annotations

import ast
from pathlib import Path

import harvester

PACKAGE = Path(harvester.__file__).parent


def _harvester_imports(path: Path) -> set[str]:
    """The harvester modules a file imports, as dotted names relative to `harvester`."""
    relative = path.relative_to(PACKAGE).with_suffix("")
    package = list(relative.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                if node.module is None:  # `from .. import db`
                    found.update(".".join([*base, alias.name]) for alias in node.names)
                    continue
                module = ".".join([*base, *node.module.split(".")])
            elif node.module and node.module.startswith("harvester."):
                module = node.module.removeprefix("harvester.")
            else:
                continue
            found.add(module)
    return found


def test_the_simulator_imports_only_pure_helpers_of_harvester() -> None:
    allowed = {"clock", "oauth.masking"}
    for path in (PACKAGE / "simulator").rglob("*.py"):
        outside = {
            m
            for m in _harvester_imports(path)
            if m != "simulator" and not m.startswith("simulator")
        }
        assert outside <= allowed, f"{path.name} imports {sorted(outside - allowed)}"


def test_oauth_modules_import_in_one_direction() -> None:
    rules = {
        "masking": set(),
        "tokens": set(),
        "keys": {"db", "errors", "settings"},
        "endpoint": {"clock", "errors", "logs", "retry", "settings", "oauth.tokens"},
        "store": {
            "clock",  # the ISO form auth_events.at is stored in
            "db",
            "errors",
            "models",
            "redact",
            "retry",
            "settings",
            "oauth.keys",
            "oauth.tokens",
        },
    }
    for name, allowed in rules.items():
        imported = _harvester_imports(PACKAGE / "oauth" / f"{name}.py")
        assert imported <= allowed, f"oauth/{name} imports {sorted(imported - allowed)}"
    assert _harvester_imports(PACKAGE / "oauth" / "__init__.py") == set()


def test_the_web_package_never_imports_what_runs_jobs() -> None:
    """ARCHITECTURE.md: web/ reads what the service holds and what the database holds; the
    service starts it (lazily), so web/ must not import the service, runner or scheduler back,
    not even for types (a protocol names what it reads)."""
    forbidden = {"service", "runner", "scheduler", "backfill"}
    for path in (PACKAGE / "web").rglob("*.py"):
        imported = _harvester_imports(path)
        assert not imported & forbidden, f"web/{path.name} imports {sorted(imported & forbidden)}"
