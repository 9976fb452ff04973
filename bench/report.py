"""The README's table of figures, written from the bench's JSON: no figure is copied by hand.

    python -m bench.report [FILE]   rewrite the tables from FILE (bench/results/latest.json)
                                    and keep FILE as bench/published.json, beside them in git
    python -m bench.report --check  exit 1 if the tables are not what bench/published.json
                                    gives (a check for CI); changes nothing
    python -m bench.report --merge FILE...
                                    a run of some scenarios (`--only`) replaces those
                                    scenarios' rows in bench/published.json, keeping the
                                    others; the provenance then says which were measured when

README.md gets a few rows (`readme_rows`: those a scenario marks for it, else each scenario's
first row with a goal, and a row for any scenario that did not finish), between the markers
`<!-- bench-table:start -->` and `<!-- bench-table:end -->`, under a line that says when, on
what machine and by which command they were measured; docs/performance.md, if it exists, gets
every row with its note between the same markers. Nothing outside the markers changes. A quick
run is a smoke test, not a measurement: it is refused unless --allow-quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .results import HEADERS, Result, table_cells

REPO = Path(__file__).resolve().parents[1]
START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"  # the last run (not kept in git)
PUBLISHED = REPO / "bench" / "published.json"  # the run the README shows (kept in git)
README = REPO / "README.md"
DOCS = REPO / "docs" / "performance.md"
NOT_FINISHED = ("scenario crashed", "scenario timed out")


class ReportError(ValueError):
    """The JSON or a file cannot give a table (one line, naming the file)."""


# -- pure: the JSON -> markdown -----------------------------------------------------------------


def results_of(document: Mapping[str, Any]) -> list[Result]:
    return [Result.from_dict(row) for row in document["results"]]


def provenance(document: Mapping[str, Any]) -> str:
    """When, where and how the figures were measured: one line, and a line per later run of
    some scenarios merged in (`merge`), naming them."""
    lines = [_measured(document)]
    merged = document.get("merged") or []
    if merged:
        lines[0] = lines[0].rstrip(".") + " (the scenarios not named below)."
    for run in merged:
        lines.append(f"{', '.join(run['scenarios'])}: {_measured(run)}")
    return "\n".join(lines)


def _measured(document: Mapping[str, Any]) -> str:
    machine = document["machine"]
    memory = f", {machine['memory_gb']:g} GB" if machine.get("memory_gb") else ""
    load = machine.get("load_average") or []
    after = machine.get("load_average_after") or []
    loads = ""
    if load:
        loads = f"; load average {load[0]:g}" + (
            f" at the start, {after[0]:g} at the end" if after else ""
        )
    minutes = float(document["elapsed_seconds"]) / 60
    return (
        f"Measured on {document['generated_at'][:10]} on {machine['cpu']} "
        f"({machine['cpus']} cores{memory}){loads}; Python {machine['python']}, commit "
        f"`{machine.get('commit', 'unknown')}`; `{document['command']}` took {minutes:.0f} min."
    )


def measured_scenarios(document: Mapping[str, Any]) -> list[str]:
    """The scenarios a run measured: those it ran, else those its rows are of."""
    names = [s["name"] for s in document.get("scenarios", [])]
    return names or list(dict.fromkeys(row["scenario"] for row in document["results"]))


def merge(base: Mapping[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with the rows of the scenarios `part` measured replaced by `part`'s (in the place
    the old rows had; a scenario new to `base` at the end), the others kept, and `part`'s
    when, where and how noted under `merged` (an earlier merge of the same scenarios drops
    out). The top-level provenance stays the base run's."""
    names = measured_scenarios(part)
    replaced = set(names)
    fresh: dict[str, list[Any]] = {}
    for row in part["results"]:
        fresh.setdefault(row["scenario"], []).append(row)
    results: list[Any] = []
    placed: set[str] = set()
    for row in base["results"]:
        name = row["scenario"]
        if name not in replaced:
            results.append(row)
        elif name not in placed:
            results.extend(fresh.get(name, []))
            placed.add(name)
    for name in names:
        if name not in placed:
            results.extend(fresh.get(name, []))
    runs = {s["name"]: s for s in part.get("scenarios", [])}
    scenarios = [runs.get(s["name"], s) for s in base.get("scenarios", [])]
    scenarios += [s for name, s in runs.items() if name not in {x["name"] for x in scenarios}]
    merged = []
    for run in base.get("merged") or []:
        left = [n for n in run["scenarios"] if n not in replaced]
        if left:
            merged.append({**run, "scenarios": left})
    merged.append(
        {
            "scenarios": names,
            **{k: part[k] for k in ("generated_at", "command", "elapsed_seconds", "machine")},
        }
    )
    return {**base, "scenarios": scenarios, "results": results, "merged": merged}


def unfinished(document: Mapping[str, Any]) -> list[str]:
    return [
        f"{s['name']} ({s['status']}: {s['error']})"
        for s in document.get("scenarios", [])
        if s["status"] != "ok"
    ]


def markdown_table(results: Sequence[Result], with_notes: bool = False) -> list[str]:
    headers = [*HEADERS, *(["note"] if with_notes else [])]
    lines = [_row(headers), _row(["---"] * len(headers))]
    for result in results:
        cells = [*table_cells(result), *([result.note] if with_notes else [])]
        lines.append(_row(cells))
    return lines


