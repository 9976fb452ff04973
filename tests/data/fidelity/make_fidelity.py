"""Write the fidelity targets of the simulator from the reference captures (output committed).

    .venv/bin/python -m tests.data.fidelity.make_fidelity [../shared/reference]

It reads the real /data/doc catalogue and the captured real responses and writes, next to this
script, what the simulator must match, without copying any captured value:

- `catalogue.json`: every real endpoint with its parameters (type, required) and
  `expirationSeconds` (facts of the API's contract, not its prose);
- `fields/<service>.<method>.json`: per captured endpoint, its shape and, per part of the answer
  (`envelope`: what members-ng answers; `body`: what the link or data_url holds; `rows`: one
  chunk), the nested key and JSON-type sets;
- `errors.json`: the error bodies' key and type sets, and their `error` texts.

Beside them, `models/<service>.<method>.json` (kept by hand, not written by this script) hold the
same descriptions for the 68 endpoints that public clients' typed models know: the keys and
types of aydsko-iracingdata's C# classes (int and float apart, `?` for null) and of
AllyMurray/iracing-data-client's schemas (which keys every answer carries), merged with the
captures' descriptions where one exists, plus the fields issue 24 names. They describe names and
kinds only, never a value. `newer_fields.json` lists, where each is sent, the keys a capture
lacks that the models or the issue name.

A type description is `{"types": [...], "keys": {name: description}, "always": [names],
"items": description}`: `types` are JSON kinds (`int` and `float` apart, as the service sends
them), `keys`/`always` describe objects (every key seen / keys present in every object seen),
`items` the members of lists; numeric keys (objects keyed by ids) are folded into `"<n>"`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from tests.simulator.fidelity import ID_KEY, kind  # the reader's vocabulary: JSON kinds, the id key

HERE = Path(__file__).resolve().parent

# fixture folder -> (endpoint, shape, {part: file number})
CAPTURES: dict[str, tuple[str, str, dict[str, int]]] = {
    "GetMyInfoSucceedsAsync": ("member/info", "link", {"envelope": 1, "body": 2}),
    "GetDriverInfoWithLicensesSuccessfulAsync": ("member/get", "link", {"envelope": 1, "body": 2}),
    "GetDriverAwardsSuccessfulAsync": ("member/awards", "data_url", {"envelope": 1, "body": 2}),
    "GetSeriesSuccessfulAsync": ("series/get", "link", {"envelope": 1, "body": 2}),
    "ListSeasonsSuccessfulAsync": ("season/list", "link", {"envelope": 1, "body": 2}),
    "GetCarsSuccessfulAsync": ("car/get", "link", {"envelope": 1, "body": 2}),
    "GetTracksSuccessfulAsync": ("track/get", "link", {"envelope": 1, "body": 2}),
    "GetCategoriesSuccessfulAsync": ("constants/categories", "direct", {"envelope": 1}),
    "SearchDriversSuccessfulAsync": ("lookup/drivers", "link", {"envelope": 1, "body": 2}),
    "GetMemberRecentRacesSucceedsAsync": (
        "stats/member_recent_races",
        "link",
        {"envelope": 1, "body": 2},
    ),
    "GetMemberSummarySuccessfulAsync": ("stats/member_summary", "link", {"envelope": 1, "body": 2}),
    "SearchOfficialResultsSuccessfulAsync": (
        "results/search_series",
        "direct_chunks",
        {"envelope": 1, "rows": 2},
    ),
    "SearchHostedResultsSuccessfulAsync": (
        "results/search_hosted",
        "direct_chunks",
        {"envelope": 1, "rows": 2},
    ),
    "GetSubSessionResultSuccessfulAsync": ("results/get", "link", {"envelope": 1, "body": 2}),
    "GetSubsessionEventLogSuccessfulAsync": (
        "results/event_log",
        "link_chunks",
        {"envelope": 1, "body": 2, "rows": 3},
    ),
    "GetSingleDriverSubsessionLapsSuccessfulAsync": (
        "results/lap_data",
        "link_chunks",
        {"envelope": 1, "body": 2, "rows": 3},
    ),
    "GetSeasonDriverStandingsSuccessfulAsync": (
        "stats/season_driver_standings",
        "link_chunks",
        {"envelope": 1, "body": 2, "rows": 3},
    ),
    "GetLeagueSeasonSessionsAsync": (
        "league/season_sessions",
        "link",
        {"envelope": 1, "body": 2},
    ),
    "GetSpectatorSubsessionIdentifiersAsync": (
        "season/spectator_subsessionids",
        "link",
        {"envelope": 1, "body": 2},
    ),
    "GetLookupWithExpiredAuthWorksAsync": ("lookup/get", "link", {"envelope": 1, "body": 2}),
}
ERRORS = {
    "400": ("GetSeasonResultsHandlesBadRequestAsync", 1),
    "401": ("ResponseUnauthorized", 1),
    "403": ("ResponseForbidden", 1),
    "503": ("GetMemberInfoDuringMaintenanceThrowsAsync", 1),
}


def normal_keys(obj: dict[str, Any]) -> dict[str, list[Any]]:
    """An object's values by key, numeric keys folded into `ID_KEY`."""
    out: dict[str, list[Any]] = {}
    for key, value in obj.items():
        out.setdefault(ID_KEY if key.isdigit() else key, []).append(value)
    return out


