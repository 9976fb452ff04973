"""The one HTTP client keeps no cookies: a cookie a server sets (an S3 link's host, say) is
never sent back anywhere, and no response pays for a cookie jar."""

from __future__ import annotations

from pathlib import Path

import httpx

from harvester._service.runtime import build_http_client
from tests.helpers import make_settings


def test_a_cookie_a_server_sets_is_never_sent_back(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}, text="{}")

    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    client = build_http_client(settings, httpx.MockTransport(answer))
    client.get("https://bucket.example/a.json")
    client.get("https://bucket.example/b.json")
    client.get("https://other.example/c.json")
    assert seen == [None, None, None]
    assert len(client.cookies) == 0
    client.close()
