"""The deterministic data world behind the simulated /data API, one module per job:

- `core`: `World`, the endpoint table and the handlers that answer each endpoint;
- `model`: the time-driven model (race slots, subsessions, entrants, ids as formulas);
- `data`: the fixed tables (cars, tracks, series templates, names, lookups);
- `docs`: the catalogue-like documents (cars, tracks, series, seasons, members, awards);
- `race`: one subsession's race detail (entries, laps, incidents);
- `results`: results/get, its laps and event log;
- `rows`: rows of the searches, recent races and league sessions;
- `params`: typed query parameters and search windows;
- `types`: the value types (`Doc`, `Endpoint`, `Param`, `WorldConfig`, `WorldError`).

Pure and stdlib-only (but for harvester's clock helpers): no I/O, no real time.
"""

from harvester.simulator.world.core import World
from harvester.simulator.world.types import Doc, Endpoint, Param, WorldConfig, WorldError

__all__ = ["Doc", "Endpoint", "Param", "World", "WorldConfig", "WorldError"]
