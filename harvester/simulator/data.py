"""The simulated members-ng.iracing.com/data: Bearer auth, rate limits, maintenance, and every
response shape (direct, link, data_url, link to chunk_info, direct chunk_info, CSV)."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from typing import Any

from ._time import Clock
from .config import SimConfig
from .links import ObjectStore
from .messages import SimRequest, SimResponse, json_response, text_response
from .oauth import DATA_SCOPE, OAuthService
from .world import Doc, Endpoint, World, WorldError
from .world.types import not_found

MAINTENANCE_BODY = {
    "error": "Site Maintenance",
    "note": "The site is currently undergoing maintenance. Please try your request later.",
}

# chunk files of the searches expire in 20 minutes (short_lived), those of standings, lap data
# and event logs in an hour (long_lived): the captures' X-Amz-Expires
SEARCH_CHUNK_LIFETIME = 1200
CHUNK_LIFETIME = 3600
_SHORT_LIVED = ("results/search_series", "results/search_hosted")
_CHUNK_KIND = {
    "results/search_series": "series_search",
    "results/search_hosted": "hosted_search",
    "results/event_log": "event_log",
    "results/lap_data": "lapdata",
}


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


class RateWindow:
    """The fixed window of the real service: it opens at the first request, for `window` s."""

    def __init__(self) -> None:
        self.opened_at = -math.inf
        self.count = 0

    def take(self, now: float, limit: int, window: int) -> tuple[bool, int, int]:
        """Count one request; return (allowed, remaining, reset epoch seconds)."""
        if now >= self.opened_at + window:
            self.opened_at = now
            self.count = 0
        self.count += 1
        reset = math.ceil(self.opened_at + window)
        return self.count <= limit, max(limit - self.count, 0), reset


class DataService:
    def __init__(
        self,
        config: SimConfig,
        clock: Clock,
        oauth: OAuthService,
        world: World,
        store: ObjectStore,
    ) -> None:
        self.config = config
        self.clock = clock
        self.oauth = oauth
        self.world = world
        self.store = store
        self.lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.by_endpoint: Counter[str] = Counter()
        self._windows: dict[str, RateWindow] = {}

    def in_maintenance(self, now: float) -> bool:
        return self.config.maintenance or any(
            start <= now < end for start, end in self.config.maintenance_windows
        )

    def handle(self, request: SimRequest) -> SimResponse:
        now = self.clock.now()
        with self.lock:
            self.counters["requests"] += 1
        if request.method != "GET":
            return json_response(405, {"error": "Method Not Allowed"})
        if self.in_maintenance(now):
            self._count("maintenance")
            return json_response(503, MAINTENANCE_BODY)
        session = self.oauth.verify_access(request.header("authorization"))
        who = session.username if session else "anonymous"
        storm = self.config.storm_until
        if storm is not None and now < storm:  # another client spent the account's budget
            self._count("rate_limited")
            limit = str(self.config.rate_limit or 240)
            return text_response(
                429,
                "Rate limit exceeded",
                headers={
                    "x-ratelimit-limit": limit,
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(math.ceil(storm)),
                },
            )
        headers = self._rate_headers(who, now)
        if headers is None:
            self._count("rate_limited")
            return text_response(429, "Rate limit exceeded", headers=self._last_headers(who, now))
        if session is None:
            self._count("unauthorized")
            return json_response(401, {"error": "Unauthorized"}, headers)
        if not session.has_scope(DATA_SCOPE):  # a token for the profile only
            self._count("forbidden_scope")
            return json_response(403, {"error": "Forbidden"}, headers)
        headers.update(
            {
                "x-iracing-servicename": "data-server",
                "x-iracing-serviceversion": "2.1.6-sim",
                "cache-control": "max-age=60",
            }
        )
        endpoint = request.path[len("/data/") :].strip("/")
        with self.lock:
            self.by_endpoint[endpoint] += 1
        if endpoint == "doc" or endpoint.startswith("doc/"):
            return self._doc(endpoint, headers)
        params = request.params
        spec = self.world.endpoints.get(endpoint)
        try:
            if spec is None:
                raise not_found(f"unknown endpoint {endpoint!r}")
            doc = self.world.answer(endpoint, params, now)
        except WorldError as exc:
            self._count(f"status_{exc.status}")
            if exc.body is None:
                return SimResponse(exc.status, headers, b"")
            return json_response(exc.status, exc.body, headers)
        self._count("ok")
        return self._shape(spec, doc, headers)

    def _shape(self, spec: Endpoint, doc: Doc, headers: dict[str, str]) -> SimResponse:
        """Wrap a document in its endpoint's shape (reference §2.2)."""
        shape = spec.shape
        if shape == "direct":
            return json_response(200, doc.body, headers)
        if shape == "csv":
            body = (doc.csv or "").encode("utf-8")
            return self._link(spec.path, body, "text/csv", headers)
        if shape == "data_url":
            signed_for = min(self.config.data_url_signed_for, self.config.link_lifetime)
            url = self.store.put_link(
                spec.path, _json_bytes(doc.body), "application/json", signed_for
            )
            envelope = {"type": doc.type_name, "data": doc.summary, "data_url": url}
            return json_response(200, envelope, headers)
        chunk_info = self._chunks(spec.path, doc.rows)
        if shape == "link":
            return self._link(spec.path, _json_bytes(doc.body), "application/json", headers)
        if shape == "link_chunks":
            header = {**doc.body, "chunk_info": chunk_info}
            return self._link(spec.path, _json_bytes(header), "application/json", headers)
        wrapped = {"type": doc.type_name, "data": {**doc.body, "chunk_info": chunk_info}}
        if shape == "direct_chunks":
            return json_response(200, wrapped, headers)
        if shape == "link_data_chunks":
            return self._link(spec.path, _json_bytes(wrapped), "application/json", headers)
        raise ValueError(f"unknown shape {shape!r} for {spec.path}")

    def _link(
        self, path: str, body: bytes, content_type: str, headers: dict[str, str]
    ) -> SimResponse:
        # signed for 120 s although `expires` says ~15 min, as the real service does
        lifetime = self.config.link_lifetime
        signed_for = min(self.config.link_signed_for, lifetime)
        url = self.store.put_link(path, body, content_type, signed_for)
        return json_response(
            200, {"link": url, "expires": self.store.expires_iso(lifetime)}, headers
        )

    def _chunks(self, path: str, rows: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        if rows is None:
            return None
        size = max(self.config.chunk_size, 1)
        pieces = [_json_bytes(rows[i : i + size]) for i in range(0, len(rows), size)]
        short = path in _SHORT_LIVED
        base, names = self.store.put_chunks(
            _CHUNK_KIND.get(path, path.replace("/", "_")),
            pieces,
            max(self.config.link_lifetime, SEARCH_CHUNK_LIFETIME if short else CHUNK_LIFETIME),
            "short_lived" if short else "long_lived",
        )
        return {
            "chunk_size": size,
            "num_chunks": len(pieces),
            "rows": len(rows),
            "base_download_url": base,
            "chunk_file_names": names,
        }

    def _doc(self, endpoint: str, headers: dict[str, str]) -> SimResponse:
        catalogue = _merged(self.world.catalogue(), self.config.catalog_changes)
        parts = endpoint.split("/")[1:]
        if parts and parts[0] in catalogue:
            catalogue = {parts[0]: catalogue[parts[0]]}
            if len(parts) > 1 and parts[1] in catalogue[parts[0]]:
                catalogue = catalogue[parts[0]][parts[1]]
        return json_response(200, catalogue, headers)

    def _rate_headers(self, who: str, now: float) -> dict[str, str] | None:
        """Count the request in its window; None when it is over the limit."""
        limit = self.config.rate_limit
        if limit is None:
            return {
                "x-ratelimit-limit": "1000000",
                "x-ratelimit-remaining": "1000000",
                "x-ratelimit-reset": str(math.ceil(now + self.config.rate_window)),
            }
        with self.lock:
            window = self._windows.setdefault(who, RateWindow())
            allowed, remaining, reset = window.take(now, limit, self.config.rate_window)
        if not allowed:
            return None
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        }

    def _last_headers(self, who: str, now: float) -> dict[str, str]:
        with self.lock:
            window = self._windows.get(who)
            reset = math.ceil(window.opened_at + self.config.rate_window) if window else 0
        return {
            "x-ratelimit-limit": str(self.config.rate_limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
        }

    def _count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in depth; a None value removes the key."""
    result = dict(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result
