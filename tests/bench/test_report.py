"""The README's table is written from the bench's JSON: every figure in it reads back as the
JSON's, and nothing outside its markers changes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.report import (
    END,
    START,
    ReportError,
    docs_block,
    main,
    read_table,
    readme_block,
    replace_between,
)
from bench.results import Goal, Result, table_cells

ROWS = [
    Result(
        "pipeline",
        "Runner.run per document, direct",
        "µs/doc",
        1234.6,
        321.0,
        3.85,
        "ratio",
        Goal("<=", 1.5, "≤ 1.5×"),
        "best of 3 | interleaved",
    ),
    Result(
        "ratebudget",
        "share of the allowed rate used",
        "share",
        0.996,
        1.0,
        0.996,
        "share",
        Goal(">=", 0.95, "≥ 95%"),
    ),
    Result(
        "ratebudget",
        "429 answers received",
        "count",
        0,
        426,
        None,
        "",
        Goal("==", 0, "0 (harvester)", on="harvester"),
    ),
    Result(
        "pipeline",
        "the same, before the pre-check",
        "µs/doc",
        5633.0,
        973.0,
        5.79,
        "ratio",
        readme=True,
    ),
    Result("memory", "chunk bytes stored", "MB", 10.7, note="29 documents"),
    Result(
        "archive",
        "latest result of each job",
        "ms",
        5.82,
        66.5,
        0.0875,
        "ratio",
        Goal("<", 50.0, "< 50 ms", on="harvester"),
    ),
    Result("tables", "scenario timed out", "", None, note="stopped at its time limit of 180 s"),
]


def bench_json(quick: bool = False) -> dict[str, Any]:
    return {
        "generated_at": "2026-12-03T04:05:06+00:00",
        "command": "python -m bench",
        "quick": quick,
        "elapsed_seconds": 1534.2,
        "machine": {
            "cpu": "AMD EPYC 7B13",
            "cpus": 2,
            "memory_gb": 7.8,
            "python": "3.11.2",
            "platform": "Linux",
            "load_average": [3.5, 2.0, 1.0],
            "load_average_after": [6.25, 5.0, 4.0],
            "commit": "0123456789ab",
        },
        "scenarios": [
            {
                "name": "tables",
                "status": "timed out",
                "seconds": 180.0,
                "limit": 180,
                "error": "stopped at its time limit of 180 s",
                "left_behind": False,
            },
        ],
        "results": [row.as_dict() for row in ROWS],
    }


def number(cell: str) -> float:
    """A figure of the table as a number again: units, separators and × dropped, % a share."""
    text = cell.replace(",", "").replace("×", "")
    figure = re.match(r"-?[\d.]+", text)
    assert figure is not None, cell
    value = float(figure.group(0))
    return value / 100 if text.endswith("%") else value


def test_the_json_rows_round_trip_through_the_markdown_table() -> None:
    document = json.loads(json.dumps(bench_json()))  # as read from the file
    table = read_table(docs_block(document))
    assert len(table) == len(document["results"])
    for cells, row in zip(table, document["results"], strict=True):
        result = Result.from_dict(row)
        assert result == ROWS[document["results"].index(row)]
        assert cells == [*table_cells(result), result.note]
        for cell, value in ((cells[2], row["harvester"]), (cells[3], row["baseline"])):
            if value is None:
                assert cell == "—"
            else:
                assert number(cell) == pytest.approx(value, rel=0.01, abs=0.006)


def test_the_readme_gets_a_figure_per_scenario_and_says_when_and_where() -> None:
    block = readme_block(bench_json())
    first = block.splitlines()[0]
    for fact in (
        "2026-12-03",
        "AMD EPYC 7B13",
        "2 cores",
        "7.8 GB",
        "3.5",
        "6.25",
        "3.11.2",
        "0123456789ab",
        "python -m bench",
        "26 min",
    ):
        assert fact in first
    measured = [cells[1] for cells in read_table(block)]
    # each scenario's first goal, a marked "before" (its goal is that first one), what did not
    # finish; a scenario's second goal (429 answers) and rows without a goal stay in the docs
    shown = [ROWS[i].measurement for i in (0, 1, 3, 5, 6)]
    assert measured == shown
    assert "Did not finish: tables (timed out: stopped at its time limit of 180 s)" in block
    assert read_table(block)[0][6] == "NO" and read_table(block)[1][6] == "yes"


def test_only_the_text_between_the_markers_changes_and_again_changes_nothing() -> None:
    text = f"# Title\n\nbefore\n{START}\nold | table\n{END}\nafter\n"
    new = replace_between(text, "new block", "README.md")
    assert new == f"# Title\n\nbefore\n{START}\nnew block\n{END}\nafter\n"
    assert replace_between(new, "new block", "README.md") == new


@pytest.mark.parametrize(
    "text",
    ["no markers", f"{START} {START} {END}", f"{END} then {START}", f"{START} only"],
)
def test_markers_missing_twice_or_reversed_are_a_clear_error(text: str) -> None:
    with pytest.raises(ReportError, match=r"^README\.md: "):
        replace_between(text, "block", "README.md")


def write(folder: Path, document: dict[str, Any]) -> tuple[Path, Path, Path, list[str]]:
    """The run's JSON, a README with hand-copied figures, where a docs page would be, and the
    paths the command is told."""
    path = folder / "latest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    readme = folder / "README.md"
    readme.write_text(f"intro\n{START}\nhand-copied\n{END}\nrest\n", encoding="utf-8")
    docs = folder / "performance.md"
    paths = [f"--readme={readme}", f"--docs={docs}", f"--published={folder / 'published.json'}"]
    return path, readme, docs, paths


def test_the_command_rewrites_the_readme_keeps_the_json_and_check_then_passes(
    tmp_path: Path,
) -> None:
    path, readme, docs, paths = write(tmp_path, bench_json())
    docs.write_text(f"# Performance\n{START}\n{END}\n", encoding="utf-8")
    assert main([str(path), *paths, "--check"]) == 1
    assert "hand-copied" in readme.read_text(encoding="utf-8")
    assert main([str(path), *paths]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith(f"{END}\nrest\n")
    assert "hand-copied" not in text and "| 1,235 µs/doc | 321 µs/doc |" in text
    assert "best of 3 \\| interleaved" in docs.read_text(encoding="utf-8")
    published = tmp_path / "published.json"
    assert published.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    path.unlink()  # the last run is not kept; the check reads the published copy
    assert main([*paths, "--check"]) == 0
    readme.write_text(text.replace("1,235", "1,200"), encoding="utf-8")  # copied by hand
    assert main([*paths, "--check"]) == 1


def test_a_quick_run_is_refused_unless_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, readme, docs, paths = write(tmp_path, bench_json(quick=True))
    assert main([str(path), *paths]) == 2
    assert "a --quick run is a smoke test" in capsys.readouterr().err
    assert "hand-copied" in readme.read_text(encoding="utf-8")
    assert main([str(path), *paths, "--allow-quick"]) == 0
    assert not docs.exists()  # a docs page is only written where there is one


def test_a_file_that_is_not_the_bench_json_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _, paths = write(tmp_path, bench_json())
    path.write_text("{not json", encoding="utf-8")
    assert main([str(path), *paths]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench.report: {path}: not the bench's JSON") and err.count("\n") == 1


def partial_json(scenario: str, rows: list[Result], day: str, commit: str) -> dict[str, Any]:
    """A run of one scenario (`python -m bench --only NAME`)."""
    return {
        **bench_json(),
        "generated_at": f"2026-12-{day}T07:00:00+00:00",
        "command": f"python -m bench --only {scenario}",
        "elapsed_seconds": 120.0,
        "machine": {**bench_json()["machine"], "commit": commit},
        "scenarios": [
            {"name": scenario, "status": "ok", "seconds": 120.0, "limit": 900, "error": ""}
        ],
        "results": [row.as_dict() for row in rows],
    }


def test_a_run_of_some_scenarios_replaces_their_rows_and_keeps_the_others(
    tmp_path: Path,
) -> None:
    base = tmp_path / "published.json"
    base.write_text(json.dumps(bench_json()), encoding="utf-8")
    faster = Result("pipeline", "Runner.run per document, direct", "µs/doc", 600.0, 321.0, 1.87)
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(json.dumps(partial_json("pipeline", [faster], "05", "aaaa")), "utf-8")
    tables = tmp_path / "tables.json"
    finished = Result("tables", "rows per second", "rows/s", 5000.0)
    tables.write_text(json.dumps(partial_json("tables", [finished], "06", "bbbb")), "utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold\n{END}\n", encoding="utf-8")
    paths = [f"--readme={readme}", f"--docs={tmp_path / 'none.md'}", f"--published={base}"]

    assert main(["--merge", str(pipeline), str(tables), *paths]) == 0
    merged = json.loads(base.read_text(encoding="utf-8"))
    rows = [(r["scenario"], r["measurement"]) for r in merged["results"]]
    # pipeline's two old rows give way to its one new row, in their place; the rest stay
    assert rows == [
        ("pipeline", faster.measurement),
        ("ratebudget", ROWS[1].measurement),
        ("ratebudget", ROWS[2].measurement),
        ("memory", ROWS[4].measurement),
        ("archive", ROWS[5].measurement),
        ("tables", "rows per second"),
    ]
    assert merged["results"][0]["harvester"] == 600.0
    # tables finished this time
    assert {s["name"]: s["status"] for s in merged["scenarios"]} == {
        "tables": "ok",
        "pipeline": "ok",
    }
    text = readme.read_text(encoding="utf-8")
    assert "Did not finish" not in text
    lines = text.split(START)[1].splitlines()
    assert "2026-12-03" in lines[1] and "(the scenarios not named below)" in lines[1]
    assert lines[2].startswith("pipeline: Measured on 2026-12-05") and "`aaaa`" in lines[2]
    assert "`python -m bench --only pipeline`" in lines[2]
    assert lines[3].startswith("tables: Measured on 2026-12-06")
    assert main([*paths, "--check"]) == 0

    again = tmp_path / "again.json"  # pipeline measured again: its older note goes
    again.write_text(json.dumps(partial_json("pipeline", [faster], "07", "cccc")), "utf-8")
    assert main(["--merge", str(again), *paths]) == 0
    merged = json.loads(base.read_text(encoding="utf-8"))
    assert [(m["scenarios"], m["machine"]["commit"]) for m in merged["merged"]] == [
        (["tables"], "bbbb"),
        (["pipeline"], "cccc"),
    ]
    assert len(merged["results"]) == 6


def test_merge_refuses_a_quick_run_and_needs_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "published.json"
    base.write_text(json.dumps(bench_json()), encoding="utf-8")
    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps({**partial_json("memory", [], "05", "a"), "quick": True}), "utf-8")
    paths = [f"--published={base}", f"--readme={tmp_path / 'README.md'}"]
    before = base.read_text(encoding="utf-8")
    assert main(["--merge", str(quick), *paths]) == 2
    assert "a --quick run is a smoke test" in capsys.readouterr().err
    assert base.read_text(encoding="utf-8") == before
    with pytest.raises(SystemExit):
        main(["--merge", *paths])
