"""Compare simulator documents with the fidelity targets in tests/data/fidelity (written from the
real captures by tests/data/fidelity/make_fidelity.py): keys and JSON types, at every level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "fidelity"
ID_KEY = "<n>"
ROWS_CHECKED = 60  # members of a list compared with the description (the first ones)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def catalogue() -> dict[str, Any]:
    """The real catalogue's endpoints: {path: {parameters: {name: {type, required}}, ...}}."""
    data: dict[str, Any] = load("catalogue.json")
    return data


def captured() -> dict[str, dict[str, Any]]:
    """Every captured endpoint's target: {path: {endpoint, shape, parts}}."""
    targets = (json.loads(p.read_text(encoding="utf-8")) for p in (DATA / "fields").glob("*.json"))
    return {t["endpoint"]: t for t in sorted(targets, key=lambda t: t["endpoint"])}


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "object"


def newer_fields() -> dict[str, list[str]]:
    """Keys newer than the captures, accepted where listed (data/fidelity/newer_fields.json)."""
    data: dict[str, list[str]] = load("newer_fields.json")
    return {where: keys for where, keys in data.items() if not where.startswith("_")}


NEWER = newer_fields()


def differences(ours: Any, target: dict[str, Any], where: str) -> list[str]:
    """What in `ours` differs from the description `target`: missing or invented keys, other
    JSON types (an int stands for a float: JSON writes 2.0 as 2; a float never for an int)."""
    problems: list[str] = []
    allowed = set(target["types"])
    mine = kind(ours)
    if mine == "int" and "float" in allowed:
        mine = "float"
    if mine == "null" and allowed - {"null"}:
        return problems  # an absent value: its type cannot be compared
    if mine not in allowed and not allowed <= {"null"}:
        return [f"{where}: {kind(ours)}, the real service sends {sorted(allowed)}"]
    if isinstance(ours, dict) and "keys" in target:
        keys = target["keys"]
        folded: dict[str, list[Any]] = {}
        for key, value in ours.items():
            folded.setdefault(ID_KEY if key.isdigit() and ID_KEY in keys else key, []).append(value)
        missing = [k for k in target["always"] if k not in folded]
        invented = [k for k in folded if k not in keys and k not in NEWER.get(where, ())]
        if missing:
            problems.append(f"{where}: misses {missing}")
        if invented:
            problems.append(f"{where}: has keys the real service does not send {invented}")
        for key, values in folded.items():
            if key in keys:
                for value in values[:ROWS_CHECKED]:
                    problems.extend(differences(value, keys[key], f"{where}.{key}"))
    if isinstance(ours, list) and "items" in target:
        for item in ours[:ROWS_CHECKED]:
            problems.extend(differences(item, target["items"], f"{where}[]"))
        # a key only some real rows carry must show in some of ours too
        seen = {key for item in ours if isinstance(item, dict) for key in item}
        if seen and "keys" in target["items"]:
            never = [k for k in target["items"]["keys"] if k not in seen and k != ID_KEY]
            if never:
                problems.append(f"{where}[]: no row has {never}")
    return sorted(set(problems))
