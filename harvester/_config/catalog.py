"""/data/doc, the API's own catalogue: reading it, checking jobs against it, and what changed
between two copies (the API drifts every season). Pure, but for `stored_catalogues`.

A catalogue is a server's text, so untrusted: `catalogue_problem` says why one is unusable (a
list where an object belongs, say). The archive refuses to store such a one, and
`stored_catalogues` passes over one an older version stored, so a hostile /data/doc never
reaches the commands and the service that read it; the readers below never raise on any
JSON either."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from .._core.logs import get_logger
from .._core.text import did_you_mean, nearest, printable, query_value
from .._store import db
from .._store.models import Document, ResultPart
from .jobs import JobsConfig, JobSpec, Problem, Schedule
from .templates import has_template

CATALOG_ENDPOINT = "doc"
NAME_SHOWN = 60  # characters of a server's key named in a refusal

log = get_logger("harvester.catalog")


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
    """`{service: {method: {link, parameters, note, expirationSeconds}}}` to endpoints by path.
    Whatever is not of that shape is left out: never an exception."""
    endpoints: dict[str, EndpointDoc] = {}
    if not isinstance(document, dict):
        return endpoints
    for service, methods in document.items():
        if not isinstance(methods, dict):
            continue
        for method, entry in methods.items():
            if not isinstance(entry, dict):
                continue
            parameters = entry.get("parameters")
            params = {
                name: ParamDoc(
                    spec["type"] if isinstance(spec.get("type"), str) else "string",
                    spec.get("required") is True,
                    _note(spec.get("note")),
                )
                for name, spec in (parameters if isinstance(parameters, dict) else {}).items()
                if isinstance(spec, dict)
            }
            expiration = entry.get("expirationSeconds")
            endpoints[f"{service}/{method}"] = EndpointDoc(
                f"{service}/{method}",
                params,
                expiration if _is_count(expiration) else None,
                _note(entry.get("note")),
            )
    return endpoints


def _note(value: Any) -> str | None:
    if isinstance(value, list):
        return " ".join(v for v in value if isinstance(v, str)) or None
    return value if isinstance(value, str) and value else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- checking a catalogue --------------------------------------------------------------------


def catalogue_problem(document: Any) -> str | None:
    """Why `document` is no /data catalogue harvester can use (one line naming the first
    place), or None. Keys iRacing adds are welcome; a known key of the wrong kind is not."""
    if not isinstance(document, dict):
        return f"the document is {_kind(document)}, not an object of services"
    endpoints = 0
    for service, methods in document.items():
        where = _shown(service)
        if not isinstance(methods, dict):
            return f"{where} is {_kind(methods)}, not an object of endpoints"
        for method, entry in methods.items():
            problem = _entry_problem(f"{where}.{_shown(method)}", entry)
            if problem is not None:
                return problem
            endpoints += 1
    return None if endpoints else "it names no endpoint"


def _entry_problem(where: str, entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"{where} is {_kind(entry)}, not an object"
    link, expiration = entry.get("link"), entry.get("expirationSeconds")
    if link is not None and not isinstance(link, str):
        return f"{where}.link is {_kind(link)}, not a string"
    if expiration is not None and not _is_count(expiration):
        return f"{where}.expirationSeconds is {_kind(expiration)}, not a whole number of seconds"
    problem = _note_problem(f"{where}.note", entry.get("note"))
    if problem is not None:
        return problem
    parameters = entry.get("parameters")
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        return f"{where}.parameters is {_kind(parameters)}, not an object"
    for name, spec in parameters.items():
        at = f"{where}.parameters.{_shown(name)}"
        if not isinstance(spec, dict):
            return f"{at} is {_kind(spec)}, not an object"
        kind, required = spec.get("type"), spec.get("required")
        if kind is not None and not isinstance(kind, str):
            return f"{at}.type is {_kind(kind)}, not a string"
        if required is not None and not isinstance(required, bool):
            return f"{at}.required is {_kind(required)}, not true or false"
        problem = _note_problem(f"{at}.note", spec.get("note"))
        if problem is not None:
            return problem
    return None


def _note_problem(where: str, note: Any) -> str | None:
    """A note is text, or a list of texts (iRacing writes some notes so)."""
    if note is None or isinstance(note, str):
        return None
    if isinstance(note, list) and all(isinstance(line, str) for line in note):
        return None
    return f"{where} is {_kind(note)}, not text"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number" if not isinstance(value, int) or value >= 0 else "a negative number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _shown(name: str) -> str:
    """A server's key, as a refusal names it: one printable line, not too long."""
    text = printable(str(name))
    return text if len(text) <= NAME_SHOWN else text[: NAME_SHOWN - 1] + "…"


def stored_catalogues(engine: Engine, count: int = 2) -> list[tuple[str, Any]]:
    """The newest distinct good stored catalogues, newest first: (fetched_at, document). A bad
    one (stored by a version that did not check) is passed over with a warning, once."""
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
                document = json.loads(body)
            except ValueError:
                document = body
            problem = catalogue_problem(document)
            if problem is not None:
                _warn_bad(f"{engine.url}#{sha}", str(fetched_at), problem)
                continue
            found.append((str(fetched_at), document))
            if len(found) == count:
                break
    return found


_warned: set[str] = set()  # the bad stored catalogues (database#sha) named in this process


def _warn_bad(which: str, fetched_at: str, problem: str) -> None:
    if which in _warned:
        return
    _warned.add(which)
    log.warning(
        "catalog.bad_stored",
        fetched_at=fetched_at,
        problem=problem,
        action="passed over: the previous good catalogue (if any) is used",
    )


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
    link = raw.get("link")
    if isinstance(link, str) and link:
        lines.append(f"  link: {link}")
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
