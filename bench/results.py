"""The bench's rows and goals, and how a figure is written: pure, no I/O (the README's table is
rendered from the same functions, see report.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """A pass/fail rule: `value op limit`, on the row's figure or on harvester's own figure."""

    op: str  # "<=", "<", ">=", ">", "=="
    limit: float
    label: str  # how the table shows it, e.g. "≤ 1.5×"
    on: str = "figure"  # "figure" or "harvester"

    def check(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        compare: dict[str, Callable[[float, float], bool]] = {
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
            ">=": lambda a, b: a >= b,
            ">": lambda a, b: a > b,
            "==": lambda a, b: a == b,
        }
        return compare[self.op](value, self.limit)


@dataclass(frozen=True)
class Result:
    """One row of the table: a measurement of harvester and of its baseline, and the goal."""

    scenario: str
    measurement: str
    unit: str  # of `harvester` and `baseline`: "µs/doc", "MB", "s", "count", "share"
    harvester: float | None
    baseline: float | None = None
    figure: float | None = None  # the ratio, share or difference the goal is about
    figure_kind: str = ""  # "ratio" (harvester/baseline), "share" (0..1), "diff" (in `unit`)
    goal: Goal | None = None
    note: str = ""
    readme: bool = False  # shown in the README's table without a goal (a "before" beside one)

    @property
    def met(self) -> bool | None:
        """True or False against the goal; None for rows that only inform."""
        if self.goal is None:
            return None
        value = self.harvester if self.goal.on == "harvester" else self.figure
        return self.goal.check(value)

    def as_dict(self) -> dict[str, Any]:
        """The row as the bench's JSON holds it (`from_dict` reads it back)."""
        goal = self.goal
        return {
            "scenario": self.scenario,
            "measurement": self.measurement,
            "unit": self.unit,
            "harvester": self.harvester,
            "baseline": self.baseline,
            "figure": self.figure,
            "figure_kind": self.figure_kind,
            "goal": goal.label if goal else None,
            "goal_rule": {"op": goal.op, "limit": goal.limit, "on": goal.on} if goal else None,
            "met": self.met,
            "note": self.note,
            "readme": self.readme,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Result:
        rule = row.get("goal_rule")
        goal = Goal(rule["op"], rule["limit"], row["goal"], rule["on"]) if rule else None
        return cls(
            row["scenario"],
            row["measurement"],
            row["unit"],
            row["harvester"],
            row["baseline"],
            row["figure"],
            row["figure_kind"],
            goal,
            row["note"],
            bool(row.get("readme", False)),
        )


def format_value(value: float | None, unit: str) -> str:
    """A figure for the table: shares as percentages, counts whole, others to 3 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "count":
        return f"{value:,.0f}"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def format_figure(result: Result) -> str:
    """The ratio, share or difference of a row, as the tables show it."""
    if result.figure is None:
        return "—"
    if result.figure_kind == "ratio":
        return f"{result.figure:.2f}×"
    if result.figure_kind == "share":
        return f"{result.figure:.1%}"
    return format_value(result.figure, result.unit)


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "—"}[met]


HEADERS = ("scenario", "measurement", "harvester", "baseline", "ratio/share", "goal", "met?")


def table_cells(result: Result) -> tuple[str, ...]:
    """One row as the tables (the terminal's, the README's) show it, in HEADERS' order."""
    return (
        result.scenario,
        result.measurement,
        format_value(result.harvester, result.unit),
        format_value(result.baseline, result.unit),
        format_figure(result),
        result.goal.label if result.goal else "—",
        met_text(result.met),
    )


def render_table(results: Sequence[Result]) -> str:
    """The terminal's table: aligned columns, then the notes."""
    rows = [table_cells(r) for r in results]
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    right = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(HEADERS), line(["-" * width for width in widths])]
    out.extend(line(row) for row in rows)
    notes = [f"  {r.scenario} / {r.measurement}: {r.note}" for r in results if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
