"""Which URLs from a document harvester may follow (`link`, `data_url`, chunk URLs).

A document is data from a server: its URLs are followed only to iRacing's download hosts
(HARVESTER_DOWNLOAD_HOSTS) or the API's own host, only over http(s), only over https when the
API is https, and never to an address that is not public (private, loopback, link-local, shared,
reserved, multicast) unless the API itself is there or the operator named that very host in
HARVESTER_DOWNLOAD_HOSTS (a private mirror: `minio.lan`, `10.0.0.5`); a pattern such as `*` or
`*.example.com` never opens a private address (a cloud metadata address must never be fetched).

The decision is on the address, not on its spelling: a host written as a number is read as the
system's resolver reads it (`127.1`, `0x7f000001`, `2130706433` and `0` are all loopback), and
a name is judged on the address its connection is made to (`check_peer`, called by
`peercheck` where the socket is connected). Pure: no I/O, no DNS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property

import httpx

from .._config.settings import DEFAULT_DOWNLOAD_HOSTS
from .._core.errors import ApiError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class LinkRefused(ApiError):
    """A document pointed somewhere harvester does not follow links to."""


@dataclass(frozen=True)
class LinkPolicy:
    api_url: str
    hosts: tuple[str, ...] = DEFAULT_DOWNLOAD_HOSTS

    @cached_property
    def _api(self) -> httpx.URL:
        return httpx.URL(self.api_url)

    @cached_property
    def _api_host(self) -> str:
        return host_of(self._api)

    def check(self, url: str, label: str) -> httpx.URL:
        """The URL, parsed, if it may be followed; else raise LinkRefused (or ApiError for a
        URL httpx cannot send) naming why."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ApiError(f"{label} is not a usable URL ({exc})") from None
        api = self._api
        if target.scheme not in ("https", "http"):
            scheme = f"{target.scheme}:" if target.scheme else "a URL without a scheme"
            raise LinkRefused(f"{label} is refused: {scheme} is not http(s)")
        if api.scheme == "https" and target.scheme != "https":
            raise LinkRefused(f"{label} is refused: {target.scheme}:// while the API is https")
        host = host_of(target)
        if not host:
            raise ApiError(f"{label} is not a usable URL (it has no host)")
        if self.is_api_host(host) or self.is_named(host):
            return target
        address = numeric_address(host)
        if address is not None and is_internal(address):
            shown = host if host == str(address) else f"{host} is {address}, which"
            raise LinkRefused(
                f"{label} is refused: {shown} is a private, loopback or link-local address"
            )
        if host == "localhost" or host.endswith(".localhost"):
            raise LinkRefused(f"{label} is refused: {host} is a loopback address")
        names = (host,) if address is None else (host, str(address))
        if not any(fnmatchcase(name, pattern.lower()) for name in names for pattern in self.hosts):
            raise LinkRefused(
                f"{label} is refused: {host} is not a download host "
                "(HARVESTER_DOWNLOAD_HOSTS lists the allowed ones)"
            )
        return target

    def is_api_host(self, host: str) -> bool:
        """True for the API's own host, however either is spelled (its links need no check:
        where the API is, harvester already talks to)."""
        api_host = self._api_host
        if host == api_host:
            return True
        address, api_address = numeric_address(host), numeric_address(api_host)
        return address is not None and address == api_address

    def is_named(self, host: str) -> bool:
        """True for a host HARVESTER_DOWNLOAD_HOSTS names exactly, not by a pattern: the
        operator's own choice, followed wherever it is (a private mirror)."""
        return any(
            host == entry.lower().rstrip(".") and not any(c in entry for c in "*?[")
            for entry in self.hosts
        )

    def check_peer(self, host: str, peer: str, label: str) -> None:
        """Raise LinkRefused if the address a link's connection reached is not public (the
        check a name cannot have before it is resolved, made on the socket's own peer)."""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            raise LinkRefused(
                f"{label} is refused: {host} is at {peer!r}, not an IP address"
            ) from None
        if is_internal(address):
            raise LinkRefused(
                f"{label} is refused: {host} is at {address}, "
                "a private, loopback or link-local address"
            )


def host_of(url: httpx.URL) -> str:
    """The host as compared: lower case, IDNA-encoded, without a trailing dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def is_internal(address: Address) -> bool:
    """True for anything but a public unicast address. An IPv6 address that carries an IPv4
    one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4) is
    judged as that IPv4 address as well."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (int(address) >> 32 in (0, _NAT64 >> 32)):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and is_internal(embedded):
            return True
    return not address.is_global or address.is_multicast


_NAT64 = int(ipaddress.IPv6Address("64:ff9b::"))


def numeric_address(host: str) -> Address | None:
    """The address a numeric host means, as inet_aton reads it (which getaddrinfo uses for a
    host that is a number): one to four parts, each decimal, octal (a leading 0) or hex (0x),
    the last filling the bytes left; an IPv6 literal as written. None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        value = _number(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _number(part: str) -> int | None:
    """One part of a numeric host: 0x1f (hex, `0x` alone is 0), 017 (octal), 15 (decimal)."""
    if part[:2].lower() == "0x":
        digits, base = part[2:] or "0", 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits or not all(ch in "0123456789abcdef"[:base] for ch in digits.lower()):
        return None
    return int(digits, base)
