"""Which URLs from a document harvester may follow (`link`, `data_url`, chunk URLs).

A document is data from a server: its URLs are followed only to iRacing's download hosts
(HARVESTER_DOWNLOAD_HOSTS) or the API's own host, only over https when the API is https, and
never to a private, loopback or link-local address unless the API itself is there (a cloud
metadata address must never be fetched). Pure: no I/O, no DNS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase

import httpx

from .._config.settings import DEFAULT_DOWNLOAD_HOSTS
from .._core.errors import ApiError


class LinkRefused(ApiError):
    """A document pointed somewhere harvester does not follow links to."""


@dataclass(frozen=True)
class LinkPolicy:
    api_url: str
    hosts: tuple[str, ...] = DEFAULT_DOWNLOAD_HOSTS

    def check(self, url: str, label: str) -> None:
        """Raise LinkRefused (or ApiError for a URL httpx cannot send) naming why."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ApiError(f"{label} is not a usable URL ({exc})") from None
        host = target.host.lower().rstrip(".")
        if not host:
            raise ApiError(f"{label} is not a usable URL (it has no host)")
        api = httpx.URL(self.api_url)
        api_host = api.host.lower().rstrip(".")
        if target.scheme not in ("https", "http") or (
            api.scheme == "https" and target.scheme != "https"
        ):
            raise LinkRefused(f"{label} is refused: {target.scheme}:// while the API is https")
        if host == api_host:
            return
        if _is_internal(host):
            raise LinkRefused(
                f"{label} is refused: {host} is a private, loopback or link-local address"
            )
        if not any(fnmatchcase(host, pattern.lower()) for pattern in self.hosts):
            raise LinkRefused(
                f"{label} is refused: {host} is not a download host "
                "(HARVESTER_DOWNLOAD_HOSTS lists the allowed ones)"
            )


def _is_internal(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or address.is_multicast
    )
