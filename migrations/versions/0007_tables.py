"""The analysis-ready tables (subsessions, session_results, laps, event_log, members,
member_charts, series, seasons, cars, tracks), `tables_skipped`, and the view
`latest_result_rows`; then the tables are filled from the documents already stored.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite

TABLES = (
    "subsessions",
    "session_results",
    "laps",
    "event_log",
    "members",
    "member_charts",
    "series",
    "seasons",
    "cars",
    "tracks",
)

# the rows of each job's newest result only (`result_rows` keeps every poll)
LATEST_ROWS_VIEW = {
    "sqlite": """
CREATE VIEW latest_result_rows AS
SELECT p.result_id, p.id AS part_id, p.run_id, l.job, l.endpoint, l.params, p.fetched_at,
       p.part, j.key AS row_index, j.value AS row
FROM latest AS l
JOIN result_parts AS p ON p.result_id = l.result_id AND p.part > 0
JOIN documents AS d ON d.sha256 = p.sha256,
     json_each(d.body) AS j
WHERE d.content_type = 'application/json' AND json_valid(d.body)
""",
    "postgresql": """
CREATE VIEW latest_result_rows AS
SELECT p.result_id, p.id AS part_id, p.run_id, l.job, l.endpoint, l.params, p.fetched_at,
       p.part, j.ordinality - 1 AS row_index, j.value AS row
