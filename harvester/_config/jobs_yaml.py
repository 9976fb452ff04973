"""jobs.yaml read: its schema and strict validation whose every error names the file, the line and
the field (pure: text in, JobSpecs or JobsError out).

    defaults:            # optional, applies to every job
      every: 1h
      jitter: 30s
    jobs:
      member_info:
        endpoint: member/info
        every: 1d
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import yaml

from .._core.clock import utc
from .._core.durations import format_duration, parse_duration
from .._core.jsonpath import compile_path
from .._core.shapes import normalise_endpoint
from .._core.text import ParamValue, did_you_mean, nearest, query_value
from . import templates
from .feeds import parse_feeds
from .graph import find_cycle
from .incremental import ForEach, Incremental, end_param_for, parse_start
from .jobs import JobsConfig, JobsError, JobSpec, Problem, Schedule, job_of

TOP_KEYS = ("defaults", "jobs", "feeds")
DEFAULT_KEYS = ("every", "cron", "jitter", "enabled", "timeout", "retries")
JOB_KEYS = (
    "endpoint",
    "params",
    "every",
    "cron",
    "jitter",
    "enabled",
    "timeout",
    "retries",
    "description",
    "incremental",
    "for_each",
    "after",
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ENDPOINT = re.compile(r"^/?(?:data/)?(?:[a-z0-9_]+/[a-z0-9_]+|doc)/?$")
MAX_RETRIES = 10
MIN_EVERY = 1.0  # seconds: a shorter interval only piles up skipped runs
MAX_DEPTH = 32  # jobs.yaml needs five levels; deeper is a mistake or an alias holding itself
MAX_VALUES = 100_000  # values after expanding aliases (a "billion laughs" file stops here)


# -- reading YAML with line numbers ------------------------------------------------------------


@dataclass
class _Node:
    """A YAML value with the line it starts on."""

    value: Any
    line: int


def _plain(
    node: yaml.Node,
    problems: list[Problem],
    file: str,
    path: str,
    depth: int = 0,
    budget: list[int] | None = None,
) -> _Node:
    """Convert a composed YAML node into _Nodes, reporting duplicate keys. A file nested too
    deeply (an alias inside itself) or too large once its aliases are expanded is refused."""
    line = node.start_mark.line + 1
    budget = budget if budget is not None else [MAX_VALUES]
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        what = f"nested more than {MAX_DEPTH} levels deep" if depth > MAX_DEPTH else "too large"
        raise JobsError(
            [Problem(file, line, path, f"{what} (an alias that contains itself, or many aliases?)")]
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[str, _Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            key_text = str(key)
            where = f"{path}.{key_text}" if path else key_text
            if key_text in result:
                problems.append(
                    Problem(
                        file,
                        key_node.start_mark.line + 1,
                        where,
                        f"duplicate key (first on line {key_lines[key_text]})",
                    )
                )
                continue
            key_lines[key_text] = key_node.start_mark.line + 1
            child = _plain(value_node, problems, file, where, depth + 1, budget)
            child_with_key_line = _Node(child.value, key_node.start_mark.line + 1)
            result[key_text] = child_with_key_line
        return _Node(result, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node(
            [_plain(item, problems, file, path, depth + 1, budget) for item in node.value], line
        )
    return _Node(_scalar(node), line)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return f"<{node.tag}>"
    constructor = yaml.SafeLoader("")
    try:
        value = constructor.construct_object(node)
    except Exception:  # `!!int abc`, `2026-13-45`, `!!bool maybe`...: PyYAML raises anything
        return node.value
    if isinstance(value, datetime):  # YAML reads 2026-09-01T00:00:00Z as a datetime: keep text
        try:
            moment = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            return node.value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _unwrap(node: _Node) -> Any:
    if isinstance(node.value, dict):
        return {k: _unwrap(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_unwrap(v) for v in node.value]
    return node.value


# -- validation --------------------------------------------------------------------------------


class _Checker:
    def __init__(self, file: str, cron_check: Callable[[str], str | None] | None) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.unset: list[Problem] = []  # `{env:NAME}` not set: the job is disabled
        self.cron_check = cron_check

    def add(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, where, message))

    def unknown_keys(
        self, mapping: dict[str, _Node], allowed: tuple[str, ...], where: str
    ) -> set[str]:
        """Report keys not in `allowed`; return the known keys they were probably meant as."""
        meant: set[str] = set()
        for key, node in mapping.items():
            if key not in allowed:
                close = nearest(key, allowed)
                meant.update(close)
                hint = did_you_mean(close, f" (known: {', '.join(allowed)})")
                self.add(node.line, f"{where}.{key}" if where else key, f"unknown key{hint}")
        return meant

    def duration(self, node: _Node | None, where: str, zero: bool = False) -> float | None:
        if node is None or node.value is None:
            return None
        try:
            return parse_duration(node.value, zero=zero)
        except ValueError as exc:
            self.add(node.line, where, str(exc))
            return None

    def boolean(self, node: _Node | None, where: str, default: bool) -> bool:
        if node is None:
            return default
        if not isinstance(node.value, bool):
            self.add(node.line, where, f"expected true or false, got {node.value!r}")
            return default
        return node.value

    def count(self, node: _Node | None, where: str, default: int, limit: int = MAX_RETRIES) -> int:
        if node is None:
            return default
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            self.add(node.line, where, f"expected a whole number from 0 to {limit}, got {value!r}")
            return default
        return value

    def cron(self, node: _Node | None, where: str) -> str | None:
        if node is None or node.value is None:
            return None
        text = str(node.value).strip()
        if len(text.split()) != 5:
            self.add(
                node.line,
                where,
                f"{text!r} is not a cron expression of five fields (minute hour day month weekday)",
            )
            return None
        if self.cron_check is not None:
            error = self.cron_check(text)
            if error:
                self.add(node.line, where, f"{text!r}: {error}")
                return None
        return text

    def params(
        self, node: _Node | None, where: str, env: Mapping[str, str]
    ) -> dict[str, ParamValue]:
        if node is None or node.value is None:
            return {}
        if not isinstance(node.value, dict):
            self.add(node.line, where, "expected a mapping of parameter names to values")
            return {}
        result: dict[str, ParamValue] = {}
        for name, child in node.value.items():
            value = _unwrap(child)
            scalar = (str, int, float, bool)
            if (
                isinstance(value, list) and all(isinstance(v, scalar) for v in value) and value
            ) or isinstance(value, scalar):
                result[name] = value
                error = templates.check(query_value(value), env)
                if isinstance(error, templates.UnsetVariable):  # that job only is disabled
                    self.unset.append(Problem(self.file, child.line, f"{where}.{name}", str(error)))
                elif error:
                    self.add(child.line, f"{where}.{name}", str(error))
            else:
                self.add(
                    child.line,
                    f"{where}.{name}",
                    "expected a value or a list of values, got "
                    f"{'nothing' if value is None else type(value).__name__}",
                )
        return result


def parse_jobs(
    text: str,
    file: str = "jobs.yaml",
    *,
    cron_check: Callable[[str], str | None] | None = None,
    env: Mapping[str, str] | None = None,
    builtin: Collection[str] = (),
) -> JobsConfig:
    """Validate jobs.yaml text; raise JobsError listing every problem found. `builtin` names
    the jobs the loader adds when the file does not define them (the catalogue job): a job may
    follow one of them."""
    check = _Checker(file, cron_check)
    try:
        composed = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise JobsError(
            [Problem(file, line, "", f"not valid YAML: {exc.problem or exc}")]
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        message = f"not valid YAML: character #x{exc.character:04x}: {exc.reason}"
        raise JobsError([Problem(file, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise JobsError([Problem(file, 1, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise JobsError([Problem(file, 1, "", "not valid YAML: nested too deeply")]) from None
    if composed is None:
        return JobsConfig(file, {})
    root = _plain(composed, check.problems, file, "")
    if not isinstance(root.value, dict):
        raise JobsError([Problem(file, root.line, "", "expected a mapping with a `jobs` key")])
    check.unknown_keys(root.value, TOP_KEYS, "")

    defaults = root.value.get("defaults")
    default_values: dict[str, _Node] = {}
    if defaults is not None and defaults.value is not None:
        if not isinstance(defaults.value, dict):
            check.add(defaults.line, "defaults", "expected a mapping")
        else:
            default_values = defaults.value
            check.unknown_keys(default_values, DEFAULT_KEYS, "defaults")

    jobs_node = root.value.get("jobs")
    specs: dict[str, JobSpec] = {}
    if jobs_node is None or jobs_node.value is None:
        if jobs_node is None and root.value:
            check.add(root.line, "jobs", "missing: add a `jobs:` mapping of job names")
    elif not isinstance(jobs_node.value, dict):
        check.add(jobs_node.line, "jobs", "expected a mapping of job names to jobs")
    else:
        for name, node in jobs_node.value.items():
            spec = _job(check, name, node, default_values, env if env is not None else {})
            if spec is not None:
                specs[name] = spec
    _check_graph(check, specs, builtin)
    disabled = {job_of(problem) for problem in check.unset}
    specs = {n: replace(s, enabled=False) if n in disabled else s for n, s in specs.items()}
    feeds, unset = parse_feeds(
        root.value.get("feeds"), file, check.add, env if env is not None else {}
    )
    config = JobsConfig(file, specs, rejected=(*check.unset, *unset), feeds=feeds)
    if check.problems:
        check.problems.sort(key=lambda p: p.line)
        raise JobsError(check.problems, partial=config)
    return config


def _job(
    check: _Checker,
    name: str,
    node: _Node,
    defaults: dict[str, _Node],
    env: Mapping[str, str],
) -> JobSpec | None:
    where = f"jobs.{name}"
    if not NAME.fullmatch(name):
        check.add(
            node.line,
            where,
            "a job name is letters, digits, `_`, `.` or `-` (starting with a letter or digit)",
        )
    if not isinstance(node.value, dict):
        check.add(node.line, where, "expected a mapping with at least `endpoint`")
        return None
    job = node.value
    # a misspelt key is reported once, not again as the key it was meant to be missing
    meant = check.unknown_keys(job, JOB_KEYS, where)

    endpoint_node = job.get("endpoint")
    endpoint = ""
    if (endpoint_node is None or not endpoint_node.value) and "endpoint" in meant:
        pass
    elif endpoint_node is None or not endpoint_node.value:
        check.add(node.line, f"{where}.endpoint", "missing: which /data endpoint, e.g. member/info")
    elif not isinstance(endpoint_node.value, str) or not ENDPOINT.match(endpoint_node.value):
        check.add(
            endpoint_node.line,
            f"{where}.endpoint",
            f"{endpoint_node.value!r} is not an endpoint like `results/get`",
        )
    else:
        endpoint = normalise_endpoint(endpoint_node.value)

    def pick(key: str) -> tuple[_Node | None, str]:
        if key in job:
            return job[key], f"{where}.{key}"
        return defaults.get(key), f"defaults.{key}"

    own_schedule = "every" in job or "cron" in job
    every_node, every_where = (
        (job.get("every"), f"{where}.every") if own_schedule else pick("every")
    )
    cron_node, cron_where = (job.get("cron"), f"{where}.cron") if own_schedule else pick("cron")
    every = check.duration(every_node, every_where)
    cron = check.cron(cron_node, cron_where)
    if every_node is not None and cron_node is not None and every_node.value and cron_node.value:
        check.add(node.line, where, "has both `every` and `cron`: choose one")
    elif (
        (every_node is None or every_node.value is None)
        and (cron_node is None or cron_node.value is None)
        and not meant & {"every", "cron"}
    ):
        check.add(
            node.line,
            where,
            "needs a schedule: `every` (30s, 15m, 1h, 1d) or `cron`, here or in `defaults`",
        )
    if every is not None and every < MIN_EVERY and every_node is not None:
        check.add(every_node.line, every_where, f"{every_node.value!r} is under one second")
        every = None
    jitter_node, jitter_where = pick("jitter")
    jitter = check.duration(jitter_node, jitter_where, zero=True) or 0.0
    if every and jitter > every and jitter_node is not None:
        check.add(
            jitter_node.line,
            jitter_where,
            f"{jitter_node.value!r} is longer than the interval ({format_duration(every)})",
        )
    timeout_node, timeout_where = pick("timeout")
    retries_node, retries_where = pick("retries")
    enabled_node, enabled_where = pick("enabled")
    description = job.get("description")
    params = check.params(job.get("params"), f"{where}.params", env)
    incremental = _incremental(check, job.get("incremental"), f"{where}.incremental")
    for_each = _for_each(check, job.get("for_each"), f"{where}.for_each")
    after = _after(check, job.get("after"), f"{where}.after")
    if incremental is not None and for_each is not None:
        check.add(node.line, where, "has both `incremental` and `for_each`: choose one")
    for fed, key in ((incremental, "incremental"), (for_each, "for_each")):
        if fed is not None and fed.param in params:
            check.add(
                job["params"].line,
                f"{where}.params.{fed.param}",
                f"is set by `{key}`; remove it from params",
            )
    lines = {key: child.line for key, child in job.items()}
    for_each_node = job.get("for_each")
    if for_each_node is not None and isinstance(for_each_node.value, dict):
        parent_node = for_each_node.value.get("job")
        if parent_node is not None:
            lines["for_each.job"] = parent_node.line
    params_node = job.get("params")
    if params_node is not None and isinstance(params_node.value, dict):
        lines.update({f"params.{k}": v.line for k, v in params_node.value.items()})
    return JobSpec(
        name=name,
        endpoint=endpoint,
        params=params,
        incremental=incremental,
        for_each=for_each,
        after=after,
        lines=lines,
        schedule=Schedule(every=every, cron=cron, jitter=jitter),
        enabled=check.boolean(enabled_node, enabled_where, True),
        timeout=check.duration(timeout_node, timeout_where),
        retries=check.count(retries_node, retries_where, 0),
        description=str(description.value) if description and description.value else None,
        line=node.line,
    )


MIN_WINDOW = 3600.0
MAX_WINDOW = 90 * 86400.0
INCREMENTAL_KEYS = ("cursor", "param", "end_param", "start", "window", "key")
FOR_EACH_KEYS = ("job", "path", "param", "max_items")


def _text(
    check: _Checker, mapping: dict[str, _Node], key: str, where: str, required: bool, line: int
) -> str | None:
    node = mapping.get(key)
    if node is None or node.value is None or node.value == "":
        if required:
            check.add(line, f"{where}.{key}", "missing")
        return None
    if not isinstance(node.value, str | int | float) or isinstance(node.value, bool):
        check.add(node.line, f"{where}.{key}", f"expected text, got {node.value!r}")
        return None
    return str(node.value)


def _section(
    check: _Checker, node: _Node | None, where: str, keys: tuple[str, ...], example: str
) -> dict[str, _Node] | None:
    """A sub-mapping of a job (`incremental`, `for_each`): its keys checked, or None."""
    if node is None:
        return None
    if not isinstance(node.value, dict):
        check.add(node.line, where, f"expected a mapping: {example}")
        return None
    check.unknown_keys(node.value, keys, where)
    return node.value


def _incremental(check: _Checker, node: _Node | None, where: str) -> Incremental | None:
    """`incremental: {cursor, param, start, window, key}`."""
    example = "{cursor: end_time, param: finish_range_begin, start: -7d, window: 90d, key: ...}"
    values = _section(check, node, where, INCREMENTAL_KEYS, example)
    if values is None or node is None:
        return None
    cursor = _text(check, values, "cursor", where, True, node.line)
    param = _text(check, values, "param", where, True, node.line)
    start = _text(check, values, "start", where, True, node.line)
    key = _text(check, values, "key", where, False, node.line)
    end_param = _text(check, values, "end_param", where, False, node.line)
    window = check.duration(values.get("window"), f"{where}.window") or MAX_WINDOW
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        check.add(
            values["window"].line,
            f"{where}.window",
            "must be from 1h to 90d (iRacing's searches cover at most 90 days)",
        )
    if start is not None:
        try:
            utc(parse_start(start, 0.0))  # a date Python can represent, in UTC too
        except (ValueError, OverflowError):
            check.add(
                values["start"].line,
                f"{where}.start",
                f"{start!r} is neither a date (2026-09-01, 2026-09-01T00:00Z) nor a "
                "relative time (-7d)",
            )
            start = None
    if cursor is None or param is None or start is None:
        return None
    return Incremental(cursor, param, end_param or end_param_for(param), start, window, key)


def _for_each(check: _Checker, node: _Node | None, where: str) -> ForEach | None:
    """`for_each: {job, path, param}`."""
    example = '{job: parent, path: "$[*].subsession_id", param: subsession_id}'
    values = _section(check, node, where, FOR_EACH_KEYS, example)
    if values is None or node is None:
        return None
    job = _text(check, values, "job", where, True, node.line)
    path = _text(check, values, "path", where, True, node.line)
    param = _text(check, values, "param", where, True, node.line)
    max_items = check.count(values.get("max_items"), f"{where}.max_items", 500, limit=100_000)
    steps = None
    if path is not None:
        try:
            steps = tuple(compile_path(path))
        except ValueError as exc:
            check.add(values["path"].line, f"{where}.path", str(exc))
    if job is None or path is None or param is None or steps is None:
        return None
    return ForEach(job, path, steps, param, max_items or 500)


def _after(check: _Checker, node: _Node | None, where: str) -> tuple[str, ...]:
    """`after: job` or `after: [job, other]`: the jobs this one runs after."""
    if node is None or node.value is None:
        return ()
    items = node.value if isinstance(node.value, list) else [node]
    names: list[str] = []
    for item in items:
        value = _unwrap(item)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            check.add(item.line, where, f"expected a job name or a list of them, got {value!r}")
            continue
        names.append(str(value))
    return tuple(dict.fromkeys(names))


def _edges(spec: JobSpec) -> list[tuple[str, str, int]]:
    """The jobs `spec` follows, each with the key naming it and its line."""
    edges = []
    if spec.for_each is not None:
        line = spec.lines.get("for_each.job", spec.lines.get("for_each", spec.line))
        edges.append((spec.for_each.job, "for_each.job", line))
    edges += [(parent, "after", spec.lines.get("after", spec.line)) for parent in spec.after]
    return edges


def _check_graph(check: _Checker, specs: dict[str, JobSpec], builtin: Collection[str]) -> None:
    """`after` and `for_each` name jobs of this file (or a built-in one), an enabled job follows
    no disabled one (it would wait for runs that never come), and no job follows itself,
    directly or round a cycle."""
    known = [*specs, *(name for name in builtin if name not in specs)]
    edges: dict[str, list[str]] = {}
    lines: dict[tuple[str, str], tuple[str, int]] = {}
    for name, spec in specs.items():
        edges[name] = []
        for parent, key, line in _edges(spec):
            where = f"jobs.{name}.{key}"
            if parent not in known:
                hint = did_you_mean(nearest(parent, known))
                check.add(line, where, f"no job named {parent!r} in this file{hint}")
                continue
            if spec.enabled and parent in specs and not specs[parent].enabled:
                check.add(
                    line,
                    where,
                    f"job {parent!r} is disabled, so its runs never come: enable it, or "
                    "remove it here",
                )
            if parent in specs and parent not in edges[name]:
                edges[name].append(parent)
                lines.setdefault((name, parent), (where, line))
    for _ in range(sum(len(e) for e in edges.values())):  # each cycle once, by its edges
        cycle = find_cycle(edges)
        if cycle is None:
            break
        child, parent = cycle[0], cycle[1]
        where, line = lines[(child, parent)]
        if len(cycle) == 2:
            check.add(line, where, f"job {child!r} follows itself")
        else:
            flow = " -> ".join(reversed(cycle))
            check.add(
                line,
                where,
                f"the jobs form a cycle ({flow}): each one's runs would start the next, "
                "without end",
            )
        edges[child].remove(parent)
