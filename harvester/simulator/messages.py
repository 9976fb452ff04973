"""The simulator's request and response values, independent of how they travel (an httpx
transport in-process, or a socket on loopback)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class SimResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: str | None = None  # "reset": drop the connection; "truncate": cut the body short


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    all_headers = {"content-type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return SimResponse(status, all_headers, body)


def text_response(
    status: int,
    text: str,
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> SimResponse:
    all_headers = {"content-type": content_type}
    all_headers.update(headers or {})
    return SimResponse(status, all_headers, text.encode("utf-8"))


def request_id() -> str:
    return str(uuid.uuid4())
