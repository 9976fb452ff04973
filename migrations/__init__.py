"""Alembic migrations of harvester's database (installed as `harvester._migrations`)."""
