"""The dispatch's rules (pure): parents before children, a child waits for a busy parent and
runs once, a child running when its parent commits new work is skipped and runs once right
after, and never twice for one parent run."""

from __future__ import annotations

from harvester._config.graph import JobGraph
from harvester._config.incremental import ForEach
from harvester._config.jobs import JobSpec
from harvester._service.dispatch import Cause, Dispatch

FAN = ForEach("search", "$[*].subsession_id", (), "subsession_id")


def chain() -> dict[str, JobSpec]:
    """search -> details (fan-out) -> laps (fan-out), charts after details; info alone."""
    return {
        "search": JobSpec("search", "results/search_series"),
        "details": JobSpec("details", "results/get", for_each=FAN),
        "laps": JobSpec(
            "laps", "results/lap_data", for_each=ForEach("details", "$.x", (), "subsession_id")
        ),
        "charts": JobSpec("charts", "member/chart_data", after=("details",)),
        "info": JobSpec("info", "member/info"),
    }


def dispatch() -> Dispatch:
    d = Dispatch()
    jobs = chain()
    d.use(JobGraph.of(jobs), jobs)
    return d


def test_a_chain_due_together_flows_down_in_one_pass_parents_first() -> None:
    d = dispatch()
    startup = Cause("startup")
    due = [(n, startup) for n in ("laps", "charts", "details", "info", "search")]
    first = d.due(due)
    assert [name for name, _ in first.start] == ["search", "info"]
    assert set(d.waiting) == {"details", "laps", "charts"} and not first.skipped
    second = d.finished("search", 11, new_for=["details"])  # it found new values: no extra run
    assert second.start == [("details", Cause("startup", 11))]
    third = d.finished("details", 12, new_for=["laps", "charts"])
    assert third.start == [("laps", Cause("startup", 12)), ("charts", Cause("startup", 12))]
    assert not d.waiting and not third.skipped


def test_a_parent_run_with_new_work_starts_its_children_once_with_its_id() -> None:
    d = dispatch()
    assert d.due([("search", Cause("schedule"))]).start == [("search", Cause("schedule"))]
    found = d.finished("search", 40, new_for=["details"])
    assert found.start == [("details", Cause("parent", 40))]
    nothing = d.finished("details", 41, new_for=[])  # nothing new for its children
    assert nothing.start == [] and nothing.skipped == []


def test_a_child_running_when_its_parent_commits_is_skipped_then_runs_once_right_after() -> None:
    d = dispatch()
    d.due([("details", Cause("schedule"))])  # the child's own sweep, in flight
    d.due([("search", Cause("schedule"))])
    first = d.finished("search", 50, new_for=["details"])
    assert first.skipped == [("details", Cause("parent", 50))] and first.start == []
    d.due([("search", Cause("schedule"))])  # another parent run ends meanwhile
    second = d.finished("search", 52, new_for=["details"])
    assert second.skipped == [("details", Cause("parent", 52))]
    after = d.finished("details", 51, new_for=[])
    assert after.start == [("details", Cause("parent", 52))]  # once, for both
    assert d.finished("details", 53, new_for=[]).start == []


def test_a_child_due_by_its_schedule_while_its_parent_runs_waits_and_runs_once() -> None:
    d = dispatch()
    d.due([("search", Cause("schedule"))])
    waits = d.due([("details", Cause("schedule"))])
    assert waits.start == [] and "details" in d.waiting
    assert d.due([("details", Cause("schedule"))]).skipped == []  # due again: still one
    done = d.finished("search", 60, new_for=["details"])
    assert done.start == [("details", Cause("schedule", 60))]


def test_a_job_due_while_running_is_skipped_without_a_run_after() -> None:
    d = dispatch()
    d.due([("info", Cause("schedule"))])
    again = d.due([("info", Cause("schedule"))])
    assert again.skipped == [("info", Cause("schedule"))]
    assert d.finished("info", 70, new_for=[]).start == []


def test_a_reload_that_removes_a_parent_lets_its_waiting_child_go() -> None:
    d = dispatch()
    d.due([("search", Cause("schedule")), ("details", Cause("schedule"))])
    assert "details" in d.waiting
    jobs = {name: spec for name, spec in chain().items() if name != "search"}
    jobs["details"] = JobSpec("details", "results/get")
    released = d.use(JobGraph.of(jobs), jobs)
    assert released.start == [("details", Cause("schedule"))]


def test_a_run_that_will_not_happen_frees_its_children() -> None:
    d = dispatch()
    d.due([("search", Cause("startup")), ("details", Cause("startup"))])
    assert d.abandon("search").start == [("details", Cause("startup"))]
