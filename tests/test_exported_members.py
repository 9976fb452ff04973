"""`import harvester` is the library API and nothing else: every public name of the package is
in `__all__` and every name of `__all__` is there (the packages behind it are private by name)."""

from __future__ import annotations

import json
import subprocess
import sys

import harvester

EXTRA_DUNDERS = ["__version__"]  # the dunders that are part of the API


def _public_names_of_a_fresh_import() -> list[str]:
    """What `import harvester` binds, in a new interpreter: in this one, other tests' imports
    of `harvester.simulator` (a public package of its own) add names to the module."""
    program = "import harvester, json; print(json.dumps(list(vars(harvester))))"
    names: list[str] = json.loads(
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        ).stdout
    )
    return [n for n in names if not n.startswith("_") or n in EXTRA_DUNDERS]


def test_all_public_names_are_exported() -> None:
    assert harvester.__all__ == sorted(_public_names_of_a_fresh_import())


def test_every_error_a_user_can_catch_is_exported_by_name() -> None:
    """Each error class of the packages behind the API that derives from HarvesterError."""
    seen: set[type[BaseException]] = set()
    stack: list[type[BaseException]] = [harvester.HarvesterError]
    while stack:
        cls = stack.pop()
        seen.add(cls)
        stack.extend(c for c in cls.__subclasses__() if not c.__name__.startswith("_"))
    internal = {"FanOutIncomplete", "LostActiveLock", "ReadOnlyViolation"}  # the service's own
    exported = {name for name in harvester.__all__ if isinstance(getattr(harvester, name), type)}
    assert {cls.__name__ for cls in seen} - internal <= exported


def test_the_api_names_the_package_it_is_met_in() -> None:
    assert harvester.Api.__module__ == "harvester"
    assert repr(harvester.TokenRejected) == "<class 'harvester.TokenRejected'>"
