"""The simulator's knobs. Defaults are the real service's published or observed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from .masking import mask

FAULT_KINDS = ("500", "502", "504", "reset", "truncate")

DEMO_CLIENT_ID = "harvester-sim"
DEMO_CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - a made-up credential of the simulator
DEMO_USERNAME = "driver@example.com"
DEMO_PASSWORD = "sim-password"  # noqa: S105 - a made-up credential of the simulator


def demo_password_form() -> dict[str, str]:
    """One `password_limited` grant's form with the demo credentials, masked as a client masks
    them (for the tests and benchmarks that speak to the simulator's /token themselves)."""
    return {
        "grant_type": "password_limited",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": mask(DEMO_CLIENT_SECRET, DEMO_CLIENT_ID),
        "username": DEMO_USERNAME,
        "password": mask(DEMO_PASSWORD, DEMO_USERNAME),
        "scope": "iracing.auth",
    }


# For runs on a scaled clock: links signed for 15 simulated minutes, as `expires` says, so that
# 120 s (0.5 real seconds at x240) do not expire links a loaded machine has not fetched yet.
class LinkLifetimes(TypedDict):
    link_signed_for: int
    data_url_signed_for: int


SCALED_LINKS: LinkLifetimes = {"link_signed_for": 900, "data_url_signed_for": 900}


@dataclass
class SimConfig:
    """Everything the simulator can be told; tests change fields at run time under its lock."""

    # who may log in
    clients: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    users: dict[str, str] = field(default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD})
    # OAuth
    access_token_lifetime: int = 600
    refresh_token_lifetime: int = 604_800
    password_grants_per_hour: int = 12
    password_limit_retry_after: int | None = None  # iRacing documents none
    # /data
    rate_limit: int | None = 240  # None: no limit (benchmarks of the pipeline alone)
    rate_window: int = 60
    link_lifetime: int = 900  # what a link's `expires` says (about 15 minutes)
    link_signed_for: int = 120  # what its signature allows: links die well before `expires`
    data_url_signed_for: int = 60  # data_url links are signed for a minute
    chunk_size: int = 500
    maintenance_windows: list[tuple[float, float]] = field(default_factory=list)
    maintenance: bool = False  # switched on and off at run time
    storm_until: float | None = None  # until then every /data request answers 429 (a 429 storm)
    latency: float = 0.0  # real seconds added to every answer
    fault_rate: float = 0.0  # share of /data and link requests that fail
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 7
    # merged into /data/doc (None deletes a key): how the API drifts between seasons
    catalog_changes: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
