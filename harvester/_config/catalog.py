"""/data/doc, the API's own catalogue: reading it, checking jobs against it, and what changed
between two copies (the API drifts every season). Pure, but for `stored_catalogues`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from .._core.text import did_you_mean, nearest, query_value
from .._store import db
from .._store.models import Document, ResultPart
from .jobs import JobsConfig, JobSpec, Problem, Schedule
from .templates import has_template

CATALOG_ENDPOINT = "doc"


@dataclass(frozen=True)
class ParamDoc:
    type: str
    required: bool
    note: str | None


@dataclass(frozen=True)
class EndpointDoc:
    path: str
    params: Mapping[str, ParamDoc]
    expiration_seconds: int | None
    note: str | None


def parse_catalogue(document: Any) -> dict[str, EndpointDoc]:
    """`{service: {method: {link, parameters, note, expirationSeconds}}}` to endpoints by path."""
    endpoints: dict[str, EndpointDoc] = {}
    if not isinstance(document, dict):
        return endpoints
    for service, methods in document.items():
        if not isinstance(methods, dict):
            continue
        for method, entry in methods.items():
            if not isinstance(entry, dict):
                continue
            params = {
                name: ParamDoc(
                    str(spec.get("type", "string")),
                    bool(spec.get("required", False)),
                    _note(spec.get("note")),
                )
                for name, spec in (entry.get("parameters") or {}).items()
                if isinstance(spec, dict)
            }
            expiration = entry.get("expirationSeconds")
            endpoints[f"{service}/{method}"] = EndpointDoc(
                f"{service}/{method}",
                params,
                expiration if isinstance(expiration, int) else None,
                _note(entry.get("note")),
            )
    return endpoints


def _note(value: Any) -> str | None:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value) if value else None


def stored_catalogues(engine: Engine, count: int = 2) -> list[tuple[str, Any]]:
    """The newest distinct stored catalogues, newest first: (fetched_at, document)."""
    with db.read(engine) as conn:
        rows = conn.execute(
            select(ResultPart.fetched_at, ResultPart.sha256, Document.body)
            .join(Document, Document.sha256 == ResultPart.sha256)
            .where(ResultPart.endpoint == CATALOG_ENDPOINT, ResultPart.part == 0)
            .order_by(ResultPart.id.desc())
        )
        found: list[tuple[str, Any]] = []
        seen: set[str] = set()
        for fetched_at, sha, body in rows:
            if sha in seen:
                continue
            seen.add(sha)
            try:
                found.append((str(fetched_at), json.loads(body)))
            except ValueError:
                continue
            if len(found) == count:
                break
    return found


# -- checking jobs ---------------------------------------------------------------------------


def _value_fits(value: Any, kind: str) -> bool:
    text = query_value(value)
    if has_template(text):
        return True  # known only at run time
    if kind == "number":
        return _is_number(text)
    if kind == "numbers":
        return all(_is_number(part.strip()) for part in text.split(",")) and text != ""
    if kind == "boolean":
        return text.lower() in ("true", "false", "0", "1")
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_job(
    job: JobSpec, endpoints: Mapping[str, EndpointDoc], file: str, fetched_at: str
) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of one job against the catalogue."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    where = f"jobs.{job.name}"
    if job.endpoint == CATALOG_ENDPOINT:
        return problems, warnings
    doc = endpoints.get(job.endpoint)
    if doc is None:
        close = nearest(job.endpoint, endpoints, n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        problems.append(
            Problem(
                file,
                job.lines.get("endpoint", job.line),
                f"{where}.endpoint",
                f"{job.endpoint!r} is not in the /data catalogue of {fetched_at}{hint}",
            )
        )
        return problems, warnings
    supplied = set(job.params)
    for fed in (job.incremental, job.for_each):
        if fed is not None:
            supplied.add(fed.param)
            if job.incremental is not None:
                supplied.add(job.incremental.end_param)
    for name, value in job.params.items():
        line = job.lines.get(f"params.{name}", job.line)
        param = doc.params.get(name)
        if param is None:
            hint = did_you_mean(
                nearest(name, doc.params), f" (known: {', '.join(doc.params) or 'none'})"
            )
            problems.append(
                Problem(
                    file,
                    line,
                    f"{where}.params.{name}",
                    f"{job.endpoint} has no parameter {name!r}{hint}",
                )
            )
        elif not _value_fits(value, param.type):
            problems.append(
                Problem(
                    file,
                    line,
                    f"{where}.params.{name}",
                    f"expected a {param.type} ({_type_hint(param.type)}), got {value!r}",
                )
            )
    for fed in (job.incremental, job.for_each):
        if fed is not None and fed.param not in doc.params:
            problems.append(
                Problem(
                    file, job.line, where, f"{job.endpoint} has no parameter {fed.param!r} to feed"
                )
            )
    missing = [n for n, p in doc.params.items() if p.required and n not in supplied]
    if missing:
        problems.append(
            Problem(
                file,
                job.lines.get("endpoint", job.line),
                where,
                f"{job.endpoint} requires {', '.join(missing)}",
            )
        )
    every = job.schedule.every
    # a cursor or fan-out job asks something different each time: no poll repeats another
    repeats = job.incremental is None and job.for_each is None
    if repeats and every and doc.expiration_seconds and every < doc.expiration_seconds:
        warnings.append(
            Problem(
                file,
                job.lines.get("every", job.line),
                f"{where}.every",
                f"every {every:g}s is shorter than the {doc.expiration_seconds}s "
                f"for which {job.endpoint} does not change: most polls will "
                "fetch the same document",
            )
        )
    return problems, warnings


def _type_hint(kind: str) -> str:
    return {
        "number": "e.g. 123",
        "numbers": "e.g. [1, 2] or '1,2'",
        "boolean": "true or false",
    }.get(kind, "text")


def check_jobs(
    config: JobsConfig, catalogue: Any, fetched_at: str
) -> tuple[list[Problem], list[Problem]]:
    endpoints = parse_catalogue(catalogue)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for job in config.jobs.values():
        found, warned = check_job(job, endpoints, config.path, fetched_at)
        problems += found
        warnings += warned
    return problems, warnings


# -- what changed ----------------------------------------------------------------------------


def diff(old: Any, new: Any) -> list[str]:
    """Lines saying what changed from `old` to `new`: endpoints, parameters, expiry, notes."""
    before, after = parse_catalogue(old), parse_catalogue(new)
    lines: list[str] = []
    for path in sorted(after.keys() - before.keys()):
        lines.append(f"+ {path}: new endpoint ({_params_text(after[path])})")
    for path in sorted(before.keys() - after.keys()):
        lines.append(f"- {path}: endpoint removed")
    for path in sorted(before.keys() & after.keys()):
        a, b = before[path], after[path]
        for name in sorted(b.params.keys() - a.params.keys()):
            lines.append(f"~ {path}: parameter {name} added ({_param_text(b.params[name])})")
        for name in sorted(a.params.keys() - b.params.keys()):
            lines.append(f"~ {path}: parameter {name} removed")
        for name in sorted(a.params.keys() & b.params.keys()):
            if a.params[name] != b.params[name]:
                lines.append(
                    f"~ {path}: parameter {name} {_param_text(a.params[name])} -> "
                    f"{_param_text(b.params[name])}"
                )
        if a.expiration_seconds != b.expiration_seconds:
            lines.append(
                f"~ {path}: expirationSeconds {a.expiration_seconds} -> {b.expiration_seconds}"
            )
        if a.note != b.note:
            lines.append(f"~ {path}: note changed")
    return lines


def _param_text(param: ParamDoc) -> str:
    return param.type + (", required" if param.required else "")


def _params_text(endpoint: EndpointDoc) -> str:
    return (
        ", ".join(f"{n}: {_param_text(p)}" for n, p in endpoint.params.items()) or "no parameters"
    )


def listing(catalogue: Any) -> list[tuple[str, str, str]]:
    """(endpoint, parameters, expiration) rows for `harvester catalog`."""
    rows = []
    for path, endpoint in sorted(parse_catalogue(catalogue).items()):
        params = ", ".join(
            f"{n}{'*' if p.required else ''}:{p.type}" for n, p in endpoint.params.items()
        )
        rows.append((path, params, f"{endpoint.expiration_seconds or '-'}s"))
    return rows


def entry(catalogue: Any, path: str) -> dict[str, Any] | None:
    """The catalogue's own entry of one endpoint, as stored (link, parameters, note,
    expirationSeconds and whatever else iRacing puts there), or None."""
    service, _, method = path.partition("/")
    methods = catalogue.get(service) if isinstance(catalogue, dict) else None
    found = methods.get(method) if isinstance(methods, dict) else None
    return found if isinstance(found, dict) else None


def closest(catalogue: Any, path: str) -> list[str]:
    """The endpoints whose names are nearest to `path` (for "did you mean")."""
    return nearest(path, parse_catalogue(catalogue), n=3, cutoff=0.5)


def describe(path: str, raw: Mapping[str, Any]) -> list[str]:
    """One endpoint whole, as lines: link, note, expiry, then each parameter with its type,
    whether it is required and its note (nothing cut)."""
    doc = parse_catalogue({path.partition("/")[0]: {path.partition("/")[2]: raw}})[path]
    lines = [path]
    if raw.get("link"):
        lines.append(f"  link: {raw['link']}")
    if doc.note:
        lines.append(f"  note: {doc.note}")
    expiry = doc.expiration_seconds
    lines.append(f"  expirationSeconds: {expiry if expiry is not None else '-'}")
    if not doc.params:
        lines.append("  parameters: none")
        return lines
    lines.append("  parameters:")
    name_width = max(len(name) for name in doc.params)
    type_width = max(len(param.type) for param in doc.params.values())
    for name, param in doc.params.items():
        line = f"    {name:<{name_width}}  {param.type:<{type_width}}  "
        line += "required" if param.required else " " * len("required")
        lines.append((line + (f"  {param.note}" if param.note else "")).rstrip())
    return lines


CATALOG_JOB = JobSpec(
    name="catalog",
    endpoint=CATALOG_ENDPOINT,
    schedule=Schedule(every=86400.0, jitter=300.0),
    description="built in: the /data/doc catalogue, daily (define a job named catalog to change)",
)
