"""Inside a simsession: results/lap_data (laps) and results/event_log (events), pure.

Both answer a header (`session_info` names the subsession and simsession) and chunks of rows;
the request's parameters fill in what a header leaves out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .source import Emit, Source, need_list, obj


def _session_of(source: Source) -> tuple[Any, Any]:
    info = obj(obj(source.header).get("session_info"))
    subsession = info.get("subsession_id", source.param_int("subsession_id"))
    simsession = info.get("simsession_number", source.param_int("simsession_number"))
    return subsession, simsession


def lap_data(source: Source) -> Iterator[Emit]:
    subsession, simsession = _session_of(source)
    for chunk in source.chunks:
        rows = []
        for row in need_list(source, chunk, "a chunk"):
            group, cust = row.get("group_id"), row.get("cust_id")
            rows.append(
                {
                    **row,
                    "subsession_id": subsession,
                    "simsession_number": simsession,
                    "team_id": group if group is not None and group != cust else None,
                }
            )
        yield "laps", 0, rows


def event_log(source: Source) -> Iterator[Emit]:
    subsession, simsession = _session_of(source)
    for chunk in source.chunks:
        rows = [
            {"subsession_id": subsession, "simsession_number": simsession, **row}
            for row in need_list(source, chunk, "a chunk")
        ]
        yield "event_log", 0, rows
