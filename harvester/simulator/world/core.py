"""The deterministic data world behind the simulated iRacing /data API.

`World.answer(endpoint, params, now)` returns the document an endpoint answers at simulated
time `now` (a `Doc`: the body, plus rows, CSV text or envelope parts for the shapes that need
them), or raises `WorldError` for 400/403/404. The HTTP layer wraps documents in their shape
(link, data_url, chunks...), which `World.endpoints` declares per endpoint.

The world is time-driven: every series launches a race slot every `race_interval_minutes`,
each slot 1..max_splits subsessions of 40-60 minutes; hosted and league sessions run on a lane
of their own. A subsession shows in results/* and in the searches once its end_time <= now;
running ones are what season/spectator_subsessionids lists. The world also extends
`history_days` back before `origin`, so backfills find races. See `model` for how ids are
formed; same config -> byte-identical documents for the same (endpoint, params, now).

Pure and stdlib-only: no I/O, no real time, no global random; caches are bounded `lru_cache`s
over immutable values, so concurrent readers are safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .handlers import HANDLERS
from .model import Model
from .params import parse_params
from .race import Detail
from .state import State
from .table import ENDPOINTS
from .types import Doc, Endpoint, Param, WorldConfig, WorldError, not_found

__all__ = ["Doc", "Endpoint", "Param", "World", "WorldConfig", "WorldError"]

DATA_URL = "https://members-ng.iracing.com/data/"


class World:
    """The simulated iRacing data: documents as functions of (endpoint, params, now)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.state = State(self.config)
        self.model: Model = self.state.model
        self.endpoints: Mapping[str, Endpoint] = ENDPOINTS
        differ = set(self.endpoints) ^ set(HANDLERS)
        assert not differ, f"endpoints and handlers differ: {sorted(differ)}"

    def answer(self, endpoint: str, params: Mapping[str, str], now: float) -> Doc:
        """The document `endpoint` answers at simulated time `now` for raw query `params`."""
        spec = self.endpoints.get(endpoint.strip("/"))
        if spec is None:
            raise not_found(f"unknown endpoint {endpoint!r}")
        return HANDLERS[spec.path](self.state, parse_params(spec, params), now)

    def catalogue(self) -> dict[str, Any]:
        """/data/doc in the real structure, built from `endpoints`."""
        doc: dict[str, Any] = {}
        for path, e in sorted(self.endpoints.items()):
            service, method = path.split("/", 1)
            entry: dict[str, Any] = {"link": DATA_URL + path}
            if e.params:
                entry["parameters"] = {
                    name: {
                        "type": p.type,
                        **({"required": True} if p.required else {}),
                        **({"note": p.note} if p.note else {}),
                    }
                    for name, p in e.params.items()
                }
            if e.note:
                entry["note"] = e.note
            entry["expirationSeconds"] = e.expiration_seconds
            doc.setdefault(service, {})[method] = entry
        return doc

    def subsessions_ending_between(
        self, begin: float, end: float, hosted: bool = False
    ) -> list[int]:
        """Ids of official (or, with hosted=True, hosted) subsessions ending in [begin, end)."""
        return self.state.subsessions_ending_between(begin, end, hosted)

    def detail(self, subsession_id: int) -> Detail:
        """The race detail of a subsession the world generates (any time)."""
        return self.state.detail(subsession_id)
