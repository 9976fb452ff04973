"""Feed messages from templates, rendered in Jinja2's sandbox (pure).

A template sees the row's columns by name and a few helpers for what iRacing's numbers mean:
`lap_time(seconds)` (1:23.456), `position(finish_position)` (P1 from iRacing's 0),
`signed(n)` (+12, -3, ±0) and `irating_delta(oldi_rating, newi_rating)` (+35). The sandbox
refuses attribute tricks (no `__class__`, no `mro`), `range` is bounded, and an undefined name
is an error, so a mistake fails that row with its reason instead of sending a blank. Every
value printed is `chat_safe` (no `@everyone`, no disguised link from a server's text); the
template's own text is the user's and stays as written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from .._core.text import chat_safe

MAX_MESSAGE = 1900  # characters: under Discord's 2000, the tightest of the usual targets
MAX_RANGE = 1000


def lap_time(seconds: float | None) -> str:
    """Seconds as m:ss.mmm (83.456 -> 1:23.456); "-" for none."""
    if seconds is None or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    text = f"{millis / 1000:06.3f}"
    return f"{minutes}:{text}" if minutes else f"{millis / 1000:.3f}"


def signed(value: float | None) -> str:
    """+12, -3, ±0; "-" for none."""
    if value is None or not isinstance(value, int | float):
        return "-"
    if value == 0:
        return "±0"
    number = f"{value:g}" if isinstance(value, float) else str(value)
    return number if value < 0 else f"+{number}"


def irating_delta(old: int | None, new: int | None) -> str:
    """The iRating change as +35 / -12 / ±0; "-" when either side is unknown."""
    if old is None or new is None:
        return "-"
    return signed(new - old)


def position(finish_position: int | None) -> str:
    """iRacing counts positions from 0: P1 for 0."""
    if finish_position is None or not isinstance(finish_position, int):
        return "-"
    return f"P{finish_position + 1}"


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range over {MAX_RANGE} items in a feed template")
    return numbers


HELPERS: dict[str, Callable[..., Any]] = {
    "lap_time": lap_time,
    "signed": signed,
    "irating_delta": irating_delta,
    "position": position,
    "range": _bounded_range,
}


def _chat_value(value: Any) -> Any:
    """Jinja2's finalize hook: every `{{ value }}` a template prints passes here, the
    template's own text never does. A value is the archive's (a driver's name, a series
    name: a server's text), so a mention or a disguised link in it is neutralised."""
    return chat_safe(value) if isinstance(value, str) else value


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=_chat_value,
    )
    env.globals.clear()
    env.globals.update(HELPERS)
    env.filters.update({"lap_time": lap_time, "signed": signed, "position": position})
    return env


ENVIRONMENT = _environment()


@dataclass(frozen=True)
class TemplateProblem:
    line: int  # 1-based, within the template
    message: str


def check_template(text: str, columns: Sequence[str]) -> TemplateProblem | None:
    """Why a template cannot render rows of these columns (syntax, an unknown name), or None."""
    try:
        ast = ENVIRONMENT.parse(text)
    except TemplateSyntaxError as exc:
        return TemplateProblem(exc.lineno or 1, str(exc.message or "does not parse"))
    known = set(columns) | set(HELPERS)
    unknown = sorted(meta.find_undeclared_variables(ast) - known)
    if unknown:
        line = _line_of(ast, unknown[0])
        return TemplateProblem(line, f"unknown column {unknown[0]!r}")
    return None


def _line_of(ast: nodes.Template, name: str) -> int:
    for node in ast.find_all(nodes.Name):
        if node.name == name:
            return int(node.lineno)
    return 1


class RenderError(ValueError):
    """A row the template could not render: the reason, on one line."""


class Renderer:
    """One feed's template, compiled once."""

    def __init__(self, text: str) -> None:
        self._template = ENVIRONMENT.from_string(text)

    def row(self, values: Mapping[str, Any]) -> str:
        try:
            text = self._template.render(**values)
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise RenderError(_one_line(exc)) from None
        except Exception as exc:  # the sandbox's SecurityError, anything a value raises
            raise RenderError(_one_line(exc)) from None
        return clip(text.strip())

    def digest(
        self, rows: Sequence[Mapping[str, Any]], limit: int, total: int
    ) -> tuple[str, list[int], list[int]]:
        """One message of the first rows' lines (at most `limit`, and what fits in
        MAX_MESSAGE), then "… and N more" for the rest of `total` rows. Returns the text, the
        indexes of the rows shown and of those that could not be rendered (left out: the
        caller fails them)."""
        lines: list[str] = []
        shown: list[int] = []
        failed: list[int] = []
        size = 0
        for index, values in enumerate(rows):
            if len(lines) >= limit:
                break
            try:
                line = self.row(values)
            except RenderError:
                failed.append(index)
                continue
            if lines and size + len(line) + 1 > MAX_MESSAGE - 40:
                break
            lines.append(line)
            shown.append(index)
            size += len(line) + 1
        more = total - len(lines) - len(failed)
        if more > 0 and lines:
            lines.append(f"… and {more} more")
        return clip("\n".join(lines)), shown, failed


def clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
