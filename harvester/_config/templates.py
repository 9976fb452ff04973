"""Parameter templates of jobs.yaml, resolved at run time (pure):

{now}          the current time, ISO-8601 UTC to the minute (2026-11-28T06:47Z)
{today}        the current date (2026-11-28)
{-7d} {now-7d} a time relative to now (any duration: 90m, 12h, 2w ...); {today-1d} a date
{env:NAME}     the environment variable NAME
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .._core.clock import utc
from .._core.durations import parse_moment

_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_RELATIVE = re.compile(r"^(now|today)?\s*([+-].+)$")  # the offset in the grammar of durations.py
KNOWN = "{now}, {today}, {-7d}, {now-12h}, {today-1d}, {env:NAME}"
# harvester's own settings (the database URLs, the dashboard token, the alert webhook, the keys)
# and iRacing's credentials, and anything named like a secret: a parameter is sent to iRacing in
# a query string and stored with its run, a feed's target receives the messages
_IRACING_CREDENTIALS = frozenset({"IRACING_CLIENT_SECRET", "IRACING_PASSWORD", "IRACING_USERNAME"})
_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "API_KEY", "PRIVATE_KEY", "CREDENTIAL")


def is_secret_variable(name: str) -> bool:
    """Whether `{env:NAME}` would hand out a secret harvester holds (IRACING_CUST_ID is fine)."""
    upper = name.upper()
    return (
        upper.startswith("HARVESTER_")
        or upper in _IRACING_CREDENTIALS
        or any(word in upper for word in _SECRET_WORDS)
    )


class TemplateError(ValueError):
    pass


class UnsetVariable(TemplateError):
    """`{env:NAME}` with NAME not set: that job cannot run, the others can."""


def iso_minute(epoch: float) -> str:
    return utc(epoch).strftime("%Y-%m-%dT%H:%MZ")


def _expand(expression: str, now: float, env: Mapping[str, str]) -> str:
    text = expression.strip()
    if text == "now":
        return iso_minute(now)
    if text == "today":
        return utc(now).strftime("%Y-%m-%d")
    if text.startswith("env:"):
        name = text[4:].strip()
        if is_secret_variable(name):
            raise TemplateError(
                f"{{env:{name}}}: harvester's own settings and secrets are never template values "
                "(a parameter is sent to iRacing and stored with its run)"
            )
        return _variable(name, env)
    match = _RELATIVE.match(text)
    if match:
        base, offset = match.groups()
        try:
            moment = parse_moment(f"now{offset}", now)
        except ValueError:
            raise TemplateError(f"{{{text}}}: {offset[1:].strip()!r} is not a duration") from None
        if base == "today":
            return utc(moment).strftime("%Y-%m-%d")
        return iso_minute(moment)
    raise TemplateError(f"unknown template {{{text}}} (known: {KNOWN})")


def _variable(name: str, env: Mapping[str, str]) -> str:
    if not name:
        raise TemplateError("{env:} needs a variable name, e.g. {env:IRACING_CUST_ID}")
    if name not in env:
        raise UnsetVariable(
            f"{{env:{name}}}: the environment variable {name} is not set (in the "
            "environment or .env); the job is disabled"
        )
    return env[name]


def env_value(reference: str, env: Mapping[str, str]) -> str:
    """A feed target's `{env:NAME}`, whatever the name: a target URL is a secret itself (a
    webhook's key), goes only to its own service and is never stored, so the refusal of
    secret-named variables, which guards parameters, does not apply."""
    inner = reference.strip()
    if not (inner.startswith("{env:") and inner.endswith("}")):
        raise TemplateError(f"{reference!r} is not {{env:NAME}}")
    return _variable(inner[5:-1].strip(), env)


def render(value: str, now: float, env: Mapping[str, str]) -> str:
    """Replace every {template} in a parameter value."""
    return _TEMPLATE.sub(lambda m: _expand(m.group(1), now, env), value)


def check(value: str, env: Mapping[str, str]) -> TemplateError | None:
    """Why a value's templates cannot be resolved, or None (for jobs.yaml validation)."""
    try:
        render(value, 0.0, env)
    except TemplateError as exc:
        return exc
    return None


def has_template(value: str) -> bool:
    return bool(_TEMPLATE.search(value))
