"""The endpoint table: every endpoint of the real /data/doc catalogue (74), each with its response
shape and its parameters named, typed and required exactly as the real catalogue declares them.

Notes are short and in our own words. Shapes: direct, link, data_url, link_chunks (a link to a
header with `chunk_info`), direct_chunks (`{type, data{chunk_info}}` answered directly),
link_data_chunks (a link to `{type, data{chunk_info}}`) and csv (a link to a CSV file).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .types import Endpoint, Param

N, NS, S, B = Param("number"), Param("numbers"), Param("string"), Param("boolean")
NR = Param("number", True)
_TIME = 'ISO-8601 UTC, e.g. "2026-03-01T15:45Z".'


def _n(note: str, required: bool = False) -> Param:
    return Param("number", required, note)


def _ns(note: str) -> Param:
    return Param("numbers", False, note)


def _b(note: str) -> Param:
    return Param("boolean", False, note)


_RANGES = {
    "start_range_begin": Param("string", note=f"Session start times from. {_TIME}"),
    "start_range_end": Param("string", note="Exclusive. Defaults to 90 days after the begin."),
    "finish_range_begin": Param("string", note=f"Session finish times from. {_TIME}"),
    "finish_range_end": Param("string", note="Exclusive. Defaults to 90 days after the begin."),
}
_CUST = {"cust_id": _n("Defaults to the authenticated member.")}
_SUBSESSION = {
    "subsession_id": NR,
    "simsession_number": _n("0 is the main event, -1 the one before.", required=True),
}
_STANDINGS = {"season_id": NR, "car_class_id": NR, "division": _n("0-based: 0 is Division 1.")}
_WEEK = {"race_week_num": _n("0-based week of the season.")}
_ASSETS = "Image paths are relative to https://images-static.iracing.com/."
_ME = "Always the authenticated member."

# path: (shape, parameters, note, expirationSeconds)
_TABLE: dict[str, tuple[str, dict[str, Param], str | None, int]] = {
    "car/assets": ("link", {}, _ASSETS, 900),
    "car/get": ("link", {}, None, 900),
    "carclass/get": ("link", {}, None, 900),
    "constants/categories": ("direct", {}, "Returned directly.", 900),
    "constants/divisions": ("direct", {}, "Returned directly.", 900),
    "constants/event_types": ("direct", {}, "Returned directly.", 900),
    "hosted/combined_sessions": (
        "link",
        {"package_id": _n("Only sessions using this content package.")},
        "Hosted sessions open to join as a driver or a spectator.",
        60,
    ),
    "hosted/sessions": ("link", {}, "Hosted sessions open to join as a driver.", 60),
    "league/cust_league_sessions": (
        "link",
        {"mine": _b("Only the member's own sessions."), "package_id": N},
        None,
        60,
    ),
    "league/directory": (
        "link",
        {
            "search": Param("string", note="Part of a league's name or about text."),
            "tag": S,
            "restrict_to_member": B,
            "restrict_to_recruiting": B,
            "restrict_to_friends": B,
            "restrict_to_watched": B,
            "minimum_roster_count": N,
            "maximum_roster_count": N,
            "lowerbound": _n("1-based first row; defaults to 1."),
            "upperbound": _n("Last row; defaults to lowerbound + 39."),
            "sort": Param("string", note="relevance, leaguename, displayname, rostercount."),
            "order": Param("string", note="asc or desc."),
        },
        None,
        900,
    ),
    "league/get": ("link", {"league_id": NR, "include_licenses": B}, None, 900),
    "league/get_points_systems": ("link", {"league_id": NR, "season_id": N}, None, 900),
    "league/membership": ("link", {**_CUST, "include_league": B}, None, 900),
    "league/roster": ("data_url", {"league_id": NR, "include_licenses": B}, None, 900),
    "league/season_sessions": (
        "link",
        {"league_id": NR, "season_id": NR, "results_only": _b("Only sessions with results.")},
        None,
        60,
    ),
    "league/season_standings": (
        "link",
        {"league_id": NR, "season_id": NR, "car_class_id": N, "car_id": N},
        None,
        900,
    ),
    "league/seasons": ("link", {"league_id": NR, "retired": _b("Retired seasons too.")}, None, 900),
    "lookup/countries": ("link", {}, None, 900),
    "lookup/current_season": (
        "link",
        {},
        "Changes at midnight UTC on the Tuesday a new quarter's season starts.",
        900,
    ),
    "lookup/drivers": (
        "link",
        {
            "search_term": Param("string", True, "A cust_id or part of a name."),
            "league_id": _n("Only members of this league."),
        },
        None,
        900,
    ),
    "lookup/flairs": ("link", {}, None, 900),
    "lookup/get": ("link", {}, None, 900),
    "lookup/licenses": ("link", {}, None, 900),
    "member/awards": ("data_url", dict(_CUST), None, 900),
    "member/award_instances": ("data_url", {**_CUST, "award_id": NR}, None, 900),
    "member/chart_data": (
        "link",
        {
            **_CUST,
            "category_id": _n(
                "1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports car, 6 formula.", True
            ),
            "chart_type": _n("1 iRating, 2 TT rating, 3 license/SR.", True),
        },
        None,
        900,
    ),
    "member/get": (
        "link",
        {"cust_ids": Param("numbers", True, "?cust_ids=2,3,4"), "include_licenses": B},
        "Unknown ids are left out of members.",
        900,
    ),
    "member/info": ("link", {}, _ME, 900),
    "member/participation_credits": ("link", {}, _ME, 900),
    "member/profile": ("link", dict(_CUST), None, 900),
    "results/get": (
        "link",
        {"subsession_id": NR, "include_licenses": B},
        "A finished subsession's results; 403 for a private hosted session.",
        900,
    ),
    "results/event_log": ("link_chunks", dict(_SUBSESSION), None, 900),
    "results/lap_chart_data": ("link_chunks", dict(_SUBSESSION), None, 900),
    "results/lap_data": (
        "link_chunks",
        {
            **_SUBSESSION,
            "cust_id": _n("Without it, every driver's laps."),
            "team_id": _n("For team events."),
        },
        None,
        900,
    ),
    "results/search_hosted": (
        "direct_chunks",
        {
            **_RANGES,
            "cust_id": _n("A participant."),
            "team_id": _n("A participating team."),
            "host_cust_id": _n("The host."),
            "session_name": Param("string", note="Part of the session's name."),
            "league_id": N,
            "league_season_id": N,
            "car_id": N,
            "track_id": N,
            "category_ids": _ns("?category_ids=1,2,3,4"),
        },
        "Hosted and league sessions, at most 90 days at a time, in chunks, ordered by "
        "subsession_id. Needs start_range_begin or finish_range_begin, and one of cust_id, "
        "team_id, host_cust_id, session_name.",
        900,
    ),
    "results/search_series": (
        "direct_chunks",
        {
            "season_year": _n("Required with season_quarter."),
            "season_quarter": _n("Required with season_year."),
            **_RANGES,
            "cust_id": _n("Only sessions this member raced in."),
            "team_id": _n("Only sessions this team raced in."),
            "series_id": N,
            "race_week_num": N,
            "official_only": B,
            "event_types": _ns("?event_types=2,3,4,5"),
            "category_ids": _ns("?category_ids=1,5,6"),
        },
        "Official sessions, at most 90 days at a time, in chunks, ordered by subsession_id. "
        "Needs season_year and season_quarter, start_range_begin or finish_range_begin. "
        "Scrape incrementally from the largest end_time seen.",
        900,
    ),
    "results/season_results": (
        "link",
        {
            "season_id": NR,
            "event_type": _n("2 practice, 3 qualify, 4 time trial, 5 race."),
            **_WEEK,
        },
        None,
        900,
    ),
    "season/list": ("link", {"season_year": NR, "season_quarter": NR}, None, 900),
    "season/race_guide": (
        "link",
        {
            "from": Param("string", note=f"Defaults to now. {_TIME}"),
            "include_end_after_from": _b("Also sessions running at `from`."),
        },
        None,
        60,
    ),
    "season/spectator_subsessionids": (
        "link",
        {"event_types": _ns("?event_types=2,3,4,5")},
        "Subsessions running now.",
        60,
    ),
    "season/spectator_subsessionids_detail": (
        "link",
        {"event_types": _ns("?event_types=2,3,4,5"), "season_ids": _ns("?season_ids=1,2,3")},
        "Subsessions running now, with their season.",
        60,
    ),
    "series/assets": ("link", {}, _ASSETS, 900),
    "series/get": ("link", {}, None, 900),
    "series/past_seasons": ("link", {"series_id": NR}, "Every season of a series.", 900),
    "series/seasons": (
        "link",
        {
            "include_series": B,
            "season_year": _n("With season_quarter: a past season."),
            "season_quarter": _n("With season_year: a past season."),
        },
        "Without both season_year and season_quarter, the current seasons.",
        900,
    ),
    "series/season_list": (
        "link",
        {"include_series": B, "season_year": N, "season_quarter": N},
        None,
        900,
    ),
    "series/season_schedule": ("link", {"season_id": NR}, None, 900),
    "series/stats_series": ("link", {}, "Series and seasons with standings: official ones.", 900),
    "session/reg_drivers_list": ("link", {"subsession_id": NR}, None, 60),
    "stats/member_bests": ("link", {**_CUST, "car_id": _n("Defaults to the last car.")}, None, 900),
    "stats/member_career": ("link", dict(_CUST), None, 900),
    "stats/member_division": (
        "link",
        {"season_id": NR, "event_type": NR},
        "Divisions are 0-based. " + _ME,
        900,
    ),
    "stats/member_recap": (
        "link",
        {**_CUST, "year": _n("Defaults to this year."), "season": _n("A quarter of `year`.")},
        None,
        900,
    ),
    "stats/member_recent_races": ("link", dict(_CUST), None, 900),
    "stats/member_summary": ("link", dict(_CUST), None, 900),
    "stats/member_yearly": ("link", dict(_CUST), None, 900),
    "stats/season_driver_standings": ("link_chunks", {**_STANDINGS, **_WEEK}, None, 900),
    "stats/season_qualify_results": (
        "link_chunks",
        {"season_id": NR, "car_class_id": NR, "race_week_num": NR, "division": N},
        None,
        900,
    ),
    "stats/season_supersession_standings": ("link_chunks", {**_STANDINGS, **_WEEK}, None, 900),
    "stats/season_team_standings": (
        "link_chunks",
        {"season_id": NR, "car_class_id": NR, **_WEEK},
        None,
        900,
    ),
    "stats/season_tt_results": (
        "link_chunks",
        {"season_id": NR, "car_class_id": NR, "race_week_num": NR, "division": N},
        None,
        900,
    ),
    "stats/season_tt_standings": ("link_chunks", {**_STANDINGS, **_WEEK}, None, 900),
    "stats/world_records": (
        "link_data_chunks",
        {
            "car_id": NR,
            "track_id": NR,
            "season_year": _n("Limit to one year."),
            "season_quarter": _n("Limit to one quarter of season_year."),
        },
        None,
        900,
    ),
    "team/get": ("link", {"team_id": NR, "include_licenses": B}, None, 900),
    "team/membership": ("link", {}, _ME, 900),
    "time_attack/member_season_results": ("link", {"ta_comp_season_id": NR}, _ME, 900),
    "track/assets": ("link", {}, _ASSETS, 900),
    "track/get": ("link", {}, None, 900),
}
for _name in ("oval", "sports_car", "formula_car", "road", "dirt_oval", "dirt_road"):
    _TABLE[f"driver_stats_by_category/{_name}"] = ("csv", {}, "A link to a CSV file.", 900)

ENDPOINTS: Mapping[str, Endpoint] = MappingProxyType(
    {
        path: Endpoint(path, shape, MappingProxyType(params), expiration, note)
        for path, (shape, params, note, expiration) in sorted(_TABLE.items())
    }
)
