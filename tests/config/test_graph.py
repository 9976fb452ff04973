"""The jobs as a pipeline: `after:` and `for_each` form a graph whose order puts parents first,
and a cycle, a missing job or a disabled parent is one line naming the file and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harvester._config.graph import JobGraph, find_cycle, parents_of
from harvester._config.jobs import JobsError
from harvester._config.jobs_file import load_jobs_file
from harvester._config.jobs_yaml import parse_jobs

CHAIN = """\
jobs:
  laps:
    endpoint: results/lap_data
    every: 1h
    params: {simsession_number: 0}
    for_each: {job: details, path: "$.subsession_id", param: subsession_id}
  charts:
    endpoint: member/chart_data
    params: {category_id: 5, chart_type: 1}
    every: 1d
    after: [search, details]
  details:
    endpoint: results/get
    every: 1h
    for_each: {job: search, path: "$[*].subsession_id", param: subsession_id}
  search:
    endpoint: results/search_series
    every: 1h
    params: {cust_id: 1}
    incremental: {cursor: end_time, param: finish_range_begin, start: -7d}
  alone: {endpoint: member/info, every: 1d}
"""


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(JobsError) as caught:
        parse_jobs(textwrap.dedent(text), **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


# -- the graph (pure) ---------------------------------------------------------------------------


def test_after_and_for_each_make_the_parents_and_children_of_each_job() -> None:
    config = parse_jobs(CHAIN)
    assert config.jobs["charts"].after == ("search", "details")
    assert parents_of(config.jobs["charts"]) == ("search", "details")
    assert parents_of(config.jobs["laps"]) == ("details",)
    graph = JobGraph.of(config.jobs)
    assert graph.children["search"] == ("charts", "details")
    assert graph.children["details"] == ("laps", "charts")
    assert graph.parents["alone"] == () and graph.children["alone"] == ()


def test_the_order_puts_every_parent_before_its_children_else_keeps_the_file_order() -> None:
    order = JobGraph.of(parse_jobs(CHAIN).jobs).order
    assert order == ("search", "alone", "details", "laps", "charts")
    rank = JobGraph.of(parse_jobs(CHAIN).jobs).rank()
    for child, parents in (("details", ["search"]), ("laps", ["details"]), ("charts", ["search"])):
        assert all(rank[p] < rank[child] for p in parents)


def test_a_parent_and_its_fan_out_named_twice_is_one_edge() -> None:
    config = parse_jobs(
        "jobs:\n  a: {endpoint: results/search_series, every: 1h, params: {cust_id: 1}}\n"
        "  b: {endpoint: results/get, every: 1h, after: [a, a],\n"
        '      for_each: {job: a, path: "$[*].subsession_id", param: subsession_id}}\n'
    )
    assert parents_of(config.jobs["b"]) == ("a",)
    assert JobGraph.of(config.jobs).children["a"] == ("b",)


def test_find_cycle_names_the_jobs_round_it() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": ["x"]}) == ["x", "x"]
    assert find_cycle({"a": ["gone"]}) is None  # an edge out of the graph is not followed


# -- refused at load, one line with file:line --------------------------------------------------


def test_a_cycle_is_one_line_naming_the_edge_that_closes_it() -> None:
    found = problems(
        """\
        jobs:
          a: {endpoint: member/info, every: 1h, after: c}
          b: {endpoint: results/get, every: 1h, for_each: {job: a, path: "$[*].x", param: x}}
          c:
            endpoint: member/info
            every: 1h
            after: [b]
        """
    )
    assert found == [
        "jobs.yaml:2: jobs.a.after: the jobs form a cycle (a -> b -> c -> a): each one's runs "
        "would start the next, without end"
    ]


def test_a_job_that_follows_itself_is_refused() -> None:
    assert problems("jobs:\n  a: {endpoint: member/info, every: 1h, after: a}\n") == [
        "jobs.yaml:2: jobs.a.after: job 'a' follows itself"
    ]


def test_a_missing_job_is_refused_with_a_suggestion() -> None:
    found = problems(
        "jobs:\n  search: {endpoint: member/info, every: 1h}\n"
        "  charts:\n    endpoint: member/info\n    every: 1h\n    after: [serch]\n"
    )
    assert found == [
        "jobs.yaml:6: jobs.charts.after: no job named 'serch' in this file; did you mean `search`?"
    ]
    fan_out = problems(
        "jobs:\n  details:\n    endpoint: results/get\n    every: 1h\n    for_each:\n"
        '      path: "$[*].subsession_id"\n      job: nobody\n      param: subsession_id\n'
    )
    assert fan_out == ["jobs.yaml:7: jobs.details.for_each.job: no job named 'nobody' in this file"]


def test_a_disabled_parent_is_refused_unless_its_child_is_disabled_too() -> None:
    text = """\
    jobs:
      search: {endpoint: member/info, every: 1h, enabled: false}
      charts: {endpoint: member/info, every: 1h, after: search}
    """
    assert problems(text) == [
        "jobs.yaml:3: jobs.charts.after: job 'search' is disabled, so its runs never come: "
        "enable it, or remove it here"
    ]
    both_off = text.replace("after: search}", "after: search, enabled: false}")
    assert not parse_jobs(textwrap.dedent(both_off)).jobs["charts"].enabled


def test_after_takes_a_name_or_a_list_of_names() -> None:
    assert problems("jobs:\n  a: {endpoint: member/info, every: 1h, after: {x: 1}}\n") == [
        "jobs.yaml:2: jobs.a.after: expected a job name or a list of them, got {'x': 1}"
    ]
    assert problems("jobs:\n  a: {endpoint: member/info, every: 1h, after: [true]}\n") == [
        "jobs.yaml:2: jobs.a.after: expected a job name or a list of them, got True"
    ]


def test_a_job_may_follow_the_built_in_catalogue_job(tmp_path: Path) -> None:
    text = "jobs:\n  after_doc: {endpoint: member/info, every: 1d, after: catalog}\n"
    alone = problems(text)  # the parser alone does not know it
    assert alone == ["jobs.yaml:2: jobs.after_doc.after: no job named 'catalog' in this file"]
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    config = load_jobs_file(path, env={})  # the loader adds the catalogue job: a known parent
    assert JobGraph.of(config.jobs).children["catalog"] == ("after_doc",)


def test_every_graph_problem_is_listed_by_validate(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n  a: {endpoint: member/info, every: 1h, after: [b, ghost]}\n"
        "  b: {endpoint: member/info, every: 1h, after: a}\n"
    )
    with pytest.raises(JobsError) as caught:
        load_jobs_file(path, env={})
    assert [str(p).split(": ", 2)[1] for p in caught.value.problems] == [
        "jobs.a.after",
        "jobs.a.after",
    ]
    assert str(caught.value).startswith(f"{path}:2: jobs.a.after: ")
    assert str(caught.value).count("\n") == 0
