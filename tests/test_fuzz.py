"""Property-based fuzzing (hypothesis) of the two places where the outside world gets in:

1. jobs.yaml: any text, grammar-built YAML and mutations of a valid file give either a
   JobsConfig or one clean JobsError whose `str()` is one line `file:line: ...`, never a traceback.
2. /data answers: whatever the API and its links answer (wrong shapes, broken chunk_info, HTML,
   invalid UTF-8, truncated bodies, odd statuses and headers, huge numbers, deep nesting), a run
   ends with a final status and a reason, never raises and never hangs, and the archive stays
   consistent.

`make test` replays: derandomized, the same examples each time and no example database, so CI
reproduces any failure; bugs found are pinned with `@example`. `make chaos` searches:
HYPOTHESIS_PROFILE=search (tests/conftest.py) draws new examples every time, ten times as many,
and keeps what fails in .hypothesis/ to replay it first next time.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from harvester.api import DataClient
from harvester.archive import Archive
from harvester.bookkeeping import get_cursor
from harvester.clock import ManualClock, parse_iso
from harvester.errors import ConfigError
from harvester.incremental import ForEach, Incremental
from harvester.jobs import (
    JOB_KEYS,
    NAME,
    JobsConfig,
    JobsError,
    JobSpec,
    parse_jobs,
)
from harvester.jobs_file import load_jobs_file
from harvester.jsonpath import compile_path
from harvester.maintenance import MaintenancePause
from harvester.ratelimit import RateBudget
from harvester.runner import Runner, RunOutcome
from harvester.runtime import Runtime, open_runtime
from harvester.scheduler import cron_error, fire_times
from harvester.settings import Settings
from harvester.simulator import Simulator, SimulatorTransport
from harvester.status import FINAL_STATUSES, RunStatus
from harvester.templates import render
from harvester.text import query_value

SEARCHING = not settings().derandomize  # the profile conftest loaded: "replay" or "search"


def examples(count: int) -> int:
    """How many examples to draw: `count` in the replay, ten times as many in a search."""
    return count * 10 if SEARCHING else count


FAST = settings(max_examples=examples(300))
WITH_FIXTURES = settings(
    FAST,
    max_examples=examples(150),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- 1. jobs.yaml ------------------------------------------------------------------------------

FILE = "conf dir/jobs.yaml"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENV = {"IRACING_CUST_ID": "123"}
# what a YAML reader counts as a line break (PyYAML's marks count all of them)
LINE_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")

VALID = """\
# a valid file using every feature
defaults:
  every: 1h
  jitter: 30s
  timeout: 10m
  retries: 2

jobs:
  member_info:
    description: my record
    endpoint: member/info
    every: 1d
  series:
    endpoint: /data/series/get/
    cron: "15 4 * * *"
    enabled: false
  recent:
    endpoint: stats/member_recent_races
    params:
      cust_id: "{env:IRACING_CUST_ID}"
      since: "{today-7d}"
      flags: [1, two, true]
  my_results:
    endpoint: results/search_series
    every: 1h
    params: {cust_id: 123, event_types: [5]}
    incremental:
      cursor: end_time
      param: finish_range_begin
      start: -7d
      window: 90d
      key: subsession_id
  my_subsessions:
    endpoint: results/get
    every: 1h
    for_each:
      job: my_results
      path: "$[*].subsession_id"
      param: subsession_id
      max_items: 100
