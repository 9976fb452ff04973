"""The analysis-ready tables: each column's name, kind, meaning and unit, in one place.

The same specs make the SQLAlchemy Core tables (portable: SQLite and PostgreSQL), coerce the
values a mapping picks from a document, and document the columns (docs/columns.md, Datasette).
Two kinds of table:

- an *entity* table holds one row per key (a subsession, a member, a car...), from the best
  document that names it: the fullest source (`source_rank`), then the newest (`result_id`);
- a *scoped* table holds the rows of a scope (a subsession's results, a driver's laps in one
  simsession...), all from the newest document of that scope: a document fetched again replaces
  the scope's rows, never adds to them.

Every row says where it came from: `result_id` is the `results.result_id` of its document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

# kinds of column: how a value is coerced and which SQL type holds it
ID, INT, REAL, TEXT, BOOL, TIME, SECONDS, JSON = (
    "id",
    "int",
    "real",
    "text",
    "bool",
    "time",
    "seconds",
    "json",
)
TENTHS_MS = "1/10,000 s"  # iRacing's unit of every lap and session time


@dataclass(frozen=True)
class Col:
    name: str
    kind: str
    doc: str
    unit: str | None = None
    none_if_negative: bool = False  # iRacing writes -1 for "none" (no lap, no rating...)


@dataclass(frozen=True)
class Spec:
    name: str
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    scope: tuple[str, ...] = ()  # scoped tables: the columns a document replaces together
    max_columns: tuple[str, ...] = ()  # entity tables: kept as the largest value ever seen
    indexes: tuple[tuple[str, ...], ...] = ()
    feeds: tuple[str, ...] = field(default=())  # the endpoints whose documents feed it

    @property
    def entity(self) -> bool:
        return not self.scope

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _provenance(entity: bool) -> tuple[Col, ...]:
    cols = (Col("result_id", ID, "the document it came from: `results.result_id`"),)
    if entity:
        return (
            Col("source", TEXT, "the endpoint of that document"),
            Col("source_rank", INT, "how complete that source is (higher wins)"),
            *cols,
        )
    return cols


def _secs(name: str, doc: str) -> Col:
    return Col(name, SECONDS, f"{doc} (NULL when iRacing gives -1)", "s", True)


def _opt(name: str, kind: str, doc: str, unit: str | None = None) -> Col:
    return Col(name, kind, f"{doc} (NULL when iRacing gives -1)", unit, True)


SUBSESSIONS = Spec(
    "subsessions",
    "One row per subsession (a split of a session): when, where, which series and season, "
    "how it went. Partial until its results/get arrives (search rows, league sessions).",
    (
        Col("subsession_id", ID, "iRacing's subsession id"),
        Col("session_id", ID, "the session it is a split of"),
        Col("series_id", INT, "the series (0 for hosted sessions)"),
        Col("series_name", TEXT, "series name"),
        Col("series_short_name", TEXT, "series short name"),
        Col("season_id", INT, "the season"),
        Col("season_name", TEXT, "season name"),
        Col("season_short_name", TEXT, "season short name, e.g. 2026 Season 4"),
        Col("season_year", INT, "season year"),
        Col("season_quarter", INT, "season quarter, 1 to 4"),
        Col("race_week_num", INT, "race week, counted from 0 as iRacing does"),
        Col("event_type", INT, "2 practice, 3 qualify, 4 time trial, 5 race"),
        Col("event_type_name", TEXT, "event type's name"),
        Col("official_session", BOOL, "counted for ratings and standings"),
        Col(
            "license_category_id",
            INT,
            "1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports, 6 formula",
        ),
        Col("license_category", TEXT, "license category's name"),
        Col("start_time", TIME, "start, ISO-8601 UTC"),
        Col("end_time", TIME, "end, ISO-8601 UTC"),
        Col("track_id", INT, "the track configuration"),
        Col("track_name", TEXT, "track name"),
        Col("track_config", TEXT, "track configuration name"),
        Col("num_drivers", INT, "drivers in the subsession"),
        _opt("strength_of_field", INT, "event strength of field", "iRating"),
        _opt("num_cautions", INT, "cautions"),
        _opt("num_caution_laps", INT, "laps under caution", "laps"),
        _opt("num_lead_changes", INT, "lead changes"),
        _opt("event_laps_complete", INT, "laps the race leader completed", "laps"),
        _secs("event_average_lap", "the winner's average lap"),
        _secs("event_best_lap_time", "the event's best lap"),
        Col("caution_type", INT, "iRacing's caution type"),
        Col("driver_changes", BOOL, "a team event (driver changes allowed)"),
        Col("max_team_drivers", INT, "most drivers a team may have"),
        _opt("private_session_id", INT, "hosted sessions: the private session"),
        Col("session_name", TEXT, "hosted and league sessions: its name"),
        Col("league_id", INT, "league sessions: the league (0 or NULL otherwise)"),
        Col("league_season_id", INT, "league sessions: the league season"),
        Col("host_cust_id", ID, "hosted sessions: the host's cust_id"),
        Col("host_display_name", TEXT, "hosted sessions: the host's name"),
        Col("complete", BOOL, "true once the row comes from results/get"),
        *_provenance(True),
    ),
    ("subsession_id",),
    indexes=(("season_id", "race_week_num"), ("series_id", "start_time"), ("start_time",)),
    feeds=(
        "results/get",
        "results/search_series",
        "results/search_hosted",
        "league/season_sessions",
    ),
)

SESSION_RESULTS = Spec(
    "session_results",
    "One row per driver in each simsession (practice -1, qualify, race 0...) of a subsession, "
    "from results/get. Team events: one row per driver, with the team.",
    (
        Col("subsession_id", ID, "the subsession"),
        Col("simsession_number", INT, "0 the race (or main event), -1 the session before it..."),
        Col("simsession_type", INT, "iRacing's simsession type (6 race, 4 qualify...)"),
        Col("simsession_type_name", TEXT, "simsession type's name"),
        Col("simsession_name", TEXT, "simsession name (RACE, QUALIFY, PRACTICE)"),
        Col("cust_id", ID, "the driver"),
        Col("display_name", TEXT, "the driver's name at the time"),
        Col("team_id", ID, "team events: the team (NULL otherwise)"),
        Col("team_name", TEXT, "team events: the team's name"),
        Col("finish_position", INT, "finishing position, counted from 0 (0 won) as iRacing does"),
        Col("finish_position_in_class", INT, "finishing position in class, from 0"),
        _opt("starting_position", INT, "starting position, from 0"),
        _opt("starting_position_in_class", INT, "starting position in class, from 0"),
        Col("car_id", INT, "the car"),
        Col("car_name", TEXT, "car name"),
        Col("car_class_id", INT, "the car class"),
        Col("car_class_name", TEXT, "car class name"),
        Col("laps_complete", INT, "laps completed", "laps"),
        Col("laps_lead", INT, "laps led", "laps"),
        Col("incidents", INT, "incident points", "x"),
        _secs("interval", "gap to the winner"),
        _secs("class_interval", "gap to the class winner"),
        Col("reason_out", TEXT, "Running, Disconnected..."),
        Col("reason_out_id", INT, "reason out's id (0 running)"),
        _secs("best_lap_time", "best lap"),
        _opt("best_lap_num", INT, "the lap of the best lap"),
        _secs("average_lap", "average lap"),
        _secs("qual_lap_time", "qualifying lap"),
        Col("champ_points", INT, "championship points", "points"),
        Col("aggregate_champ_points", INT, "team events: the team's points", "points"),
        Col("club_points", INT, "club points", "points"),
        Col("drop_race", BOOL, "dropped from the season's points"),
        _opt("oldi_rating", INT, "iRating before", "iRating"),
        _opt("newi_rating", INT, "iRating after", "iRating"),
        Col("old_license_level", INT, "license level before (1 R- ... 20 A+)"),
        Col("new_license_level", INT, "license level after"),
        Col("old_sub_level", INT, "safety rating before, ×100 (345 = 3.45)", "SR×100"),
        Col("new_sub_level", INT, "safety rating after, ×100", "SR×100"),
        _opt("old_cpi", REAL, "corners per incident before"),
        _opt("new_cpi", REAL, "corners per incident after"),
        _opt("old_ttrating", INT, "time-trial rating before"),
        _opt("new_ttrating", INT, "time-trial rating after"),
        Col("club_id", INT, "the driver's club"),
        Col("club_name", TEXT, "club name"),
        Col("division", INT, "division, from 0"),
        Col("division_name", TEXT, "division name"),
        Col("country_code", TEXT, "country code"),
        Col("ai", BOOL, "an AI driver"),
        *_provenance(False),
    ),
    ("subsession_id", "simsession_number", "cust_id"),
    scope=("subsession_id",),
    indexes=(("cust_id", "subsession_id"),),
    feeds=("results/get",),
)

LAPS = Spec(
    "laps",
    "One row per lap of a driver in a simsession, from results/lap_data.",
    (
        Col("subsession_id", ID, "the subsession"),
        Col("simsession_number", INT, "the simsession (0 the race)"),
        Col("cust_id", ID, "the driver"),
        Col("lap_number", INT, "the lap (0 the lap to the start line)"),
        Col("team_id", ID, "team events: the team (NULL otherwise)"),
        Col("display_name", TEXT, "the driver's name"),
        _secs("lap_time", "lap time"),
        Col("flags", INT, "iRacing's lap flags (a bit set)"),
        Col("incident", BOOL, "an incident on this lap"),
        Col("personal_best_lap", BOOL, "the driver's best lap so far"),
        Col("team_fastest_lap", BOOL, "the team's fastest lap"),
        _secs("session_time", "session time at the end of the lap"),
        Col("lap_events", JSON, 'what happened, a JSON list (["pitted", "off track"])'),
        Col("car_number", TEXT, "car number"),
        Col("license_level", INT, "license level"),
        Col("ai", BOOL, "an AI driver"),
        *_provenance(False),
    ),
    ("subsession_id", "simsession_number", "cust_id", "lap_number"),
    scope=("subsession_id", "simsession_number", "cust_id"),
    indexes=(("cust_id",),),
    feeds=("results/lap_data",),
)

EVENT_LOG = Spec(
    "event_log",
    "One row per event of a simsession (incidents, penalties, cautions...), from "
    "results/event_log.",
    (
        Col("subsession_id", ID, "the subsession"),
        Col("simsession_number", INT, "the simsession (0 the race)"),
        Col("event_seq", INT, "the event's order in the simsession"),
        _secs("session_time", "session time of the event"),
        Col("event_code", INT, "iRacing's event code"),
        Col("description", TEXT, "what kind of event"),
        Col("message", TEXT, "the event's message"),
        Col("cust_id", ID, "the driver it is about (0 when none)"),
        Col("group_id", ID, "the driver or team it is about"),
        Col("display_name", TEXT, "its name"),
        Col("lap_number", INT, "the lap"),
        *_provenance(False),
    ),
    ("subsession_id", "simsession_number", "event_seq"),
    scope=("subsession_id", "simsession_number"),
    feeds=("results/event_log",),
)

MEMBERS = Spec(
    "members",
    "One row per member seen: from member/info and member/get (fullest), lookup/drivers, and "
    "the drivers of stored results.",
    (
        Col("cust_id", ID, "the member"),
        Col("display_name", TEXT, "name"),
        Col("club_id", INT, "club"),
        Col("club_name", TEXT, "club name"),
        Col("flair_id", INT, "flair (country flag)"),
        Col("flair_name", TEXT, "flair name"),
        Col("country_code", TEXT, "country code"),
        Col("member_since", TEXT, "member since, a date"),
        Col("last_login", TIME, "last login as iRacing reported it"),
        Col(
            "last_seen",
            TIME,
            "the latest of its last login and the start of its latest stored race",
        ),
        Col("ai", BOOL, "an AI driver"),
        *_provenance(True),
    ),
    ("cust_id",),
    max_columns=("last_seen",),
    indexes=(("display_name",),),
    feeds=("member/info", "member/get", "lookup/drivers", "results/get"),
)

MEMBER_CHARTS = Spec(
    "member_charts",
    "A member's rating history, one row per day and chart, from member/chart_data.",
    (
        Col("cust_id", ID, "the member"),
        Col(
            "category_id", INT, "1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports car, 6 formula"
        ),
        Col("category", TEXT, "category name"),
        Col("chart_type", INT, "1 iRating, 2 TT rating, 3 license/safety rating"),
        Col("chart_type_name", TEXT, "chart name"),
        Col("date", TEXT, "the day, ISO-8601"),
        Col("value", REAL, "the rating that day (iRating, TT rating, or license value)"),
        *_provenance(False),
    ),
    ("cust_id", "category_id", "chart_type", "date"),
    scope=("cust_id", "category_id", "chart_type"),
    feeds=("member/chart_data",),
)

SERIES = Spec(
    "series",
    "One row per series: from series/get (fullest), series/seasons, and stored results.",
    (
        Col("series_id", ID, "the series"),
        Col("series_name", TEXT, "name"),
        Col("series_short_name", TEXT, "short name"),
        Col("category_id", INT, "1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports, 6 formula"),
        Col("category", TEXT, "category name"),
        Col("eligible", BOOL, "the harvesting member may race it"),
        Col("min_starters", INT, "fewest starters"),
        Col("max_starters", INT, "most starters"),
        Col("min_license_group", INT, "the lowest license group allowed (1 R ... 5 A)"),
        Col("oval_caution_type", INT, "caution type on ovals"),
        Col("road_caution_type", INT, "caution type on road courses"),
        *_provenance(True),
    ),
    ("series_id",),
    feeds=("series/get", "series/seasons", "results/get", "results/search_series"),
)

SEASONS = Spec(
    "seasons",
    "One row per season of a series: from series/seasons (fullest), season/list, and stored "
    "results.",
    (
        Col("season_id", ID, "the season"),
        Col("series_id", INT, "its series"),
        Col("season_name", TEXT, "name"),
        Col("season_short_name", TEXT, "short name"),
        Col("season_year", INT, "year"),
        Col("season_quarter", INT, "quarter, 1 to 4"),
        Col("official", BOOL, "official (counts for ratings)"),
        Col("active", BOOL, "running now"),
        Col("license_group", INT, "the lowest license group allowed"),
        Col("fixed_setup", BOOL, "fixed setups"),
        Col("driver_changes", BOOL, "team events"),
        Col("max_weeks", INT, "weeks that count"),
        Col("race_week", INT, "the current race week, from 0"),
        Col("start_date", TEXT, "first day, ISO-8601"),
        Col("end_date", TEXT, "last day, ISO-8601"),
        Col("car_class_ids", JSON, "the car classes, a JSON list"),
        *_provenance(True),
    ),
    ("season_id",),
    indexes=(("series_id", "season_year", "season_quarter"),),
    feeds=(
        "series/seasons",
        "season/list",
        "series/season_list",
        "results/get",
        "results/search_series",
    ),
)

CARS = Spec(
    "cars",
    "One row per car: from car/get (fullest) and the cars of stored results.",
    (
        Col("car_id", ID, "the car"),
        Col("car_name", TEXT, "name"),
        Col("car_name_abbreviated", TEXT, "abbreviation"),
        Col("car_make", TEXT, "make"),
        Col("car_model", TEXT, "model"),
        Col("car_dirpath", TEXT, "iRacing's folder name"),
        Col("hp", INT, "power", "hp"),
        Col("car_weight", INT, "weight", "lb"),
        Col("categories", JSON, "categories, a JSON list"),
        Col("car_types", JSON, "types, a JSON list"),
        Col("price", REAL, "price", "USD"),
        Col("free_with_subscription", BOOL, "included in the subscription"),
        Col("rain_enabled", BOOL, "can race in the rain"),
        Col("ai_enabled", BOOL, "AI can drive it"),
        Col("retired", BOOL, "retired"),
        Col("created", TIME, "created"),
        Col("first_sale", TIME, "first sold"),
        Col("package_id", INT, "content package"),
        Col("sku", INT, "store SKU"),
        *_provenance(True),
    ),
    ("car_id",),
    feeds=("car/get", "results/get", "league/season_sessions"),
)

TRACKS = Spec(
    "tracks",
    "One row per track configuration: from track/get (fullest) and the tracks of stored results.",
    (
        Col("track_id", ID, "the track configuration"),
        Col("track_name", TEXT, "track name"),
        Col("config_name", TEXT, "configuration name"),
        Col("category_id", INT, "1 oval, 2 road, 3 dirt oval, 4 dirt road"),
        Col("category", TEXT, "category name"),
        Col("track_config_length", REAL, "length", "mi"),
        Col("corners_per_lap", INT, "corners"),
        Col("location", TEXT, "where it is"),
        Col("latitude", REAL, "latitude", "°"),
        Col("longitude", REAL, "longitude", "°"),
        Col("time_zone", TEXT, "its time zone"),
        Col("max_cars", INT, "most cars"),
        Col("grid_stalls", INT, "grid stalls"),
        Col("number_pitstalls", INT, "pit stalls"),
        Col("pit_road_speed_limit", INT, "pit road speed limit", "mph"),
        Col("nominal_lap_time", REAL, "a nominal lap", "s"),
        Col("is_oval", BOOL, "an oval"),
        Col("is_dirt", BOOL, "dirt"),
        Col("night_lighting", BOOL, "lit for night racing"),
        Col("free_with_subscription", BOOL, "included in the subscription"),
        Col("price", REAL, "price", "USD"),
        Col("retired", BOOL, "retired"),
        Col("created", TIME, "created"),
        Col("package_id", INT, "content package"),
        Col("sku", INT, "store SKU"),
        *_provenance(True),
    ),
    ("track_id",),
    feeds=(
        "track/get",
        "results/get",
        "results/search_series",
        "results/search_hosted",
        "league/season_sessions",
    ),
)

SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        SUBSESSIONS,
        SESSION_RESULTS,
        LAPS,
        EVENT_LOG,
        MEMBERS,
        MEMBER_CHARTS,
        SERIES,
        SEASONS,
        CARS,
        TRACKS,
    )
}
TABLE_NAMES = tuple(SPECS)

_ID_TYPE: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
_SQL_TYPES: dict[str, TypeEngine[object]] = {
    ID: _ID_TYPE,  # type: ignore[dict-item]
    INT: BigInteger().with_variant(Integer(), "sqlite"),  # type: ignore[dict-item]
    REAL: Float(),  # type: ignore[dict-item]
    TEXT: Text(),  # type: ignore[dict-item]
    BOOL: Boolean(),  # type: ignore[dict-item]
    TIME: Text(),  # type: ignore[dict-item]
    SECONDS: Float(),  # type: ignore[dict-item]
    JSON: Text(),  # type: ignore[dict-item]
}


def sql_type(kind: str) -> TypeEngine[object]:
    return _SQL_TYPES[kind]


def make_table(
    spec: Spec, metadata: MetaData, name: str | None = None, indexes: bool = True
) -> Table:
    """The Core table of a spec (under another name, and with its key only, for a rebuild's
    shadow copy: its other indexes are made once it has become the table)."""
    table_name = name or spec.name
    columns = [
        Column(c.name, sql_type(c.kind), nullable=c.name not in spec.key) for c in spec.columns
    ]
    table = Table(table_name, metadata, *columns, PrimaryKeyConstraint(*spec.key))
    for cols in spec.indexes if indexes else ():
        Index(f"ix_{table_name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
    return table


METADATA = MetaData()
TABLES: dict[str, Table] = {name: make_table(spec, METADATA) for name, spec in SPECS.items()}

SKIPPED = Table(
    "tables_skipped",
    METADATA,
    Column("result_id", _ID_TYPE, primary_key=True),
    Column("endpoint", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("at", Text(), nullable=False),
)
"""Documents (or rows of them) the tables could not take, with the reason: the raw body keeps
everything; a rebuild tries them again."""
