"""The link policy where a link's connection is made: the address a name resolved to is judged
on the socket itself, the moment it is connected and before a byte of the request is sent.

Resolving the name here and checking the answer would leave a gap: the connection resolves it
again, and a DNS server that answers a public address first and a loopback one next (DNS
rebinding) would pass. So nothing is resolved here: httpx's `trace` extension reports the
connected stream, whose peer address is the one the request would go to. Behind an HTTP proxy
the connection is to the proxy, which resolves the name itself; there only the spelling of the
host is checked (by `LinkPolicy.check`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .linkpolicy import LinkPolicy, host_of

Trace = Callable[[str, dict[str, Any]], None]


def watch_connection(policy: LinkPolicy, url: httpx.URL, label: str) -> Trace | None:
    """An httpx `trace` callback that refuses (LinkRefused) a connection for `url` made to an
    address that is not public; None for a link to the API's own host or to a host the operator
    named exactly (no check needed)."""
    host = host_of(url)
    if policy.is_api_host(host) or policy.is_named(host):
        return None
    direct = False  # the connection is to the link's host itself (not to a proxy)

    def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal direct
        if event == "connection.connect_tcp.started":
            direct = str(info.get("host", "")).lower().rstrip(".") == host
        elif event == "connection.connect_tcp.complete" and direct:
            stream = info["return_value"]
            peer = stream.get_extra_info("server_addr")
            try:
                policy.check_peer(host, str(peer[0]) if peer else "", label)
            except Exception:
                stream.close()  # refused: the socket is not handed on to send the request
                raise

    return trace
