"""Alembic environment: harvester passes its own connection (already inside a write
transaction); run from a checkout with `alembic upgrade head`, the URL comes from the settings."""

from __future__ import annotations

from alembic import context

from harvester._store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from harvester._config.settings import load_settings
    from harvester._store.db import create_db_engine, write

    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = create_db_engine(url)
    with write(engine) as connection:
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("harvester's migrations run online only: `harvester db upgrade`")
run_migrations_online()
