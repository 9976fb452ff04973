"""Which due runs start now, which wait for a parent, which are skipped (pure: `pipeline` holds
its lock around every call and does what the answer says).

The rules, for a job that comes due for any cause (its schedule, the start-up, a reload, a
retry, a parent's run that committed new values):

- a run of the job is claimed already (waiting for a worker, or going): the due run is
  `skipped`, as always; if a parent started it, it runs once right after the one in flight
  (several such triggers meanwhile make one run);
- one of its parents is claimed, or itself waiting: it waits, and runs once when none is (a
  chain due together at start-up flows down in one pass, parents first); a parent's run that
  ends while it waits becomes its `parent_run`, and starts nothing more for it;
- otherwise it starts now.

So a child never runs twice for one parent run: the run that waited, or the one right after a
run in flight, covers every parent run that ended meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .._archive.run import Trigger
from .._config.graph import JobGraph


@dataclass(frozen=True)
class Cause:
    """What starts a run: its trigger, and the parent's run when it followed one."""

    trigger: str = Trigger.SCHEDULE
    parent_run: int | None = None


@dataclass
class Actions:
    """What the service does after a call: start these runs, record these as skipped."""

    start: list[tuple[str, Cause]] = field(default_factory=list)
    skipped: list[tuple[str, Cause]] = field(default_factory=list)


class Dispatch:
    """The claimed, waiting and follow-up runs of the service's jobs."""

    def __init__(self) -> None:
        self.graph = JobGraph()
        self.claimed: set[str] = set()  # a run queued for a worker or going
        self.waiting: dict[str, Cause] = {}  # due, waiting for a parent
        self.after_current: dict[str, Cause] = {}  # to run once the claimed run ends

    def busy(self, name: str) -> bool:
        return name in self.claimed or name in self.waiting

    def use(self, graph: JobGraph, jobs: Iterable[str]) -> Actions:
        """A new graph (a reload): jobs no longer run forget their waits; a job whose parent
        is gone may start."""
        self.graph = graph
        kept = set(jobs)
        self.waiting = {n: c for n, c in self.waiting.items() if n in kept}
        self.after_current = {n: c for n, c in self.after_current.items() if n in kept}
        actions = Actions()
        self._release(actions)
        return actions

    def due(self, runs: Iterable[tuple[str, Cause]]) -> Actions:
        """Jobs that came due together, handled parents first."""
        rank = self.graph.rank()
        actions = Actions()
        for name, cause in sorted(runs, key=lambda run: rank.get(run[0], len(rank))):
            self._due(name, cause, actions)
        return actions

    def finished(self, name: str, run_id: int, new_for: Iterable[str]) -> Actions:
        """A claimed run of `name` ended (`run_id`, 0 if it was never recorded); `new_for` are
        the children its committed values are new work for."""
        actions = Actions()
        self.claimed.discard(name)
        fresh = set(new_for)
        for child in self.graph.children.get(name, ()):
            if child in self.waiting:
                if run_id:  # it waited for this run: it follows it, nothing more
                    self.waiting[child] = replace(self.waiting[child], parent_run=run_id)
            elif child in fresh:
                self._due(child, Cause(Trigger.PARENT, run_id or None), actions)
        follow_up = self.after_current.pop(name, None)
        if follow_up is not None:
            self._due(name, follow_up, actions)
        self._release(actions)
        return actions

    def abandon(self, name: str) -> Actions:
        """A claimed run that will not happen (the workers are shut down)."""
        self.claimed.discard(name)
        self.after_current.pop(name, None)
        actions = Actions()
        self._release(actions)
        return actions

    def _due(self, name: str, cause: Cause, actions: Actions) -> None:
        if name in self.claimed:
            actions.skipped.append((name, cause))
            if cause.trigger == Trigger.PARENT:
                self.after_current[name] = cause
            return
        if name in self.waiting:  # one run covers both causes; a parent's run is kept
            if self.waiting[name].parent_run is None and cause.parent_run is not None:
                self.waiting[name] = replace(self.waiting[name], parent_run=cause.parent_run)
            return
        if any(self.busy(parent) for parent in self.graph.parents.get(name, ())):
            self.waiting[name] = cause
            return
        self.claimed.add(name)
        actions.start.append((name, cause))

    def _release(self, actions: Actions) -> None:
        """Start the waiting jobs none of whose parents is busy any more, parents first."""
        for name in [n for n in self.graph.order if n in self.waiting]:
            if not any(self.busy(p) for p in self.graph.parents.get(name, ())):
                cause = self.waiting.pop(name)
                self.claimed.add(name)
                actions.start.append((name, cause))

    def snapshot(self) -> Mapping[str, object]:
        """For the heartbeat: what is claimed and what waits for a parent."""
        return {"running": sorted(self.claimed), "waiting": sorted(self.waiting)}