def readme_rows(results: Sequence[Result]) -> list[Result]:
    """The README's rows, a landing page's few: each scenario's first row with a goal, the rows
    a scenario marks for it (a figure before a change comes with the goal row it sits under),
    and a row for a scenario that did not finish. Every row is in docs/performance.md."""
    chosen: set[int] = set()
    for scenario in dict.fromkeys(r.scenario for r in results):
        own = [i for i, r in enumerate(results) if r.scenario == scenario]
        goals = [i for i in own if results[i].goal]
        chosen.update(goals[:1])
        for i in own:
            row = results[i]
            if row.readme or row.measurement in NOT_FINISHED:
                chosen.add(i)
                if not row.goal:  # the goal it is shown beside: the nearest one above it
                    chosen.update([g for g in goals if g < i][-1:])
    return [results[i] for i in sorted(chosen)]


def readme_block(document: Mapping[str, Any]) -> str:
    """The README's table: `readme_rows`, under where and how they were measured."""
    lines = [
        provenance(document),
        "A figure per scenario, and each goal's figure beside the figure before the change;"
        " every row, with its note, is in [How well it works](docs/performance.md). Regenerate"
        " with `python -m bench.report` after `make bench`.",
        "",
        *markdown_table(readme_rows(results_of(document))),
    ]
    missing = unfinished(document)
    if missing:
        lines += ["", "Did not finish: " + _escape("; ".join(missing))]
    return "\n".join(lines)


def docs_block(document: Mapping[str, Any]) -> str:
    """The fuller table for docs/performance.md: every row, with its note."""
    lines = [
        provenance(document),
        "Every row of the run, with its note (`bench/published.json`). Regenerate with"
        " `python -m bench.report` after `make bench`.",
        "",
        *markdown_table(results_of(document), with_notes=True),
    ]
    missing = unfinished(document)
    if missing:
        lines += ["", "Did not finish: " + _escape("; ".join(missing))]
    return "\n".join(lines)


def replace_between(text: str, block: str, where: str) -> str:
    """`text` with what lies between the markers replaced by `block`; the rest unchanged."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise ReportError(f"{where}: needs exactly one {START} and one {END}")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    if END in head:
        raise ReportError(f"{where}: {END} comes before {START}")
    return f"{head}{START}\n{block}\n{END}{tail}"


def read_table(block: str) -> list[list[str]]:
    """The cells of the markdown table in `block` (header and rule excluded): the inverse of
    markdown_table, for checks."""
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    return [_cells(line) for line in rows[2:]]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_escape(cell) for cell in cells) + " |"


def _escape(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cells(line: str) -> list[str]:
    cells, cell, chars = [], "", iter(line.strip()[1:-1])
    for ch in chars:
        if ch == "\\":
            cell += next(chars, "")
        elif ch == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
    cells.append(cell.strip())
    return cells


# -- the command ---------------------------------------------------------------------------------


def load(path: Path, allow_quick: bool) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not the bench's JSON ({exc})") from None
    if not isinstance(document, dict) or "results" not in document or "machine" not in document:
        raise ReportError(f"{path}: not the bench's JSON (no results or machine)")
    if document.get("quick") and not allow_quick:
        raise ReportError(
            f"{path}: a --quick run is a smoke test, not a measurement "
            "(run `make bench`, or pass --allow-quick)"
        )
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Write the README's bench table from the bench's JSON.",
    )
    parser.add_argument(
        "json",
        nargs="*",
        type=Path,
        help="the bench's JSON (default: bench/results/latest.json; with --check, the "
        "published copy; with --merge, one or more runs of some scenarios)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace the measured scenarios' rows in the published JSON, keep the others",
    )
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--published", type=Path, default=PUBLISHED)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--allow-quick", action="store_true", help="accept a --quick run")
    args = parser.parse_args(argv)
    if len(args.json) > 1 and not args.merge:
        parser.error("one JSON file, or --merge with several")
    if args.merge and (args.check or not args.json):
        parser.error("--merge needs the runs to merge, and does not go with --check")
    source: Path = (
        args.published
        if args.merge
        else args.json[0]
        if args.json
        else (args.published if args.check else DEFAULT_JSON)
    )
    try:
        document = load(source, args.allow_quick)
        for part in args.json if args.merge else []:
            document = merge(document, load(part, args.allow_quick))
        targets = [(args.readme, readme_block(document))]
        if args.docs.exists():
            targets.append((args.docs, docs_block(document)))
        stale = []
        for path, block in targets:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ReportError(f"{path}: cannot be read ({exc.strerror})") from None
            new = replace_between(text, block, str(path))
            if new != text:
                stale.append(path)
                if not args.check:
                    path.write_text(new, encoding="utf-8")
        if args.merge:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
            args.published.write_text(text, encoding="utf-8")
        elif not args.check and source.resolve() != args.published.resolve():
            args.published.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    except ReportError as exc:
        print(f"bench.report: {exc}", file=sys.stderr)
        return 2
    origin = f"{source} + {', '.join(map(str, args.json))}" if args.merge else source
    for path in stale:
        print(f"{path}: {'stale' if args.check else 'rewritten'} from {origin}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
