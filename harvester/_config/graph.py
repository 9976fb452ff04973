"""The jobs as a pipeline: which job follows which (pure).

A job's parents are the job its `for_each` reads (a fan-out runs for the values its parent's
runs commit) and the jobs it names in `after:` (it runs after theirs, without reading them).
The edges form a graph that must not hold a cycle (the parser refuses one, with file:line); its
order puts every parent before its children, so a start-up or a reload that finds several jobs
due runs them as one pass down the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .jobs import JobSpec


def parents_of(spec: JobSpec) -> tuple[str, ...]:
    """The jobs `spec` follows: its fan-out's parent first, then its `after` jobs, once each."""
    named = ([spec.for_each.job] if spec.for_each is not None else []) + list(spec.after)
    return tuple(dict.fromkeys(named))


def find_cycle(parents: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of the graph as the jobs along it, the first one repeated at the end
    (`[a, b, a]`), or None. Edges to jobs not in `parents` are ignored."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for parent in parents.get(name, ()):
            if parent not in parents:
                continue
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if parent not in state and (found := walk(parent)) is not None:
                return found
        path.pop()
        state[name] = 2
        return None

    for name in parents:
        if name not in state and (found := walk(name)) is not None:
            return found
    return None


@dataclass(frozen=True)
class JobGraph:
    """Parents and children of the jobs of one file, and an order with parents first."""

    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    order: tuple[str, ...] = ()  # every job after all of its parents; else in file order

    @classmethod
    def of(cls, jobs: Mapping[str, JobSpec]) -> JobGraph:
        """The graph of `jobs` (edges to jobs not among them are left out). The graph must be
        acyclic, as the parser makes it; a cycle would leave its jobs out of `order`."""
        parents = {
            name: tuple(p for p in parents_of(spec) if p in jobs) for name, spec in jobs.items()
        }
        children: dict[str, list[str]] = {name: [] for name in jobs}
        for name, named in parents.items():
            for parent in named:
                children[parent].append(name)
        placed: dict[str, None] = {}
        waiting = list(jobs)
        while waiting:
            ready = [n for n in waiting if all(p in placed for p in parents[n])]
            if not ready:
                break  # a cycle: not placed
            placed.update(dict.fromkeys(ready))
            waiting = [n for n in waiting if n not in placed]
        return cls(parents, {n: tuple(c) for n, c in children.items()}, tuple(placed))

    def rank(self) -> dict[str, int]:
        """Each job's place in `order` (for sorting jobs due together)."""
        return {name: i for i, name in enumerate(self.order)}
