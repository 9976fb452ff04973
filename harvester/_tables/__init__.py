"""The analysis-ready tables, derived from the raw archive and always a function of it.

- `schema`: the tables' columns, kinds, meanings and units (Core tables, portable);
- `source`, `coerce`: what a mapping reads, and values coerced to a column's kind (pure);
- `map_results`, `map_sessions`, `map_members`, `map_reference`: one pure mapping per source
  endpoint, document → rows;
- `derive`: which mapping reads which endpoint, and each row's provenance (pure);
- `writer`: rows into the tables so that any order of documents gives the same tables;
- `keeper`: the archive's hook, deriving each result in the transaction that stores it;
- `rebuild`: the tables made again from the raw documents, while the service runs;
- `summary`, `datasette`: what `harvester tables` and `harvester datasette-metadata` show.

Imports: sqlalchemy, `_store` (`db`, `models`) and `_core`; never `_archive` (the archive
imports this package).
"""

from .schema import SPECS, TABLE_NAMES, TABLES

__all__ = ["SPECS", "TABLES", "TABLE_NAMES"]
