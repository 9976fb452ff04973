"""The deterministic data world behind the simulated /data API, one module per job.

The world itself:
- `core`: `World`: answers an endpoint (parameters parsed, handler called), serves the
  catalogue; it composes a `State` and the one handler table;
- `handlers`: the table of every endpoint path -> the function answering it, joined from the
  families below;
- `state`: `State`, what every family reads: the model, its caches and shared lookups;
- `table`: every endpoint of the real catalogue (74): shape, parameters, expirationSeconds.

The endpoint families, each a module of plain functions `(state, params, now) -> Doc` listed
in its `HANDLERS`:
- `assets`: constants, cars, tracks, series, car classes, their assets, the lookups;
- `members`: member/*; `member_stats`: stats/member_* and the driver stats CSV files;
- `results`: results/get, event_log, lap_data, lap_chart_data; `searches`: the searches;
- `seasons`: series/* seasons and schedules, season/*, results/season_results;
- `standings`: stats/season_* and stats/world_records;
- `leagues`: league/*; `teams`: team/*; `sessions`: hosted/*, session/*, time attack.

What the families build from:
- `model`: the time-driven model (race slots, subsessions, entrants, ids as formulas);
- `seasonal`: the seeding hash, UTC quarters (seasons) and race weeks, strength of field;
- `data`: the fixed tables (cars, tracks, series templates, names, countries, awards);
- `race`: one subsession's race detail (entries, laps, incidents);
- `subsession`: results/get, its laps and event log; `rows`: rows of searches and lists;
- `docs`: catalogue-like documents; `refs`: helmets, liveries, licenses, member references;
- `params`: typed query parameters and search windows;
- `types`: the value types (`Doc`, `Endpoint`, `Param`, `WorldConfig`, `WorldError`).

Pure and stdlib-only: no I/O, no real time. Imports run one way: `core` -> `handlers` -> the
families -> `state` -> the builders; nothing imports back up.
"""

from .core import World
from .types import Doc, Endpoint, Param, WorldConfig, WorldError

__all__ = ["Doc", "Endpoint", "Param", "World", "WorldConfig", "WorldError"]
