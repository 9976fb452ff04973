"""Structured logs: JSON lines for machines, a readable console format for people.

Everything, harvester's own events and the records of httpx, httpcore, APScheduler and Alembic,
goes through one stdlib handler whose formatter runs the redaction processor last, at every
level, so no secret reaches the output whoever logged it.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .redact import redact
from .text import error_line, printable

_NOISY_LIBRARIES = ("httpx", "httpcore", "apscheduler", "alembic", "hpack", "urllib3")
_handler: logging.Handler | None = None


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The structlog processor form of `redact`: applied to every key of every event
    (exception info is left for the exception processor, which runs before the last pass)."""
    return {key: value if key == "exc_info" else redact(value) for key, value in event_dict.items()}


def _drop_tracebacks(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Outside DEBUG an exception becomes one line: tracebacks are for developers."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if exc_info:
        exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(exc, BaseException):
            event_dict.setdefault("error", f"{type(exc).__name__}: {error_line(exc)}")
    return event_dict


def _one_line_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """For the console: a value (a server's message, `runs.error`) never breaks the line or
    reaches the terminal as a control sequence; a DEBUG traceback keeps its lines."""
    return {
        key: printable(value, keep="\n" if key == "exception" else "")
        if isinstance(value, str)
        else value
        for key, value in event_dict.items()
    }


def configure_logging(
    level: str = "INFO", fmt: str | None = None, stream: TextIO | None = None
) -> None:
    """Give the root logger harvester's handler: JSON lines or console, redacted (idempotent:
    a later call replaces the handler of an earlier one)."""
    global _handler
    stream = stream or sys.stderr
    if fmt is None:
        fmt = "human" if _is_terminal(stream) else "json"
    debug = level == "DEBUG"

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    pre_chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    exceptions: Processor = structlog.processors.format_exc_info if debug else _drop_tracebacks
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(stream))
    )
    processors: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        exceptions,
        redact_processor,
    ]
    if fmt != "json":  # JSON escapes every control character itself
        processors.append(_one_line_values)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain, processors=[*processors, renderer]
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


_SOURCE_PROCESSORS: list[Processor] = [
    structlog.stdlib.filter_by_level,  # below the level, skip the work
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    redact_processor,  # at the source too: a handler of the host application sees no secret
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger over the stdlib logger `name`.

    It does not depend on structlog's global configuration, so harvester used as a library
    neither prints to stdout nor changes the host application's structlog set-up: its events go
    to stdlib logging, where `configure_logging` (or the host) decides what is shown.
    """
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=_SOURCE_PROCESSORS,
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return logger


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
