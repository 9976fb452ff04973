"""Metadata that makes the archive read well in Datasette (pure): titles, descriptions, column
meanings and units, the secret tables hidden, and canned queries."""

from __future__ import annotations

from typing import Any

from .schema import SPECS

# the tables that hold secrets or bookkeeping nobody browses: hidden from Datasette's lists
HIDDEN = (
    "oauth_tokens",
    "auth_state",
    "auth_events",
    "service",
    "alembic_version",
    "seen_keys",
    "fanout_marks",
)
# units Datasette (pint) understands, by the unit names of the schema
PINT_UNITS = {"s": "s", "mi": "mi", "lb": "lb", "mph": "mph", "hp": "hp", "°": "degree"}

QUERIES: dict[str, dict[str, str]] = {
    "irating_history": {
        "title": "A driver's iRating over their last 100 races",
        "sql": """SELECT s.start_time, s.series_name, s.track_name, r.finish_position + 1 AS finish,
       r.oldi_rating, r.newi_rating, r.newi_rating - r.oldi_rating AS change
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE r.cust_id = :cust_id AND r.simsession_number = 0 AND s.event_type = 5
ORDER BY s.start_time DESC LIMIT 100""",
    },
    "season_standings": {
        "title": "A season's standings: points, wins, races",
        "sql": """SELECT r.cust_id, max(r.display_name) AS driver, sum(r.champ_points) AS points,
       sum(CASE WHEN r.finish_position = 0 THEN 1 ELSE 0 END) AS wins, count(*) AS races
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE s.season_id = :season_id AND r.simsession_number = 0 AND s.event_type = 5
GROUP BY r.cust_id ORDER BY points DESC""",
    },
    "top_winners": {
        "title": "The top 20 by wins in a season",
        "sql": """SELECT r.cust_id, max(r.display_name) AS driver, count(*) AS wins
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE s.season_id = :season_id AND r.simsession_number = 0 AND r.finish_position = 0
  AND s.event_type = 5
GROUP BY r.cust_id ORDER BY wins DESC, r.cust_id LIMIT 20""",
    },
    "incidents_per_series": {
        "title": "Average incidents per race, by series",
        "sql": """SELECT s.series_id, max(s.series_name) AS series, avg(r.incidents) AS incidents,
       count(*) AS starts
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE r.simsession_number = 0 AND s.event_type = 5
GROUP BY s.series_id ORDER BY incidents DESC""",
    },
    "driver_laps": {
        "title": "A driver's laps in a subsession's race",
        "sql": """SELECT lap_number, lap_time, incident, personal_best_lap, lap_events
FROM laps WHERE subsession_id = :subsession_id AND cust_id = :cust_id
  AND simsession_number = 0
ORDER BY lap_number""",
    },
    "rating_chart": {
        "title": "A member's rating chart (member/chart_data)",
        "sql": """SELECT date, value FROM member_charts
WHERE cust_id = :cust_id AND category_id = :category_id AND chart_type = :chart_type
ORDER BY date""",
    },
    "skipped_documents": {
        "title": "Documents the tables could not take, and why",
        "sql": "SELECT result_id, endpoint, reason, at FROM tables_skipped ORDER BY result_id DESC",
    },
}


def metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for the database named `database` (the file's stem)."""
    tables: dict[str, Any] = {}
    for name, spec in SPECS.items():
        units = {c.name: PINT_UNITS[c.unit] for c in spec.columns if c.unit in PINT_UNITS}
        entry: dict[str, Any] = {
            "title": name.replace("_", " ").capitalize(),
            "description": spec.doc,
            "columns": {c.name: _column_doc(c.doc, c.unit) for c in spec.columns},
            "sort_desc": "result_id",
        }
        if units:
            entry["units"] = units
        tables[name] = entry
    tables["runs"] = {"title": "Runs", "description": "Every run of every job, with its outcome."}
    tables["tables_skipped"] = {
        "title": "Skipped documents",
        "description": "Documents (or rows of them) the tables could not take; the raw body "
        "keeps everything.",
    }
    for name in HIDDEN:
        tables[name] = {"hidden": True}
    return {
        "title": "harvester: iRacing archive",
        "description": "Raw /data documents as received (results, result_rows) and the "
        "analysis-ready tables derived from them.",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }


def _column_doc(doc: str, unit: str | None) -> str:
    return f"{doc} [{unit}]" if unit else doc
