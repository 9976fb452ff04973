"""The questions people ask the archive most, answered without writing SQL: who a driver is, a
driver's recent races with their iRating change, a season's standings, a driver's iRating
history.

Each is one or two statements on the analysis tables, run through the same read-only, bounded
path as any query (`Archive.rows`), so they hold the same barriers. The SQL is built from
validated integers, and a name is written as an escaped literal (on both databases a doubled
quote is the only escape a standard string has). Positions are shown counted from 1 here, as
people count them; the tables count from 0, as iRacing does.
"""

from __future__ import annotations

from typing import Any

from .._core.errors import ConfigError
from .archive import Archive

RACE = "r.simsession_number = 0 AND s.event_type = 5"  # the main event of a race session
JOIN = "session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id"
UNITS = {
    "positions": "counted from 1 (1 = won)",
    "times": "seconds",
    "irating_change": "newi_rating - oldi_rating",
    "safety_rating": "×100 (341 = 3.41)",
}


def text_literal(text: str) -> str:
    """A SQL string literal of `text` (standard SQL: a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def like_pattern(text: str) -> str:
    r"""A LIKE pattern (with ESCAPE '\') that finds `text` anywhere, its own % and _ literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return text_literal(f"%{escaped}%")


def driver_name(name: str) -> str:
    text = name.strip()
    if not text or len(text) > 100 or any(ord(ch) < 32 for ch in text):
        raise ConfigError("a name is 1 to 100 characters of text (or a cust_id)")
    return text


def find_driver(archive: Archive, name: str, limit: int = 20) -> dict[str, Any]:
    """Members whose name holds `name` (any case), or whose cust_id it is, most races first."""
    text = driver_name(name)
    where = f"lower(m.display_name) LIKE lower({like_pattern(text)}) ESCAPE '\\'"
    if text.isdigit() and len(text) < 12:
        where = f"m.cust_id = {int(text)} OR {where}"
    rows = archive.rows(
        f"""SELECT m.cust_id, m.display_name, m.club_name, m.country_code, m.last_seen,
       (SELECT count(*) FROM session_results AS r WHERE r.cust_id = m.cust_id
          AND r.simsession_number = 0) AS races_in_archive
FROM members AS m WHERE {where}
ORDER BY races_in_archive DESC, m.cust_id LIMIT {limit}""",
        limit,
    )
    answer: dict[str, Any] = {"drivers": rows.records()}
    if not rows.rows:
        answer["note"] = f"no member named like {text!r} in the archive"
    elif rows.truncated:
        answer["note"] = f"more than {limit} match: give more of the name"
    return answer


def _driver(archive: Archive, cust_id: int) -> dict[str, Any] | None:
    found = archive.rows(
        f"SELECT cust_id, display_name FROM members WHERE cust_id = {cust_id}"
        f" UNION ALL SELECT cust_id, display_name FROM session_results WHERE cust_id = {cust_id}",
        1,
    )
    return found.records()[0] if found.rows else None


def _known_driver(archive: Archive, cust_id: int) -> dict[str, Any]:
    driver = _driver(archive, cust_id)
    if driver is None:
        raise ConfigError(
            f"no driver with cust_id {cust_id} in the archive (find_driver looks one up by name)"
        )
    return driver


def driver_races(archive: Archive, cust_id: int, limit: int = 10) -> dict[str, Any]:
    """A driver's latest races (newest first) with the iRating each one gained or lost."""
    driver = _known_driver(archive, cust_id)
    races = archive.rows(
        f"""SELECT s.subsession_id, s.start_time, s.series_name, s.season_short_name,
       s.race_week_num + 1 AS race_week, s.track_name, s.track_config, r.car_name,
       r.car_class_name, s.strength_of_field, r.starting_position + 1 AS start_position,
       r.finish_position + 1 AS finish_position,
       r.finish_position_in_class + 1 AS finish_position_in_class, r.laps_complete,
       r.laps_lead, r.incidents, r.best_lap_time, r.oldi_rating, r.newi_rating,
       r.newi_rating - r.oldi_rating AS irating_change, r.old_sub_level, r.new_sub_level,
       r.champ_points, s.official_session
FROM {JOIN}
WHERE r.cust_id = {cust_id} AND {RACE}
ORDER BY s.subsession_id DESC LIMIT {limit}""",
        limit,
    )
    records = races.records()
    changes = [r["irating_change"] for r in records if r["irating_change"] is not None]
    answer: dict[str, Any] = {
        "driver": driver,
        "races": records,
        "irating_change_total": sum(changes) if changes else None,
        "units": UNITS,
    }
    if not records:
        answer["note"] = "no race results of this driver in the archive"
    return answer


def _season(archive: Archive, season_id: int) -> dict[str, Any]:
    found = archive.rows(
        f"""SELECT max(series_name) AS series_name, max(season_name) AS season_name,
       max(season_short_name) AS season_short_name, count(*) AS races_in_archive
FROM subsessions WHERE season_id = {season_id} AND event_type = 5"""
    ).records()[0]
    if not found["races_in_archive"]:
        latest = archive.rows(
            """SELECT season_id, max(series_name) AS series, max(season_short_name) AS season
FROM subsessions WHERE event_type = 5 GROUP BY season_id
ORDER BY max(subsession_id) DESC LIMIT 8"""
        ).records()
        named = ", ".join(f"{s['season_id']} ({s['series']}, {s['season']})" for s in latest)
        raise ConfigError(
            f"no races of season {season_id} in the archive"
            + (f"; the latest seasons it holds: {named}" if named else "")
        )
    return {"season_id": season_id, **found}


def season_standings(
    archive: Archive, season_id: int, car_class_id: int | None = None, limit: int = 25
) -> dict[str, Any]:
    """A season's drivers by championship points over the races the archive holds."""
    season = _season(archive, season_id)
    classes = archive.rows(
        f"""SELECT r.car_class_id, max(r.car_class_name) AS car_class_name,
       count(DISTINCT r.cust_id) AS drivers
FROM {JOIN} WHERE s.season_id = {season_id} AND {RACE}
GROUP BY r.car_class_id ORDER BY drivers DESC"""
    ).records()
    in_class = f" AND r.car_class_id = {car_class_id}" if car_class_id is not None else ""
    standings = archive.rows(
        f"""SELECT r.cust_id, max(r.display_name) AS driver,
       sum(CASE WHEN r.drop_race THEN 0 ELSE r.champ_points END) AS points,
       count(*) AS races,
       sum(CASE WHEN r.finish_position_in_class = 0 THEN 1 ELSE 0 END) AS wins,
       sum(CASE WHEN r.finish_position_in_class < 3 THEN 1 ELSE 0 END) AS podiums,
       round(avg(r.finish_position_in_class) + 1, 2) AS average_finish_in_class,
       sum(r.incidents) AS incidents
FROM {JOIN}
WHERE s.season_id = {season_id} AND {RACE}{in_class}
GROUP BY r.cust_id
ORDER BY points DESC, wins DESC, r.cust_id LIMIT {limit}""",
        limit,
    )
    rows = standings.records()
    for place, row in enumerate(rows, start=1):
        row["place"] = place
    notes = [
        "points are the championship points of the season's races in the archive (races "
        "iRacing drops from a driver's points are not counted); iRacing's own standings may "
        "hold races this archive never fetched"
    ]
    if car_class_id is None and len(classes) > 1:
        notes.append("several car classes race this season: car_class_id gives one class's table")
    if standings.truncated:
        notes.append(f"the first {len(rows)} drivers are shown (limit)")
    return {
        "season": season,
        "car_classes": classes,
        "car_class_id": car_class_id,
        "standings": rows,
        "note": "; ".join(notes),
    }


def irating_history(
    archive: Archive, cust_id: int, category_id: int | None = None, limit: int = 100
) -> dict[str, Any]:
    """A driver's iRating over time: after each race (session_results), and the daily chart
    (member_charts, chart_type 1) when it was harvested; oldest first."""
    driver = _known_driver(archive, cust_id)
    in_race_category = f" AND s.license_category_id = {category_id}" if category_id else ""
    races = archive.rows(
        f"""SELECT s.start_time, s.subsession_id, s.license_category_id AS category_id,
       s.license_category AS category, s.series_name, r.oldi_rating, r.newi_rating,
       r.newi_rating - r.oldi_rating AS irating_change
FROM {JOIN}
WHERE r.cust_id = {cust_id} AND {RACE} AND r.newi_rating IS NOT NULL{in_race_category}
ORDER BY s.subsession_id DESC LIMIT {limit}""",
        limit,
    ).records()[::-1]
    in_chart_category = f" AND category_id = {category_id}" if category_id else ""
    chart = archive.rows(
        f"""SELECT category_id, category, date, value AS irating FROM member_charts
WHERE cust_id = {cust_id} AND chart_type = 1{in_chart_category}
ORDER BY date DESC, category_id LIMIT {limit}""",
        limit,
    ).records()[::-1]
    answer: dict[str, Any] = {
        "driver": driver,
        "by_category": _summaries(races),
        "after_each_race": races,
        "daily_chart": chart,
        "categories": "1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports car, 6 formula",
    }
    if not races and not chart:
        answer["note"] = "no rated race or iRating chart of this driver in the archive"
    return answer


def _summaries(races: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per category: the first and the latest iRating of the races shown, and the extremes."""
    out: dict[Any, dict[str, Any]] = {}
    for race in races:
        key = race["category_id"]
        entry = out.setdefault(
            key,
            {
                "category_id": key,
                "category": race["category"],
                "races": 0,
                "first": race["oldi_rating"],
                "since": race["start_time"],
                "highest": race["newi_rating"],
                "lowest": race["newi_rating"],
            },
        )
        entry["races"] += 1
        entry["latest"] = race["newi_rating"]
        entry["highest"] = max(entry["highest"], race["newi_rating"])
        entry["lowest"] = min(entry["lowest"], race["newi_rating"])
    for entry in out.values():
        if entry["first"] is not None:
            entry["change"] = entry["latest"] - entry["first"]
    return list(out.values())
