"""Every scenario of the bench: its name, what it measures, and how long it may take.

A scenario is a module `bench.<name>` with `run(Options) -> list[Result]`; add a module and
one line to SCENARIOS to extend the bench. Each runs in a process of its own (isolate.py). The
limits are wall-clock seconds on a loaded 2-core machine, several times what a run takes there,
so that a scenario that hangs is stopped and reported while the others still run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from .common import Options, Result


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    quick_limit: float  # seconds, with --quick
    full_limit: float  # seconds, full size
    target: str = ""  # `module:function` to run; default `bench.<name>:run`

    def limit(self, quick: bool) -> float:
        return self.quick_limit if quick else self.full_limit

    @property
    def entry(self) -> str:
        return self.target or f"bench.{self.name}:run"


def load(entry: str) -> Callable[[Options], list[Result]]:
    """The function `module:function` names, imported now (in the process that runs it)."""
    module_name, _, function = entry.partition(":")
    run: Callable[[Options], list[Result]] = getattr(
        importlib.import_module(module_name), function or "run"
    )
    return run


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("pipeline", "CPU per stored document against a bare loop", 150, 1800),
        Scenario("ratebudget", "share of iRacing's allowance used, 429s earned", 90, 900),
        Scenario("memory", "peak RSS while storing a ~100 MB chunked result", 120, 1800),
        Scenario("tokens", "OAuth grants over simulated days with restarts", 90, 1200),
        Scenario("chunks", "parallel chunk download against a sequential loop", 120, 1200),
        Scenario("archive", "the archive's queries at a million result rows", 90, 1800),
        Scenario("scheduler", "start-up and idle CPU with a thousand jobs", 90, 900),
        Scenario("postgres", "PostgreSQL against SQLite: ingest, queries, takeover", 180, 3600),
        Scenario("tables", "the analysis-ready tables: queries, rebuild, harvest cost", 180, 5400),
        Scenario("dashboard", "the service's pages on a big run history", 90, 1200),
        Scenario("freshness", "a new race from a search answer to the tables", 120, 1200),
        Scenario("feeds", "a stored row to a loopback receiver; 10,000 rows; kill -9", 240, 2400),
        Scenario("takeover", "a standby replacing a frozen, cut-off or killed active", 300, 2400),
    )
}
