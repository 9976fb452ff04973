"""Property-based fuzzing (hypothesis) of jobs.yaml, where the user's file gets in: any text,
grammar-built YAML and mutations of a valid file give either a JobsConfig or one clean JobsError
whose `str()` is one line `file:line: ...`, never a traceback. (tests/fuzzing.py: replay or
search.)"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harvester._config.graph import JobGraph
from harvester._config.jobs import JobsConfig, JobsError
from harvester._config.jobs_file import load_jobs_file
from harvester._config.jobs_yaml import JOB_KEYS, NAME, parse_jobs
from harvester._config.templates import render
from harvester._config.triggers import cron_error, fire_times
from harvester._core.errors import ConfigError
from harvester._core.text import query_value
from tests.helpers import FAST, WITH_FIXTURES, examples

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
  my_charts:
    endpoint: member/chart_data
    params: {category_id: 5, chart_type: 1}
    every: 1d
    after: [my_results, member_info]
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
        for parent in spec.after:  # the pipeline's edges name jobs of the file
            assert parent in config.jobs
    if config.jobs:  # ... and form no cycle: every job has its place in the order
        assert set(JobGraph.of(config.jobs).order) == set(config.jobs)
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


def after(names: list[str]) -> st.SearchStrategy[Tree]:
    """`after:` one name (of the file's jobs or not) or a list of them."""
    name = st.sampled_from([*names, "nobody", "member_inf"])
    return st.one_of(leaf(name), leaf(st.lists(name, max_size=3).map(json.dumps)))


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
        "after": either(after([str(p) for p in plain])),
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
        assert config is not None and len(config.jobs) == 6
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