"""


def assert_one_clean_line(message: str, file: str, text_lines: int) -> None:
    """`file:line: ...` on exactly one line, with a line number inside the file."""
    assert message.splitlines() == [message], f"not one line: {message!r}"
    assert message.startswith(f"{file}:"), message
    match = re.match(re.escape(file) + r":(\d+): \S", message)
    assert match is not None, f"no line number: {message!r}"
    assert 1 <= int(match.group(1)) <= text_lines, message


def check_jobs_text(text: str) -> JobsConfig | None:
    """The property: a JobsConfig that the scheduler can use, or one clean JobsError."""
    lines = len(LINE_BREAKS.split(text))
    error: JobsError | None
    try:
        config = parse_jobs(text, FILE, cron_check=cron_error, env=ENV)
    except JobsError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert_one_clean_line(str(error), FILE, lines)
        assert error.problems
        for problem in error.problems:
            assert_one_clean_line(str(problem), FILE, lines)
        return None
    assert isinstance(config, JobsConfig)
    for problem in config.rejected:  # jobs disabled for a reason (an unset {env:NAME})
        assert_one_clean_line(str(problem), FILE, lines)
    for name, spec in config.jobs.items():
        assert spec.name == name and NAME.fullmatch(name), name
        assert (spec.schedule.every is None) != (spec.schedule.cron is None), spec.schedule
        spec.schedule.describe()
        if spec.schedule.every is not None:  # the scheduler can build and use its trigger
            assert fire_times(spec.schedule, NOW, NOW, 2)
        if not config.problems_of(name):  # a disabled job's params need not render
            for value in spec.params.values():
                render(query_value(value), NOW.timestamp(), ENV)
        if spec.for_each is not None:
            assert spec.for_each.job in config.jobs
    return config


# Scalars as YAML source text: good and bad durations, crons, numbers, dates, tags, templates.
DURATIONS = st.sampled_from(
    [
        *["30s", "15m", "1h", "1d", "2w", "1h30m", " 5M ", "90", "0.5", "2.5h", "1e3", "'1h'"],
        *["5200w", "100w", "\u0661h", "1 h", "0s", "0", "-1h", "5x", "1.5.5h", "h", "1e400"],
        *["9999999999999999w", ".inf", ".nan", "-.inf"],
    ]
)
CRONS = st.sampled_from(
    [
        *['"0 6 * * *"', '"*/15 * * * *"', "'15 4 * * mon-fri'", '"0 0 31 2 *"'],
        *['"* * *"', '"61 * * * *"', '"*/0 * * * *"', '"a b c d e"', '"1-0 * * * *"'],
        *['"* * * * 99999999999999999999"', '"0 6 * * * *"', '"L * * * *"', "'\u0663 * * * *'"],
    ]
)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(lambda f: {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(str(f), str(f))),
    st.sampled_from(["1e400", "-1e400", "9" * 400, "0x1F", "0o17", "1_000", "+12", "-0"]),
)
DATES = st.sampled_from(
    [
        *["2026-09-01", "2026-13-45", "2026-02-30", "2026-09-01T00:00:00Z", "2026-09-01 06:00"],
        *["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01", "99999-01-01"],
        *["1970-01-01T00:00:00.123456789Z", "2026-9-1T1:2:3+14:00"],
    ]
)
TAGGED = st.sampled_from(
    [
        *["!!int abc", "!!float x", "!!bool maybe", "!!timestamp never", "!!binary ===", "!!str 1"],
        *["!!null x", "!!set {a}", "!!omap [a]", "!!python/object:os.system x", "!custom thing"],
        *["!!int 0b", "!!float .nan", "!!timestamp 2026-13-45", "!!map [1]", "!!seq {a: 1}"],
    ]
)
TEMPLATES = st.sampled_from(
    [
        *["{now}", "{today}", "{-7d}", "{now-12h}", "{today-1d}", "{today+1w}", "{+5200w}"],
        *["{env:IRACING_CUST_ID}", "{env: IRACING_CUST_ID }", "{env:}", "{env:NOPE}", "{nope}"],
        *["{-99999999999d}", "{-" + "9" * 400 + "d}", "{now-x}", "{a\nb}", "{}", "{{now}}"],
        *["{now", "x{-1h}y{today}"],
    ]
).map(json.dumps)
PATHS = st.sampled_from(
    [
        *["$[*].subsession_id", "$.races[*].subsession_id", "$['a b'][0]", "$[-1]", "$", "x"],
        *["", "$[", "$..a", "$[" + "9" * 5000 + "]", "$.é", "$[*][*][*]"],
    ]
).map(json.dumps)
WORDS = st.one_of(
    st.sampled_from(["member/info", "results/get", "/data/results/get/", "doc", "Member/Info"]),
    st.sampled_from(["end_time", "finish_range_begin", "-7d", "subsession_id", "x", "~", ""]),
    st.sampled_from(["null", "true", "no", "on", "y", "'quoted'", '"a\\nb"', '"\\ud800"']),
    st.text(max_size=12).map(json.dumps),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8).map(json.dumps),
)
SCALARS = st.one_of(DURATIONS, CRONS, NUMBERS, DATES, TAGGED, TEMPLATES, PATHS, WORDS)


@dataclass
class Tree:
    """A YAML value to emit: a mapping (key text -> Tree), a list of Trees, or scalar source."""

    mapping: dict[str, Tree] | None = None
    items: list[Tree] | None = None
    scalar: str = "~"
    flow: bool = False


def emit(tree: Tree, indent: int = 0) -> str:
    """YAML source for a Tree: block style, or flow style where asked (and inside lists)."""
    pad = " " * indent
    if tree.mapping is not None and tree.mapping and not tree.flow:
        out = []
        for key, child in tree.mapping.items():
            if (child.mapping or child.items) and not child.flow:
                out.append(f"{pad}{key}:\n{emit(child, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {inline(child)}\n")
        return "".join(out)
    if tree.items is not None and tree.items and not tree.flow:
        return "".join(f"{pad}- {inline(child)}\n" for child in tree.items)
    return f"{pad}{inline(tree)}\n"


def inline(tree: Tree) -> str:
    if tree.mapping is not None:
        return "{" + ", ".join(f"{k}: {inline(v)}" for k, v in tree.mapping.items()) + "}"
    if tree.items is not None:
        return "[" + ", ".join(inline(v) for v in tree.items) + "]"
    return tree.scalar


def leaf(source: st.SearchStrategy[str]) -> st.SearchStrategy[Tree]:
    return source.map(lambda s: Tree(scalar=s))


ANY_VALUE: st.SearchStrategy[Tree] = st.recursive(
    leaf(SCALARS),
    lambda inner: st.one_of(
        st.builds(
            Tree,
            mapping=st.dictionaries(st.one_of(WORDS, SCALARS), inner, max_size=3),
            flow=st.booleans(),
        ),
        st.builds(Tree, items=st.lists(inner, max_size=3), flow=st.booleans()),
    ),
    max_leaves=6,
)


def typos(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Real keys, misspelt ones (`evrey`, `Every`, `every `), and unrelated words."""
    real = st.sampled_from(keys)
    return st.one_of(
        real,
        real.map(lambda k: k[:-1]),
        real.map(lambda k: k[1:] + k[0]),
        real.map(str.upper),
        real.map(lambda k: json.dumps(k + " ")),
        st.sampled_from(["bogus", "<<", "? x", "'every'", "42", "null", '"\\t"']),
    )