def describe(values: list[Any]) -> dict[str, Any]:
    """The type description of every value in `values` together."""
    out: dict[str, Any] = {"types": sorted({kind(v) for v in values})}
    objects = [normal_keys(v) for v in values if isinstance(v, dict)]
    if objects:
        names: list[str] = []
        for obj in objects:
            names.extend(k for k in obj if k not in names)
        out["keys"] = {k: describe([v for o in objects for v in o.get(k, [])]) for k in names}
        out["always"] = [k for k in names if k != ID_KEY and all(k in o for o in objects)]
    items = [item for v in values if isinstance(v, list) for item in v]
    if items:
        out["items"] = describe(items)
    return out


def content(path: Path) -> tuple[int, Any]:
    document = json.loads(path.read_text(encoding="utf-8-sig"))
    status = document.get("statuscode", document.get("statusCode", 200))
    body = document["content"]
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return int(status), body


def catalogue(reference: Path) -> dict[str, Any]:
    doc = json.loads((reference / "iracing-data-doc.json").read_text(encoding="utf-8-sig"))
    out: dict[str, Any] = {}
    for service, methods in sorted(doc.items()):
        for method, entry in sorted(methods.items()):
            params = {
                name: {"type": spec["type"], "required": bool(spec.get("required", False))}
                for name, spec in (entry.get("parameters") or {}).items()
            }
            out[f"{service}/{method}"] = {
                "parameters": params,
                "expirationSeconds": entry["expirationSeconds"],
            }
    return out


def main(argv: list[str]) -> int:
    reference = Path(argv[1]) if len(argv) > 1 else HERE.parents[3] / "shared" / "reference"
    fixtures = reference / "fixtures" / "aydsko"
    if not fixtures.is_dir():
        print(f"no captures under {fixtures}", file=sys.stderr)
        return 2
    write(HERE / "catalogue.json", catalogue(reference))
    fields = HERE / "fields"
    fields.mkdir(exist_ok=True)
    for folder, (endpoint, shape, parts) in sorted(CAPTURES.items()):
        described = {part: describe([content(fixtures / folder / f"{n}.json")[1]])
                     for part, n in parts.items()}  # fmt: skip
        target: dict[str, Any] = {"endpoint": endpoint, "shape": shape, "parts": described}
        envelope = content(fixtures / folder / f"{parts['envelope']}.json")[1]
        if isinstance(envelope, dict) and "type" in envelope:
            target["type"] = envelope["type"]  # the envelope's name of its content
        write(fields / f"{endpoint.replace('/', '.')}.json", target)
    errors = {}
    for status, (folder, n) in ERRORS.items():
        code, body = content(fixtures / folder / f"{n}.json")
        assert str(code) == status, (folder, code)
        errors[status] = {"error": body["error"], "fields": describe([body])}
    write(HERE / "errors.json", errors)
    return 0


def write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
