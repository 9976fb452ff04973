"""The pure mappings, document → rows, on the project's own test documents (tests/data/tables)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harvester._tables.coerce import as_bool, as_int, as_seconds, as_text
from harvester._tables.derive import MAPPERS, Derivation, rows_of
from harvester._tables.schema import SPECS
from harvester._tables.source import NotDerivable, Source
from tests.helpers import DATA

TABLES_DATA = DATA / "tables"


def doc(name: str) -> Any:
    return json.loads((TABLES_DATA / f"{name}.json").read_text(encoding="utf-8"))


def source(endpoint: str, header: Any, *chunks: Any, **params: str) -> Source:
    return Source(endpoint, params, header, list(chunks))


def by_key(rows: list[dict[str, Any]], *key: str) -> dict[Any, dict[str, Any]]:
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: r for r in rows}


def test_results_get_gives_the_subsession_each_drivers_results_and_what_they_name() -> None:
    tables = rows_of(source("results/get", doc("results_get")), result_id=7)
    (sub,) = tables["subsessions"]
    assert sub["subsession_id"] == 81000001
    assert (sub["series_id"], sub["season_id"], sub["season_year"], sub["season_quarter"]) == (
        285,
        5901,
        2026,
        4,
    )
    assert (sub["track_id"], sub["track_name"], sub["track_config"]) == (
        341,
        "Silverstone Circuit",
        "Grand Prix",
    )
    assert sub["strength_of_field"] == 1873 and sub["official_session"] is True
    assert sub["event_best_lap_time"] == pytest.approx(93.0001)  # seconds, from 1/10,000 s
    assert sub["private_session_id"] is None  # -1: not a private session
    assert sub["complete"] is True and sub["source"] == "results/get" and sub["result_id"] == 7
    results = by_key(tables["session_results"], "simsession_number", "cust_id")
    assert len(results) == 6
    race = results[(0, 1003)]
    assert (race["finish_position"], race["incidents"], race["laps_complete"]) == (2, 8, 4)
    assert (race["oldi_rating"], race["newi_rating"]) == (1700, 1655)
    assert race["best_lap_time"] == pytest.approx(94.5)
    assert race["team_id"] is None and race["simsession_name"] == "RACE"
    assert results[(-1, 1003)]["best_lap_time"] is None  # -1: no lap
    assert results[(-1, 1001)]["starting_position"] is None
    members = by_key(tables["members"], "cust_id")
    assert set(members) == {1001, 1002, 1003}  # each driver once
    assert members[1001]["last_seen"] == "2026-11-24T19:00:00Z"
    assert members[1001]["source_rank"] == 0  # a mention: member/get wins over it
    assert [c["car_id"] for c in tables["cars"]] == [119]
    assert [t["track_id"] for t in tables["tracks"]] == [341]
    assert [s["series_id"] for s in tables["series"]] == [285]
    assert [s["season_id"] for s in tables["seasons"]] == [5901]


def test_team_event_gives_each_drivers_row_with_its_team() -> None:
    rows = rows_of(source("results/get", doc("results_get_team")))["session_results"]
    drivers = by_key(rows, "cust_id")
    assert set(drivers) == {1001, 1002, 1004, 1005}
    assert (drivers[1004]["team_id"], drivers[1004]["team_name"]) == (-501, "Team Orange")
    assert drivers[1004]["display_name"] == "Di Partner"  # the driver's, not the team's
    assert drivers[1004]["laps_complete"] == 28  # the driver's own share
    assert drivers[1005]["finish_position"] == 1  # absent in the driver's row: the team's
    assert drivers[1005]["team_name"] == "Blue Wave"


def test_search_rows_are_partial_subsessions() -> None:
    rows = rows_of(
        source("results/search_series", doc("search_series_header"), doc("search_series_chunk"))
    )
    subs = by_key(rows["subsessions"], "subsession_id")
    assert set(subs) == {81000001, 81000003}
    assert all(s["complete"] is False and s["source_rank"] == 1 for s in subs.values())
    assert subs[81000003]["num_cautions"] is None and subs[81000003]["strength_of_field"] is None
    hosted = rows_of(source("results/search_hosted", {}, doc("search_hosted_chunk")))
    (sub,) = hosted["subsessions"]
    assert (sub["host_cust_id"], sub["host_display_name"]) == (1002, "Ben Racer")
    assert (sub["session_name"], sub["private_session_id"]) == ("Thursday Night Club", 2900001)


def test_league_sessions_without_results_are_left_out() -> None:
    rows = rows_of(source("league/season_sessions", doc("league_season_sessions")))
    (sub,) = rows["subsessions"]
    assert (sub["subsession_id"], sub["league_id"], sub["league_season_id"]) == (
        83000001,
        5453,
        80478,
    )
    assert sub["start_time"] == "2026-11-22T19:00:55Z"
    assert sub["session_name"] == "League Round 7"


def test_lap_data_laps_take_their_session_from_the_header() -> None:
    rows = rows_of(source("results/lap_data", doc("lap_data_header"), doc("lap_data_chunk")))[
        "laps"
    ]
    laps = by_key(rows, "lap_number")
    assert set(laps) == {0, 1, 2}
    assert all(r["subsession_id"] == 81000001 and r["simsession_number"] == 0 for r in rows)
    assert laps[0]["lap_time"] is None and laps[2]["lap_time"] == pytest.approx(93.0001)
    assert laps[1]["incident"] is True and json.loads(laps[1]["lap_events"]) == ["car contact"]
    assert laps[2]["personal_best_lap"] is True and laps[2]["team_id"] is None
    assert laps[1]["session_time"] == pytest.approx(223.7974)


def test_lap_data_without_a_session_info_uses_the_request() -> None:
    rows = rows_of(
        source(
            "results/lap_data",
            {"success": True},
            doc("lap_data_chunk"),
            subsession_id="5",
            simsession_number="-1",
        )
    )["laps"]
    assert {(r["subsession_id"], r["simsession_number"]) for r in rows} == {(5, -1)}


def test_event_log_rows() -> None:
    rows = rows_of(source("results/event_log", doc("event_log_header"), doc("event_log_chunk")))
    events = by_key(rows["event_log"], "event_seq")
    assert events[1]["description"] == "Penalty Applied" and events[1]["group_id"] == 1003
    assert events[2]["session_time"] == pytest.approx(300.0)


def test_members_from_member_info_get_and_lookup() -> None:
    (me,) = rows_of(source("member/info", doc("member_info")))["members"]
    assert (me["cust_id"], me["country_code"], me["source_rank"]) == (1001, "NL", 2)
    assert me["last_seen"] == me["last_login"] == "2026-11-30T08:15:00.123Z"
    got = by_key(rows_of(source("member/get", doc("member_get")))["members"], "cust_id")
    assert got[1003]["display_name"] == "Cy Slow-Renamed"
    looked = by_key(rows_of(source("lookup/drivers", doc("lookup_drivers")))["members"], "cust_id")
    assert looked[1004]["source_rank"] == 1


def test_chart_data_gives_one_row_per_day() -> None:
    rows = rows_of(source("member/chart_data", doc("chart_data")))["member_charts"]
    assert [(r["date"], r["value"]) for r in rows] == [
        ("2026-11-10", 1790.0),
        ("2026-11-17", 1800.0),
        ("2026-11-24", 1852.0),
    ]
    assert rows[0]["category"] == "sports_car" and rows[0]["chart_type_name"] == "iRating"
    bare = {"data": [{"when": "2026-01-01", "value": 3.5}]}
    (row,) = rows_of(
        source("member/chart_data", bare, cust_id="9", category_id="2", chart_type="3")
    )["member_charts"]
    assert (row["cust_id"], row["category_id"], row["chart_type"]) == (9, 2, 3)


def test_reference_endpoints() -> None:
    (series,) = rows_of(source("series/get", doc("series_get")))["series"]
    assert (series["series_id"], series["min_license_group"], series["source_rank"]) == (285, 3, 2)
    seasons = rows_of(source("series/seasons", doc("series_seasons")))
    assert seasons["seasons"][0]["source_rank"] == 3
    assert json.loads(seasons["seasons"][0]["car_class_ids"]) == [2708]
    assert seasons["series"][0]["series_name"] == "GT Sprint Series"
    listed = rows_of(source("season/list", doc("season_list")))["seasons"]
    assert {s["season_id"] for s in listed} == {5901, 5999}
    (car,) = rows_of(source("car/get", doc("car_get")))["cars"]
    assert (car["hp"], car["car_weight"], car["car_make"]) == (565, 2921, "Porsche")
    (track,) = rows_of(source("track/get", doc("track_get")))["tracks"]
    assert (track["track_config_length"], track["nominal_lap_time"]) == (3.66, 118.5)


def test_every_mapping_fills_only_known_columns_of_tables_it_feeds() -> None:
    for endpoint in MAPPERS:
        assert any(endpoint in spec.feeds for spec in SPECS.values()), endpoint


# -- drift: missing, extra and retyped fields ------------------------------------------------


def test_missing_fields_are_null_and_extra_fields_are_ignored() -> None:
    document = doc("results_get")
    del document["track"], document["event_strength_of_field"]
    document["brand_new_field"] = {"nested": [1, 2]}
    document["session_results"][1]["results"][0].pop("incidents")
    tables = rows_of(source("results/get", document))
    (sub,) = tables["subsessions"]
    assert sub["track_id"] is None and sub["strength_of_field"] is None
    race = by_key(tables["session_results"], "simsession_number", "cust_id")[(0, 1001)]
    assert race["incidents"] is None and race["laps_complete"] == 6


def test_retyped_values_are_kept_when_they_mean_the_same_or_become_null() -> None:
    document = doc("results_get")
    row = document["session_results"][1]["results"][0]
    row.update(incidents="3", newi_rating=1852.0, laps_complete="six", display_name=42)
    document["official_session"] = "yes"
    tables = rows_of(source("results/get", document))
    race = by_key(tables["session_results"], "simsession_number", "cust_id")[(0, 1001)]
    assert (race["incidents"], race["newi_rating"], race["laps_complete"]) == (3, 1852, None)
    assert race["display_name"] == "42"
    assert tables["subsessions"][0]["official_session"] is None


def test_rows_without_their_key_are_counted_not_stored() -> None:
    document = doc("results_get")
    document["session_results"][1]["results"][2].pop("cust_id")
    derivation = Derivation(source("results/get", document), 1)
    rows = [row for batch in derivation if batch.table == "session_results" for row in batch.rows]
    assert len(rows) == 5
    assert derivation.problem() == (
        "results/get: 1 session_results row(s) without subsession_id/simsession_number/cust_id"
    )


@pytest.mark.parametrize(
    ("endpoint", "header"),
    [
        ("results/get", [1, 2]),
        ("results/get", {"no": "subsession"}),
        ("member/get", {"members": "nope"}),
        ("car/get", {"cars": []}),
    ],
)
def test_a_document_of_another_shape_is_not_derivable(endpoint: str, header: Any) -> None:
    with pytest.raises(NotDerivable, match=endpoint):
        rows_of(source(endpoint, header))


def test_coercions() -> None:
    assert [as_int(v) for v in (3, "4", 5.0, 5.5, True, None, "x", [1])] == [
        3,
        4,
        5,
        None,
        1,
        None,
        None,
        None,
    ]
    assert [as_seconds(v) for v in (10_000, -1, "25000", None)] == [1.0, None, 2.5, None]
    assert [as_bool(v) for v in (True, 0, "true", "maybe")] == [True, False, True, None]
    assert as_text({"a": 1}) == '{"a":1}' and as_text(7) == "7"


@pytest.mark.slow  # an 18 MB document
def test_a_large_document_streams_through_in_bounded_batches() -> None:
    """Deriving never holds all of a large document's rows: they reach the writer in batches of
    at most BATCH_ROWS, and the memory deriving takes (the document parsed before) stays far
    below what holding every row would take."""
    import tracemalloc

    from harvester._tables.derive import BATCH_ROWS

    document = doc("results_get")
    race = document["session_results"][1]
    template = race["results"][0]
    race["results"] = [{**template, "cust_id": 10_000 + i} for i in range(20 * BATCH_ROWS)]
    derivation = Derivation(source("results/get", document), 1)
    tracemalloc.start()
    try:
        sizes = [(b.table, len(b.rows)) for b in derivation]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    results = [n for table, n in sizes if table == "session_results"]
    assert sum(results) == 20 * BATCH_ROWS + 3 and max(results) <= BATCH_ROWS
    members = [n for table, n in sizes if table == "members"]
    assert sum(members) == 20 * BATCH_ROWS + 3  # each driver once, gathered as rows streamed
    # every row held at once would take ~2 KB a row (the merged values and the coerced row)
    # for the 20,000 rows, plus the 20,000 members: far above this
    assert peak < 20 * BATCH_ROWS * 1_000
