"""Which `Host` header the endpoint answers (pure): the defence against DNS rebinding.

A page on evil.example can make its name resolve to 127.0.0.1 and then read the endpoint from
the victim's browser as same-origin: every request it sends still says `Host: evil.example`.
So the endpoint answers only the names it is bound under: the bind address; this machine's name
(full or short); `localhost` and the loopback addresses when bound to loopback or to every
address; on every address (0.0.0.0, ::), any IP address (a rebinding page always sends a name);
and the names of HARVESTER_HTTP_ALLOWED_HOSTS (`name` or `*.domain`). The port is not
compared: a rebinding page is told apart by its name, and Docker's port mapping changes it.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (listening addresses)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def host_name(header: str) -> str | None:
    """The name of a Host header without its port, lower case; None if it is not one."""
    text = header.strip().lower()
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return name if _ip(name) is not None and ":" in name else None
    name, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None
    name = name.rstrip(".")
    if not name or any(not (ch.isalnum() or ch in "-._") for ch in name):
        return None
    return name


def host_allowed(header: str, bound: str, allowed: tuple[str, ...] = (), machine: str = "") -> bool:
    """Whether a request with `Host: header` is answered by a server bound to `bound`."""
    name = host_name(header)
    if name is None:
        return False
    bound = bound.strip("[]").lower().rstrip(".")
    if name == bound:
        return True
    wildcard = bound in WILDCARD_ADDRESSES
    if (wildcard or is_loopback(bound)) and name in LOOPBACK_NAMES:
        return True
    machine = machine.lower().rstrip(".")
    if machine and name in (machine, machine.split(".")[0]):
        return True
    if wildcard and _ip(name) is not None:
        return True
    for entry in allowed:
        if entry.startswith("*."):
            if name.endswith(entry[1:]) and len(name) > len(entry) - 1:
                return True
        elif name == entry:
            return True
    return False