FROM latest AS l
JOIN result_parts AS p ON p.result_id = l.result_id AND p.part > 0
JOIN documents AS d ON d.sha256 = p.sha256
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(d.body::jsonb) = 'array' THEN d.body::jsonb ELSE '[]'::jsonb END
) WITH ORDINALITY AS j(value, ordinality)
WHERE d.content_type = 'application/json'
""",
}


def upgrade() -> None:
    op.create_table(
        "subsessions",
        sa.Column("subsession_id", ID, nullable=False),
        sa.Column("session_id", ID),
        sa.Column("series_id", ID),
        sa.Column("series_name", sa.Text()),
        sa.Column("series_short_name", sa.Text()),
        sa.Column("season_id", ID),
        sa.Column("season_name", sa.Text()),
        sa.Column("season_short_name", sa.Text()),
        sa.Column("season_year", ID),
        sa.Column("season_quarter", ID),
        sa.Column("race_week_num", ID),
        sa.Column("event_type", ID),
        sa.Column("event_type_name", sa.Text()),
        sa.Column("official_session", sa.Boolean()),
        sa.Column("license_category_id", ID),
        sa.Column("license_category", sa.Text()),
        sa.Column("start_time", sa.Text()),
        sa.Column("end_time", sa.Text()),
        sa.Column("track_id", ID),
        sa.Column("track_name", sa.Text()),
        sa.Column("track_config", sa.Text()),
        sa.Column("num_drivers", ID),
        sa.Column("strength_of_field", ID),
        sa.Column("num_cautions", ID),
        sa.Column("num_caution_laps", ID),
        sa.Column("num_lead_changes", ID),
        sa.Column("event_laps_complete", ID),
        sa.Column("event_average_lap", sa.Float()),
        sa.Column("event_best_lap_time", sa.Float()),
        sa.Column("caution_type", ID),
        sa.Column("driver_changes", sa.Boolean()),
        sa.Column("max_team_drivers", ID),
        sa.Column("private_session_id", ID),
        sa.Column("session_name", sa.Text()),
        sa.Column("league_id", ID),
        sa.Column("league_season_id", ID),
        sa.Column("host_cust_id", ID),
        sa.Column("host_display_name", sa.Text()),
        sa.Column("complete", sa.Boolean()),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("subsession_id"),
    )
    op.create_index(
        "ix_subsessions_season_id_race_week_num", "subsessions", ["season_id", "race_week_num"]
    )
    op.create_index(
        "ix_subsessions_series_id_start_time", "subsessions", ["series_id", "start_time"]
    )
    op.create_index("ix_subsessions_start_time", "subsessions", ["start_time"])
    op.create_table(
        "session_results",
        sa.Column("subsession_id", ID, nullable=False),
        sa.Column("simsession_number", ID, nullable=False),
        sa.Column("simsession_type", ID),
        sa.Column("simsession_type_name", sa.Text()),
        sa.Column("simsession_name", sa.Text()),
        sa.Column("cust_id", ID, nullable=False),
        sa.Column("display_name", sa.Text()),
        sa.Column("team_id", ID),
        sa.Column("team_name", sa.Text()),
        sa.Column("finish_position", ID),
        sa.Column("finish_position_in_class", ID),
        sa.Column("starting_position", ID),
        sa.Column("starting_position_in_class", ID),
        sa.Column("car_id", ID),
        sa.Column("car_name", sa.Text()),
        sa.Column("car_class_id", ID),
        sa.Column("car_class_name", sa.Text()),
        sa.Column("laps_complete", ID),
        sa.Column("laps_lead", ID),
        sa.Column("incidents", ID),
        sa.Column("interval", sa.Float()),
        sa.Column("class_interval", sa.Float()),
        sa.Column("reason_out", sa.Text()),
        sa.Column("reason_out_id", ID),
        sa.Column("best_lap_time", sa.Float()),
        sa.Column("best_lap_num", ID),
        sa.Column("average_lap", sa.Float()),
        sa.Column("qual_lap_time", sa.Float()),
        sa.Column("champ_points", ID),
        sa.Column("aggregate_champ_points", ID),
        sa.Column("club_points", ID),
        sa.Column("drop_race", sa.Boolean()),
        sa.Column("oldi_rating", ID),
        sa.Column("newi_rating", ID),
        sa.Column("old_license_level", ID),
        sa.Column("new_license_level", ID),
        sa.Column("old_sub_level", ID),
        sa.Column("new_sub_level", ID),
        sa.Column("old_cpi", sa.Float()),
        sa.Column("new_cpi", sa.Float()),
        sa.Column("old_ttrating", ID),
        sa.Column("new_ttrating", ID),
        sa.Column("club_id", ID),
        sa.Column("club_name", sa.Text()),
        sa.Column("division", ID),
        sa.Column("division_name", sa.Text()),
        sa.Column("country_code", sa.Text()),
        sa.Column("ai", sa.Boolean()),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("subsession_id", "simsession_number", "cust_id"),
    )
    op.create_index(
        "ix_session_results_cust_id_subsession_id", "session_results", ["cust_id", "subsession_id"]
    )
    op.create_table(
        "laps",
        sa.Column("subsession_id", ID, nullable=False),
        sa.Column("simsession_number", ID, nullable=False),
        sa.Column("cust_id", ID, nullable=False),
        sa.Column("lap_number", ID, nullable=False),
        sa.Column("team_id", ID),
        sa.Column("display_name", sa.Text()),
        sa.Column("lap_time", sa.Float()),
        sa.Column("flags", ID),
        sa.Column("incident", sa.Boolean()),
        sa.Column("personal_best_lap", sa.Boolean()),
        sa.Column("team_fastest_lap", sa.Boolean()),
        sa.Column("session_time", sa.Float()),
        sa.Column("lap_events", sa.Text()),
        sa.Column("car_number", sa.Text()),
        sa.Column("license_level", ID),
        sa.Column("ai", sa.Boolean()),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("subsession_id", "simsession_number", "cust_id", "lap_number"),
    )
    op.create_index("ix_laps_cust_id", "laps", ["cust_id"])
    op.create_table(
        "event_log",
        sa.Column("subsession_id", ID, nullable=False),
        sa.Column("simsession_number", ID, nullable=False),
        sa.Column("event_seq", ID, nullable=False),
        sa.Column("session_time", sa.Float()),
        sa.Column("event_code", ID),
        sa.Column("description", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("cust_id", ID),
        sa.Column("group_id", ID),
        sa.Column("display_name", sa.Text()),
        sa.Column("lap_number", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("subsession_id", "simsession_number", "event_seq"),
    )
    op.create_table(
        "members",
        sa.Column("cust_id", ID, nullable=False),
        sa.Column("display_name", sa.Text()),
        sa.Column("club_id", ID),
        sa.Column("club_name", sa.Text()),
        sa.Column("flair_id", ID),
        sa.Column("flair_name", sa.Text()),
        sa.Column("country_code", sa.Text()),
        sa.Column("member_since", sa.Text()),
        sa.Column("last_login", sa.Text()),
        sa.Column("last_seen", sa.Text()),
        sa.Column("ai", sa.Boolean()),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("cust_id"),
    )
    op.create_index("ix_members_display_name", "members", ["display_name"])
    op.create_table(
        "member_charts",
        sa.Column("cust_id", ID, nullable=False),
        sa.Column("category_id", ID, nullable=False),
        sa.Column("category", sa.Text()),
        sa.Column("chart_type", ID, nullable=False),
        sa.Column("chart_type_name", sa.Text()),
        sa.Column("date", sa.Text(), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("cust_id", "category_id", "chart_type", "date"),
    )
    op.create_table(
        "series",
        sa.Column("series_id", ID, nullable=False),
        sa.Column("series_name", sa.Text()),
        sa.Column("series_short_name", sa.Text()),
        sa.Column("category_id", ID),
        sa.Column("category", sa.Text()),
        sa.Column("eligible", sa.Boolean()),
        sa.Column("min_starters", ID),
        sa.Column("max_starters", ID),
        sa.Column("min_license_group", ID),
        sa.Column("oval_caution_type", ID),
        sa.Column("road_caution_type", ID),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("series_id"),
    )
    op.create_table(
        "seasons",
        sa.Column("season_id", ID, nullable=False),
        sa.Column("series_id", ID),
        sa.Column("season_name", sa.Text()),
        sa.Column("season_short_name", sa.Text()),
        sa.Column("season_year", ID),
        sa.Column("season_quarter", ID),
        sa.Column("official", sa.Boolean()),
        sa.Column("active", sa.Boolean()),
        sa.Column("license_group", ID),
        sa.Column("fixed_setup", sa.Boolean()),
        sa.Column("driver_changes", sa.Boolean()),
        sa.Column("max_weeks", ID),
        sa.Column("race_week", ID),
        sa.Column("start_date", sa.Text()),
        sa.Column("end_date", sa.Text()),
        sa.Column("car_class_ids", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("season_id"),
    )
    op.create_index(
        "ix_seasons_series_id_season_year_season_quarter",
        "seasons",
        ["series_id", "season_year", "season_quarter"],
    )
    op.create_table(
        "cars",
        sa.Column("car_id", ID, nullable=False),
        sa.Column("car_name", sa.Text()),
        sa.Column("car_name_abbreviated", sa.Text()),
        sa.Column("car_make", sa.Text()),
        sa.Column("car_model", sa.Text()),
        sa.Column("car_dirpath", sa.Text()),
        sa.Column("hp", ID),
        sa.Column("car_weight", ID),
        sa.Column("categories", sa.Text()),
        sa.Column("car_types", sa.Text()),
        sa.Column("price", sa.Float()),
        sa.Column("free_with_subscription", sa.Boolean()),
        sa.Column("rain_enabled", sa.Boolean()),
        sa.Column("ai_enabled", sa.Boolean()),
        sa.Column("retired", sa.Boolean()),
        sa.Column("created", sa.Text()),
        sa.Column("first_sale", sa.Text()),
        sa.Column("package_id", ID),
        sa.Column("sku", ID),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("car_id"),
    )
    op.create_table(
        "tracks",
        sa.Column("track_id", ID, nullable=False),
        sa.Column("track_name", sa.Text()),
        sa.Column("config_name", sa.Text()),
        sa.Column("category_id", ID),
        sa.Column("category", sa.Text()),
        sa.Column("track_config_length", sa.Float()),
        sa.Column("corners_per_lap", ID),
        sa.Column("location", sa.Text()),
        sa.Column("latitude", sa.Float()),
        sa.Column("longitude", sa.Float()),
        sa.Column("time_zone", sa.Text()),
        sa.Column("max_cars", ID),
        sa.Column("grid_stalls", ID),
        sa.Column("number_pitstalls", ID),
        sa.Column("pit_road_speed_limit", ID),
        sa.Column("nominal_lap_time", sa.Float()),
        sa.Column("is_oval", sa.Boolean()),
        sa.Column("is_dirt", sa.Boolean()),
        sa.Column("night_lighting", sa.Boolean()),
        sa.Column("free_with_subscription", sa.Boolean()),
        sa.Column("price", sa.Float()),
        sa.Column("retired", sa.Boolean()),
        sa.Column("created", sa.Text()),
        sa.Column("package_id", ID),
        sa.Column("sku", ID),
        sa.Column("source", sa.Text()),
        sa.Column("source_rank", ID),
        sa.Column("result_id", ID),
        sa.PrimaryKeyConstraint("track_id"),
    )

    op.create_table(
        "tables_skipped",
        sa.Column("result_id", ID, primary_key=True),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
    )
    bind = op.get_bind()
    op.execute(LATEST_ROWS_VIEW["postgresql" if bind.dialect.name == "postgresql" else "sqlite"])
    # an archive that already holds documents gets its tables now, in this transaction
    from harvester._tables.rebuild import fill_in_place

    fill_in_place(bind)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS latest_result_rows")
    op.drop_table("tables_skipped")
    for name in reversed(TABLES):
        op.drop_table(name)
