"""A finished subsession's documents: results/get, results/event_log, results/lap_data and
results/lap_chart_data.

All four are written from one `Detail` (see `race`), so every figure agrees across them and
with the subsession's search row.
"""

from __future__ import annotations

from typing import Any

from .laps import event_rows, lap_header, lap_rows, session_info
from .race import Entry
from .state import Handler, State, entry_of
from .subsession import results_doc
from .types import Doc


def results_get(st: State, p: dict[str, Any], now: float) -> Doc:
    slot, split = st.finished(p, now)
    return Doc(results_doc(st.model, slot, split, st.detail(split.subsession_id)))


def event_log(st: State, p: dict[str, Any], now: float) -> Doc:
    slot, split = st.finished(p, now)
    number = p["simsession_number"]
    info = session_info(st.model, slot, split, number, "event_log")
    header = {"success": True, "session_info": info}
    rows = event_rows(st.model, split, st.detail(split.subsession_id), number)
    return Doc(header, rows=rows)


def lap_data(st: State, p: dict[str, Any], now: float) -> Doc:
    """Laps of a driver (cust_id: in a team race, those he drove), of a team's car (team_id),
    or of every car."""
    slot, split = st.finished(p, now)
    m = st.model
    number = p["simsession_number"]
    session = st.detail(split.subsession_id).session(number)
    assert session is not None
    entry: Entry | None = None
    if "team_id" in p:
        team = m.team_of_id(p["team_id"])
        entry = next((e for e in session.entries if team and e.team == team), None)
        if entry is not None and "cust_id" in p:
            entry = next((x for x in entry.drivers if m.cust(x.d) == p["cust_id"]), None)
    elif "cust_id" in p:
        d = m.index_of(p["cust_id"])
        entry = entry_of(st.detail(split.subsession_id), number, d) if d is not None else None
    else:
        rows = [row for e in session.entries for row in lap_rows(m, split, e)]
        return Doc(lap_header(m, slot, split, number, None, None), rows=rows)
    asked = p.get("cust_id", p.get("team_id"))
    header = lap_header(m, slot, split, number, entry, asked)
    # a driver without laps in this session: the real service sends chunk_info null
    return Doc(header, rows=lap_rows(m, split, entry) if entry else None)


def lap_chart_data(st: State, p: dict[str, Any], now: float) -> Doc:
    """Every car's laps with its position and gap to the leader at the end of each lap."""
    slot, split = st.finished(p, now)
    number = p["simsession_number"]
    session = st.detail(split.subsession_id).session(number)
    assert session is not None
    rows = [row for e in session.entries for row in lap_rows(st.model, split, e)]
    by_lap: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_lap.setdefault(row["lap_number"], []).append(row)
    fastest = min((r["lap_time"] for r in rows if r["lap_time"] > 0), default=-1)
    for laps in by_lap.values():
        laps.sort(key=lambda r: (r["session_time"], r["group_id"]))
        leader = laps[0]["session_time"]
        for position, row in enumerate(laps, start=1):
            row["lap_position"] = position
            row["interval"] = row["session_time"] - leader
            row["interval_units"] = "ms" if position > 1 else None
            row["fastest_lap"] = row["lap_time"] == fastest
    header = lap_header(st.model, slot, split, number, None, None)
    for key in ("group_id", "cust_id", "name", "car_id", "license_level", "livery"):
        del header[key]
    return Doc(header, rows=rows)


HANDLERS: dict[str, Handler] = {
    "results/get": results_get,
    "results/event_log": event_log,
    "results/lap_data": lap_data,
    "results/lap_chart_data": lap_chart_data,
}
