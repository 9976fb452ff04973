"""The deterministic data world behind the simulated /data API, one module per job:

- `core`: `World`: answers an endpoint (parameters parsed, handler called), serves the
  catalogue, and the handlers of the first endpoints (members, searches, results, CSV stats);
- `table`: every endpoint of the real catalogue (74): shape, parameters, expirationSeconds;
- `model`: the time-driven model (race slots, subsessions, entrants, ids as formulas);
- `seasonal`: the seeding hash, UTC time texts, quarters (seasons) and race weeks;
- `data`: the fixed tables (cars, tracks, series templates, names, countries, awards);
- `docs`: catalogue-like documents (cars, tracks, series, seasons, members, awards);
- `race`: one subsession's race detail (entries, laps, incidents);
- `results`: results/get, its laps and event log;
- `rows`: rows of the searches, recent races and league sessions;
- `params`: typed query parameters and search windows;
- `assets`: car, track and series assets, car classes, lookups;
- `leagues`: league/* and team/*, league standings from the league's sessions;
- `members`: award instances, iRating charts, profile and career/yearly/recap/bests stats;
- `seasons`: past seasons, season lists and schedules, the race guide, season results;
- `standings`: stats/season_* standings and results computed from the season's races;
- `sessions`: hosted sessions, registered drivers, lap charts, time attack;
- `types`: the value types (`Doc`, `Endpoint`, `Param`, `WorldConfig`, `WorldError`).

Pure and stdlib-only (but for harvester's clock helpers): no I/O, no real time. The area modules
import `core` only for typing; `core` imports them to build its handler table.
"""

from harvester.simulator.world.core import World
from harvester.simulator.world.types import Doc, Endpoint, Param, WorldConfig, WorldError

__all__ = ["Doc", "Endpoint", "Param", "World", "WorldConfig", "WorldError"]
