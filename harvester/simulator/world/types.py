"""The value types of the simulated world (re-exported by `harvester.simulator.world`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WorldError(Exception):
    """An answer other than 200 that the world decides (bad params, private session, unknown id).

    `status` is 400, 403 or 404. `body` is the JSON body the real service sends with it:
    `{"error": "Bad Request"}`, `{"error": "Forbidden"}`, `{"error": "Not Found"}`.
    `message` says why, for logs.
    """

    def __init__(self, status: int, body: dict[str, Any] | None, message: str = "") -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.body = body
        self.message = message


def bad_request(note: str) -> WorldError:
    """A 400 with the real body; `note` (which rule the request broke) is for logs only."""
    return WorldError(400, {"error": "Bad Request"}, note)


def forbidden(message: str) -> WorldError:
    return WorldError(403, {"error": "Forbidden"}, message)


NOT_FOUND_BODY = {"error": "Not Found"}  # iRacing's error bodies name the status this way


def not_found(message: str) -> WorldError:
    return WorldError(404, dict(NOT_FOUND_BODY), message)


@dataclass(frozen=True)
class Param:
    """One query parameter of an endpoint, as the real /data/doc catalogue declares it."""

    type: str  # "number" | "numbers" | "string" | "boolean"
    required: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Doc:
    """What an endpoint answers before the HTTP layer wraps it in its shape.

    - `body`: the JSON document (dict or list). For the chunked shapes it is the header without
      `chunk_info`; for "csv" it is None.
    - `rows`: chunked shapes only, every row in order (possibly empty); the HTTP layer splits
      them into chunk files and writes `chunk_info`.
    - `csv`: the "csv" shape only, the CSV text.
    - `type_name`: "data_url", "direct_chunks" and "link_data_chunks": the envelope's `type`.
    - `summary`: "data_url" only: the envelope's `data` object.

    Every call returns freshly built objects: callers may mutate them.
    """

    body: Any
    rows: list[dict[str, Any]] | None = None
    csv: str | None = None
    type_name: str | None = None
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class Endpoint:
    """One served endpoint: its path, response shape and catalogue entry."""

    path: str  # "results/get"
    shape: str  # direct | link | data_url | link_chunks | direct_chunks | link_data_chunks | csv
    params: Mapping[str, Param]  # names and types exactly as in the real catalogue
    expiration_seconds: int  # as in the real catalogue (900 or 60)
    note: str | None  # a short note, in our own words


@dataclass(frozen=True)
class WorldConfig:
    """The knobs of the simulated world. Same config -> byte-identical documents."""

    seed: int = 7
    origin: float = 1_767_225_600.0  # epoch seconds: race slot 0 (2026-01-01T00:00Z)
    series_count: int = 6
    race_interval_minutes: int = 120  # each series launches a race slot this often
    max_splits: int = 3  # subsessions per slot: 1..max_splits (deterministic per slot)
    drivers_per_split: int = 20
    laps_per_race: int = 12
    private_hosted_every: int = 10  # every Nth hosted subsession is private -> 403
    me_cust_id: int = 100_001  # the authenticated member
    # Additions.
    history_days: int = 400  # slots exist back to origin - history_days (ids stay positive)
    hosted_every_slots: int = 3  # a hosted session on every Nth slot of the hosted lane
    driver_pool: int = 3000  # members; raised to series_count * max_splits * drivers_per_split
    league_count: int = 2  # leagues running hosted sessions (1..15)