def mapping(
    required: dict[str, st.SearchStrategy[Tree]],
    optional: dict[str, st.SearchStrategy[Tree]],
    keys: tuple[str, ...],
) -> st.SearchStrategy[Tree]:
    """A mapping mostly of known keys with fitting values, sometimes misspelt or mistyped."""
    fitting = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(typos(keys), ANY_VALUE, max_size=2)
    return st.builds(
        lambda fit, more, flow: Tree(mapping={**fit, **more}, flow=flow),
        fitting,
        extra,
        st.booleans() if not required else st.just(False),
    )


def either(good: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    """Mostly a fitting value, sometimes anything at all."""
    return st.one_of(good, good, good, ANY_VALUE)


PARAMS = st.builds(
    lambda entries, flow: Tree(mapping=entries, flow=flow),
    st.dictionaries(
        st.sampled_from(["cust_id", "subsession_id", "finish_range_begin", "x", "é", "'a b'"]),
        either(
            st.one_of(
                leaf(st.one_of(TEMPLATES, NUMBERS, WORDS)),
                st.builds(Tree, items=st.lists(leaf(st.one_of(NUMBERS, WORDS)), max_size=3)),
            )
        ),
        max_size=3,
    ),
    st.booleans(),
)
INCREMENTAL = mapping(
    {},
    {
        "cursor": either(leaf(WORDS)),
        "param": either(leaf(st.sampled_from(["finish_range_begin", "start_range_begin", "x"]))),
        "start": either(leaf(st.one_of(DATES, DURATIONS.map(lambda d: "-" + d.strip("'"))))),
        "window": either(leaf(DURATIONS)),
        "key": either(leaf(WORDS)),
        "end_param": either(leaf(WORDS)),
    },
    ("cursor", "param", "end_param", "start", "window", "key"),
)


def for_each(names: list[str]) -> st.SearchStrategy[Tree]:
    return mapping(
        {},
        {
            "job": either(leaf(st.sampled_from([*names, "nobody", "member_inf"]))),
            "path": either(leaf(PATHS)),
            "param": either(leaf(WORDS)),
            "max_items": either(leaf(NUMBERS)),
        },
        ("job", "path", "param", "max_items"),
    )


JOB_NAMES = st.one_of(
    st.sampled_from(["member_info", "a", "A-1.b", "results", "x" * 101, "_x", "null", "~"]),
    st.sampled_from(["true", "123", "'a b'", '"ab\\n"', '"\\u2028"', "é", "[a, b]", "? [a]"]),
    st.text(min_size=1, max_size=10).map(json.dumps),
)


@st.composite
def jobs_file(draw: st.DrawFn) -> str:
    """A jobs.yaml from a grammar: known keys with fitting or unfitting values, and typos."""
    names = draw(st.lists(JOB_NAMES, min_size=0, max_size=4, unique=True))
    plain = [json.loads(n) if n.startswith('"') else n for n in names]
    job_values = {
        "every": either(leaf(DURATIONS)),
        "cron": either(leaf(CRONS)),
        "jitter": either(leaf(DURATIONS)),
        "enabled": either(leaf(st.sampled_from(["true", "false", "yes", "1", "~"]))),
        "timeout": either(leaf(DURATIONS)),
        "retries": either(leaf(st.one_of(NUMBERS, st.integers(0, 12).map(str)))),
        "description": either(leaf(WORDS)),
        "params": either(PARAMS),
        "incremental": either(INCREMENTAL),
        "for_each": either(for_each([str(p) for p in plain])),
    }
    endpoint = either(
        leaf(st.sampled_from(["member/info", "results/get", "/data/series/get/", "doc", "x"]))
    )
    jobs = {
        name: draw(either(mapping({"endpoint": endpoint}, job_values, JOB_KEYS))) for name in names
    }
    top: dict[str, Tree] = {}
    if draw(st.booleans()):
        defaults = {k: job_values[k] for k in ("every", "cron", "jitter", "timeout", "retries")}
        keys = ("every", "cron", "jitter", "enabled", "timeout", "retries")
        top["defaults"] = draw(either(mapping({}, defaults, keys)))
    top["jobs"] = draw(
        st.one_of(st.just(Tree(mapping=jobs)), st.just(Tree(mapping=jobs)), ANY_VALUE)
    )
    top.update(draw(st.dictionaries(typos(("defaults", "jobs")), ANY_VALUE, max_size=1)))
    order = draw(st.permutations(list(top)))
    return emit(Tree(mapping={key: top[key] for key in order}))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The valid file with a few characters or lines deleted, doubled, swapped or re-indented."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True)
        kind = draw(
            st.sampled_from(["del", "dup", "swap", "insert", "del_line", "dup_line", "swap_lines"])
            | st.sampled_from(["indent", "dedent", "tab", "replace"])
        )
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        row = draw(st.integers(0, max(len(lines) - 1, 0)))
        if kind == "del":
            text = text[:at] + text[at + 1 :]
        elif kind == "dup":
            text = text[:at] + text[at : at + 1] + text[at:]
        elif kind == "swap" and at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif kind == "insert":
            char = draw(st.sampled_from([":", "-", "{", "[", "'", '"', "&", "*", "!", "#", "\t"]))
            text = text[:at] + draw(st.one_of(st.just(char), st.characters())) + text[at:]
        elif kind == "del_line" and lines:
            del lines[row]
            text = "".join(lines)
        elif kind == "dup_line" and lines:
            lines.insert(row, lines[row])
            text = "".join(lines)
        elif kind == "swap_lines" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[row], lines[other] = lines[other], lines[row]
            text = "".join(lines)
        elif kind in ("indent", "dedent", "tab") and lines:
            line = lines[row]
            lines[row] = {"indent": "  " + line, "dedent": line[2:], "tab": "\t" + line}[kind]
            text = "".join(lines)
        elif kind == "replace" and lines:
            key, sep, _ = lines[row].partition(":")
            if sep:
                value = draw(st.one_of(SCALARS, st.just("")))
                lines[row] = f"{key}: {value}\n"
                text = "".join(lines)
    return text


# Hostile YAML that broke the parser before (each was an uncaught exception or a message on
# several lines), kept as regression examples.
REGRESSIONS = [
    "jobs:\n  a:\n    endpoint: member/info\n    every: 2026-13-45\n",  # ValueError
    "jobs: !!timestamp abc\n",  # AttributeError
    "jobs: !!int abc\n",  # ValueError
    "jobs: !!bool xyz\n",  # KeyError
    "jobs:\n  a: {endpoint: member/info, every: 1h, description: 0001-01-01T00:00:00+01:00}\n",
    "jobs:\n  a: {endpoint: member/info, every: " + "9" * 400 + "}\n",  # OverflowError
    "jobs:\n  a: {endpoint: member/info, every: .nan}\n",  # accepted: NaN seconds
    "defaults: {timeout: .inf}\njobs:\n  a: {endpoint: member/info, every: 1h}\n",  # accepted
    "jobs:\n  a: {endpoint: member/info, every: 99999999w}\n",  # accepted: beyond year 9999
    'jobs:\n  "a\\nb": {endpoint: member/info, every: 1h}\n',  # a message on two lines
    'jobs:\n  "ab\\n": {endpoint: member/info, every: 1h}\n',  # accepted with its newline
    'jobs:\n  a: {endpoint: member/info, every: 1h, params: {x: "{a\\nb}"}}\n',
    'jobs:\n  a: {endpoint: member/info, every: 1h, params: {x: "{-99999999999d}"}}\n',
    "jobs:\n  a: {endpoint: member/info, every: 1h, params: {x: '{-" + "9" * 400 + "d}'}}\n",
    "jobs: &a [*a]\n",  # RecursionError
    "jobs: &a {x: *a}\n",  # RecursionError
    "jobs: " + "[" * 600 + "]" * 600 + "\n",  # RecursionError in yaml.compose
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"  # aliases expanded to 10**7 values
    + "".join(
        f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n"
        for a, b in zip("abcdef", "bcdefg", strict=True)
    )
    + "jobs: *g\n",
    "jobs:\n  a:\n    endpoint: member/info\n    every: 1h\n"
    "    incremental: {cursor: c, param: p, start: '0001-01-01T00:00+05:00'}\n",
    "jobs: \x07\n",  # ReaderError: a message on two lines
    "jobs:\n  a: 1\n\n\n\x00\n",
]


@FAST
@given(st.text())
@example("")
@example("\ufeffjobs:\n  a: {endpoint: member/info, every: 1h}\n")
def test_any_text_is_a_config_or_one_clean_error(content: str) -> None:
    check_jobs_text(content)


@pytest.mark.parametrize("content", REGRESSIONS)
def test_hostile_yaml_regressions(content: str) -> None:
    check_jobs_text(content)


@pytest.mark.slow
@FAST
@given(jobs_file())
def test_grammar_built_files_are_a_config_or_one_clean_error(content: str) -> None:
    check_jobs_text(content)


@pytest.mark.slow
@FAST
@given(mutated())
@example(VALID)
# found by the search (HYPOTHESIS_PROFILE=search): a variable that is not set disables its job
@example(VALID.replace("IRACING_CUST_ID", "RACING_CUST_ID"))
def test_mutated_valid_files_are_a_config_or_one_clean_error(content: str) -> None:
    if content == VALID:
        config = check_jobs_text(content)
        assert config is not None and len(config.jobs) == 5
    else:
        check_jobs_text(content)


@pytest.mark.slow
@settings(WITH_FIXTURES, max_examples=examples(60))
@given(st.one_of(mutated(), jobs_file(), st.text(max_size=200)))
def test_load_jobs_file_from_disk(tmp_path: Path, content: str) -> None:
    """load_jobs_file (cron checks, the environment, the built-in catalogue job) on a file."""
    path = tmp_path / "jobs.yaml"
    path.write_text(content, encoding="utf-8")
    lines = len(LINE_BREAKS.split(content))
    try:
        config = load_jobs_file(path)
    except ConfigError as exc:  # a JobsError, or the file itself could not be read
        message = str(exc)
    else:
        assert "catalog" in config.jobs
        return
    if "cannot read" in message:
        assert message.splitlines() == [message] and message.startswith(str(path)), message
    else:
        assert_one_clean_line(message, str(path), lines)


# -- 2. /data answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One generated HTTP answer, or a transport failure."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None  # raise this httpx error instead of answering
    truncated: bool = False  # the body breaks off mid-stream

    def respond(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise getattr(httpx, self.error)("injected", request=request)
        headers = [(name.encode(), value.encode()) for name, value in self.headers]  # raw bytes
        if self.truncated:
            return httpx.Response(
                self.status, headers=headers, stream=_Truncated(self.body), request=request
            )
        return httpx.Response(self.status, headers=headers, content=self.body, request=request)


class _Truncated(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[: len(self.body) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@dataclass
class Script:
    """What the server says: /data answers in order, link/chunk answers in order (the last
    one repeats), with a limit on requests so an endless loop fails fast instead of hanging."""

    data: list[Answer]
    links: list[Answer]
    requests: list[str] = field(default_factory=list)
    limit: int = 400

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        assert len(self.requests) <= self.limit, "too many requests: an unbounded retry loop?"
        is_data = request.url.path.startswith("/data/")
        answers = self.data if is_data else self.links
        seen = sum(1 for url in self.requests if ("/data/" in url) == is_data) - 1
        return answers[min(seen, len(answers) - 1)].respond(request)


class FuzzTransport(httpx.BaseTransport):
    """OAuth through the real simulator; /data and every link answered from a Script."""

    def __init__(self, sim: Simulator) -> None:
        self.real = SimulatorTransport(sim)
        self.script = Script([Answer()], [Answer()])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth2/"):
            return self.real.handle_request(request)
        return self.script.answer(request)


LINK = "https://s3.fuzz.example/bucket/"
URLS = st.one_of(
    st.sampled_from([LINK + "doc.json?X-Amz-Signature=abc", LINK + "a", "https://s3.fuzz/"]),
    st.sampled_from(["http://[::1", "https://exa mple.com/x", "https://\x00/", "ftp://x/y"]),
    st.sampled_from(["https://", "http://:99999/", "https://a.b/" + "x" * 3000, "/relative"]),
    st.text(max_size=10).map(lambda t: LINK + t),
)
HUGE: st.SearchStrategy[object] = st.sampled_from(
    [2**70, -(2**70), 10**30, 1e308, -1.0, 0, -5, 3.5, True, None, "7", []]
)
# Rows for cursor and fan-out jobs. Not generated, because of bugs outside the files this test
# may fix (see the known-bug tests at the end): a key that is a lone surrogate (text() never
# draws one), or one with a line break.
LINE_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
KEYS = st.text(st.characters(exclude_characters=LINE_BREAK_CHARS), max_size=3)
ROWS = st.lists(
    st.fixed_dictionaries(
        {"subsession_id": st.one_of(st.integers(-(2**70), 2**70), KEYS)},
        optional={
            "end_time": st.sampled_from(
                [
                    *["2026-01-01T00:00:00Z", "2025-12-31T12:00:00.5Z", "2026-01-01T05:00+05:00"],
                    *["garbage", "0001-01-01T00:00:00+05:00", "", "2026-13-01", "9999-12-31"],
                    *["9999-12-31T23:59:59-05:00", "2026-01-02T00:00:00Z"],
                ]
            )
            | st.integers()
        },
    ),
    max_size=4,
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@st.composite
def chunk_info(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(
        st.one_of(
            st.lists(
                st.sampled_from(["c0.json", "c1.json?Signature=x", "c 2", "é", ""]), max_size=5
            ),
            st.sampled_from([[], "c0.json", {"a": 1}, [1, 2], None, [None], 7]),
        )
    )
    info: dict[str, Any] = {
        "chunk_file_names": names,
        "base_download_url": draw(st.one_of(URLS, HUGE, st.just(LINK))),
    }
    count = len(names) if isinstance(names, list) else 0
    info["num_chunks"] = draw(st.one_of(st.just(count), HUGE))
    info["rows"] = draw(st.one_of(st.integers(0, 10), HUGE))
    for key in draw(st.sets(st.sampled_from(list(info)))):  # some keys missing
        del info[key]
    return info


@st.composite
def document(draw: st.DrawFn) -> Any:
    """A /data document in one of its shapes, or a broken one."""
    shape = draw(st.sampled_from(["direct", "rows", "link", "data_url", "top", "under", "junk"]))
    if shape == "direct":
        return draw(ANY_JSON)
    if shape == "rows":
        return draw(ROWS)
    if shape == "link":
        doc = {"link": draw(URLS), "expires": draw(st.one_of(st.text(max_size=5), HUGE))}
        return doc | draw(st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_LEAVES))
    if shape == "data_url":
        return {"type": "member_awards", "data": draw(ANY_JSON), "data_url": draw(URLS)}
    info = draw(st.one_of(chunk_info(), ANY_JSON))
    if shape == "top":
        return {"chunk_info": info, "success": True}
    if shape == "under":
        return {"type": "results", "data": {"success": True, "chunk_info": info}}
    return {"chunk_info": draw(st.sampled_from([[], "x", 5, True])), "data": draw(ANY_JSON)}


BODIES = st.one_of(
    document().map(lambda d: json.dumps(d).encode()),
    document().map(lambda d: json.dumps(d).encode()),
    ROWS.map(lambda r: json.dumps(r).encode()),
    st.sampled_from(
        [
            b"",
            b"<!DOCTYPE html><html><body>Bad Gateway</body></html>",
            b"   <html>oops</html>",
            b"\xff\xfe{",
            b'{"a": "\xc3\x28"}',
            b"\xef\xbb\xbf[]",
            b'{"link": "https://s3.fuzz.example/x"',
            b"[" * 100_000 + b"]" * 100_000,
            b"[" * 100_000,
            b"1e400",
            b"-1e400",
            str(2**70).encode(),
            b"9" * 5000,
            b"[" + b"9" * 5000 + b"]",
            b"NaN",
            b'{"error": "Site Maintenance"}',
            b'{"error": "Site Maintenance", "note": "\\ud800"}',
            b'{"message": "\\ud800\\n\\u0000 bad", "error": "x"}',
            b'"\\udfff"',
            b'{"chunk_info": {"chunk_file_names": ["a"], "base_download_url": "https://s/",'
            b' "rows": 1e400}}',
            b"cust_id,name\n1,\xc3\xa9\n",
            b"null",
        ]
    ),
    st.binary(max_size=30),
    document().map(lambda d: json.dumps(d).encode()[: len(json.dumps(d)) // 2]),
)
RATE_VALUES = st.sampled_from(
    [
        *[
            "",
            "abc",
            "-1",
            "0",
            "1",
            "2",
            "240",
            "3.5",
            "1e3",
            " 7 ",
            "\u0661\u0662",
            "99999999999",
        ],
        *[str(2**70), "1e300", "-1e300", "nan", "inf", "-inf", "1e400"],
    ]
)
DATES_HEADER = st.sampled_from(
    [
        *["Thu, 01 Jan 2026 00:00:00 GMT", "Thu, 01 Jan 2026 00:05:00 GMT", "yesterday", ""],
        *["Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 2026"],
        *["Thu, 01 Jan 2026 00:00:00 +9999", "Thu, 99 Jan 2026 00:00:00 GMT", "1767225600"],
    ]
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    result: dict[str, str] = {}
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/html",
                "text/csv",
                "application/csv",
                "",
                "text/plain",
                "application/json; charset=latin-1",
                "application/json; charset=bogus",
                None,
            ]
        )
    )
    if content_type is not None:
        result["content-type"] = content_type
    if draw(st.booleans()):
        for name in ("limit", "remaining", "reset"):
            if draw(st.integers(0, 5)):
                result[f"x-ratelimit-{name}"] = draw(RATE_VALUES)
        if "x-ratelimit-reset" in result and draw(st.booleans()):
            # relative to the ManualClock's start (2026-01-01): just past, soon, far
            offset = draw(st.sampled_from([-10, 0, 5, 30, 59, 3600, 10**6]))
            result["x-ratelimit-reset"] = str(1_767_225_600 + offset)
        if draw(st.booleans()):  # the server's clock, to move the reset onto ours
            result["date"] = draw(DATES_HEADER)
    if draw(st.integers(0, 4)) == 0:
        result["retry-after"] = draw(st.sampled_from(["5", "-1", "abc", "1e400"]))
    return tuple(result.items())


STATUSES = st.one_of(
    st.just(200),
    st.just(200),
    st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 504]),
    st.integers(100, 599),
)
JSON_HEADERS = st.just((("content-type", "application/json"),)) | headers()
ANSWERS = st.one_of(
    # a well-formed answer carrying a (possibly broken) document: the usual case
    st.builds(Answer, body=document().map(lambda d: json.dumps(d).encode()), headers=JSON_HEADERS),
    st.builds(Answer, body=document().map(lambda d: json.dumps(d).encode()), headers=JSON_HEADERS),
    st.builds(Answer, status=STATUSES, body=BODIES, headers=headers()),
    st.builds(Answer, status=STATUSES, body=BODIES, headers=headers()),
    st.builds(Answer, body=BODIES, headers=headers(), truncated=st.just(True)),
    st.builds(
        Answer,
        error=st.sampled_from(
            ["ReadTimeout", "ConnectError", "RemoteProtocolError", "ReadError", "ConnectTimeout"]
        ),
    ),
)
CHUNK_ROWS = st.builds(Answer, body=ROWS.map(lambda r: json.dumps(r).encode()))


@dataclass
class Harness:
    """The fixtures' runtime with a fresh rate budget, maintenance pause and client per example
    (so no example inherits another's waits), and a watchdog that stops a run taking too long."""

    runtime: Runtime
    transport: FuzzTransport
    clock: ManualClock

    def run(self, spec: JobSpec, script: Script) -> RunOutcome:
        self.transport.script = script
        clock = self.clock
        rt = self.runtime
        budget = RateBudget(clock, rng=random.Random(0))
        pause = MaintenancePause(clock)
        client = DataClient(
            rt.settings, rt.http, rt.session, budget, pause, clock, rng=random.Random(0)
        )
        runner = Runner(client, Archive(rt.engine, clock), clock, pause)
        stop = threading.Event()
        watchdog = threading.Timer(20.0, stop.set)
        watchdog.start()
        started = clock.now()
        try:
            outcome = runner.run(spec, stop=stop)
        finally:
            watchdog.cancel()
            client.close()
        assert not stop.is_set(), f"the run did not end within 20 s: {outcome}"
        # every wait is capped by the job's timeout: the ManualClock shows how long it waited
        assert clock.now() - started <= (spec.timeout or 0) + 1, outcome
        return outcome


@pytest.fixture
def harness(settings: Settings, sim: Simulator, clock: ManualClock) -> Iterator[Harness]:
    transport = FuzzTransport(sim)
    # the fuzzed documents link to their own download host
    allowed = settings.with_overrides(download_hosts=("s3.fuzz.example",))
    with open_runtime(allowed, transport=transport, clock=clock) as rt:
        rt.session.login()
        yield Harness(rt, transport, clock)


def rows_of(rt: Runtime, sql: str, **params: object) -> list[tuple[Any, ...]]:
    with rt.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def check_run(harness: Harness, spec: JobSpec, script: Script) -> str:
    """The property: a final status and, unless success, a reason; no crash; consistent data."""
    outcome = harness.run(spec, script)
    status, error, run_id = outcome.status, outcome.error, outcome.run_id
    assert status in FINAL_STATUSES, status
    assert status != RunStatus.INTERRUPTED, error  # nothing stopped it: only the watchdog would
    if status == RunStatus.SUCCESS:
        assert error is None
    else:
        assert error, status
        # a bug inside harvester is also turned into "failed", so look for it explicitly
        assert not error.startswith("unexpected "), error
        assert error.splitlines() == [error], error
    rt = harness.runtime
    parts = rows_of(rt, "SELECT part FROM result_parts WHERE run_id = :r AND part = 0", r=run_id)
    if status == RunStatus.SUCCESS:  # one result per request: one, or one per fan-out item
        expected = outcome.counts.items_ok if spec.for_each else 1
        assert len(parts) == outcome.counts.results == expected, (parts, script.requests)
    run_rows = rows_of(rt, "SELECT status, error FROM runs WHERE id = :r", r=run_id)
    assert run_rows == [(status, run_rows[0][1])] and (run_rows[0][1] is None) == (error is None)
    assert rows_of(rt, "PRAGMA foreign_key_check") == []
    return status


PLAIN = JobSpec(name="fuzz", endpoint="member/info", timeout=3600.0)
CURSOR = JobSpec(
    name="fuzz_cursor",
    endpoint="results/search_series",
    timeout=3600.0,
    incremental=Incremental(
        "end_time", "finish_range_begin", "finish_range_end", "-1d", 90 * 86400.0, "subsession_id"
    ),
)
CURSOR_JOBS = itertools.count()
FAN_OUT = JobSpec(  # one request per subsession_id in the plain job's results, 3 at most a run
    name="fuzz_fan_out",
    endpoint="results/get",
    timeout=3600.0,
    for_each=ForEach(
        "fuzz", "$[*].subsession_id", tuple(compile_path("$[*].subsession_id")), "subsession_id", 3
    ),
)


def html(status: int) -> Answer:
    return Answer(status, b"<!DOCTYPE html><html></html>", (("content-type", "text/html"),))


def js(value: Any, status: int = 200, *more: tuple[str, str]) -> Answer:
    return Answer(status, json.dumps(value).encode(), (("content-type", "application/json"), *more))


def chunked(names: Any, base: Any = LINK, rows: Any = 2, **extra: Any) -> Answer:
    info = {"chunk_file_names": names, "base_download_url": base, "rows": rows, **extra}
    return js({"type": "x", "data": {"success": True, "chunk_info": info}})


@settings(WITH_FIXTURES, max_examples=examples(600))
@given(
    data=st.lists(ANSWERS, min_size=1, max_size=5),
    links=st.lists(st.one_of(ANSWERS, CHUNK_ROWS), min_size=1, max_size=6),
    kind=st.sampled_from(["plain", "cursor", "fan_out"]),
)
# regressions: each was an "unexpected" crash, or made Runner.run itself raise
@example(data=[js({"link": "http://[::1", "expires": "x"})], links=[Answer()], kind="plain")
@example(data=[chunked(["\x00"])], links=[js([{}])], kind="plain")  # InvalidURL
@example(data=[js({"data_url": "https://"})], links=[js([])], kind="plain")  # ValueError
@example(data=[chunked(["\ud800"])], links=[js([{}])], kind="plain")  # UnicodeEncodeError
@example(data=[js({"link": LINK, "expires": "\ud800"})], links=[js({})], kind="plain")
@example(data=[Answer(200, b"[" * 100_000)], links=[Answer()], kind="plain")  # RecursionError
@example(data=[Answer(200, b"[" * 50_000 + b"]" * 50_000)], links=[Answer()], kind="plain")
@example(data=[Answer(503, b"[" * 50_000 + b"]" * 50_000)], links=[Answer()], kind="plain")
@example(data=[Answer(400, b'{"message": "\\ud800"}')], links=[Answer()], kind="plain")
@example(data=[Answer(403, b'{"error": "a\\nb\\u0000"}')], links=[Answer()], kind="plain")
@example(
    data=[js({"data_url": LINK + "x"}, 200, ("x-ratelimit-remaining", str(2**70)))],
    links=[js([])],
    kind="plain",
)
# and the ordinary shapes, so the properties are seen to hold on success too
@example(data=[chunked(["a b", "c"])], links=[js([{}])], kind="plain")
@example(data=[chunked(["a", "b"], rows=2)], links=[js([{"a": 1}])], kind="plain")
@example(
    data=[html(502), html(504), js({"error": "Site Maintenance"}, 503)], links=[], kind="cursor"
)
@example(
    data=[js([{"subsession_id": 7}, {"subsession_id": "x"}]), js({})], links=[], kind="fan_out"
)
@pytest.mark.slow
def test_any_server_answer_ends_the_run_cleanly(
    harness: Harness, data: list[Answer], links: list[Answer], kind: str
) -> None:
    script = Script(data, links or [Answer()])
    if kind == "fan_out":  # the parent's run takes the first answers, its items the rest
        event(f"fan-out parent: {check_run(harness, PLAIN, script)}")
        spec = FAN_OUT
    elif kind == "cursor":  # a job of its own each time: no cursor left by another example
        spec = replace(CURSOR, name=f"fuzz_cursor_{next(CURSOR_JOBS)}")
    else:
        spec = PLAIN
    event(f"{kind}: {check_run(harness, spec, script)}")  # (--hypothesis-show-statistics)


# A few well-formed answers must still succeed (the harness itself is sound).
@pytest.mark.parametrize(
    ("data", "links", "parts"),
    [
        ([js({"a": 1})], [Answer()], 1),
        ([js({"link": LINK + "d?X-Amz-Signature=s", "expires": "2026"})], [js({"b": 2})], 1),
        ([chunked(["c0", "c1?Signature=s"], rows=2, num_chunks=2)], [js([{"a": 1}])], 3),
        ([html(502), Answer(error="ReadTimeout"), js([1, 2])], [Answer()], 1),
    ],
)
def test_well_formed_answers_succeed(
    harness: Harness, data: list[Answer], links: list[Answer], parts: int
) -> None:
    script = Script(data, links)
    assert check_run(harness, PLAIN, script) == "success", script.requests
    stored = rows_of(harness.runtime, "SELECT count(*) FROM result_parts WHERE job = 'fuzz'")
    assert stored == [(parts,)]


# -- found by the fuzzing above (rate budget, cursor, row keys, fan-out values) --------------------
# Each was fixed in the module it crashed; these pin the fixes: keep them.


@pytest.mark.parametrize("reset", ["nan", "inf", "1e400"])
def test_a_non_finite_rate_limit_reset_is_ignored(harness: Harness, reset: str) -> None:
    """Was `unexpected ValueError/OverflowError` from math.ceil in ratelimit.parse_rate_headers."""
    rate = (("x-ratelimit-limit", "240"), ("x-ratelimit-remaining", "200"))
    answer = js({"a": 1}, 200, *rate, ("x-ratelimit-reset", reset))
    assert check_run(harness, PLAIN, Script([answer], [Answer()])) == "success"


def test_a_row_ending_past_year_9999(harness: Harness) -> None:
    """Was `unexpected ValueError: year 10000 is out of range`: the cursor (incremental.advance)
    became that end_time, which iso_seconds cannot write."""
    rows = [{"subsession_id": 1, "end_time": "9999-12-31T23:59:59-05:00"}]
    assert check_run(harness, CURSOR, Script([js(rows)], [Answer()])) == "success"


def test_a_future_end_time_does_not_move_the_cursor_past_now(harness: Harness) -> None:
    """Was: the cursor moved to 9999-12-31 for good, and every later window asked for races
    that cannot exist yet."""
    rows = [{"subsession_id": 1, "end_time": "9999-12-31"}]
    assert check_run(harness, CURSOR, Script([js(rows)], [Answer()])) == "success"
    stored = get_cursor(harness.runtime.engine, CURSOR.name)
    assert stored is not None and parse_iso(stored) <= harness.clock.now(), stored


# Found by the fuzzing, fixed since: pinned as regressions.

JSON = (("content-type", "application/json"),)


def test_regression_a_rate_limit_of_one_does_not_wait_forever(harness: Harness) -> None:
    reset = str(int(harness.clock.now()) + 10)
    rate = (("x-ratelimit-limit", "1"), ("x-ratelimit-remaining", "1"))
    script = Script([js({}, 500, *rate, ("x-ratelimit-reset", reset)), js({"a": 1})], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"


def test_regression_a_row_key_with_a_lone_surrogate(harness: Harness) -> None:
    body = Answer(200, b'[{"subsession_id": "\\ud800"}]', JSON)
    assert check_run(harness, CURSOR, Script([body], [Answer()])) == "success"


def test_regression_a_fan_out_value_with_a_lone_surrogate(harness: Harness) -> None:
    body = Answer(200, b'[{"subsession_id": "\\ud800"}]', JSON)
    script = Script([body, js({})], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"
    assert check_run(harness, FAN_OUT, script) == "success"


def test_regression_a_fan_out_value_with_a_line_break(harness: Harness) -> None:
    script = Script([js([{"subsession_id": "a\nb"}]), html(502)], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"
    assert check_run(harness, FAN_OUT, script) == "failed"
