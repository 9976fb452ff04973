"""The database seam: engine and migrations (SQLite | PostgreSQL), the models, the locks and the
read-only query path."""
