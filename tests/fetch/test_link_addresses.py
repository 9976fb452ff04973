"""Where a link may lead is decided on the address, not on its spelling: every way of writing
a loopback, private or link-local address is refused, and a name is checked on the address the
connection was actually made to (no resolving twice, so no DNS rebinding between the check and
the connection)."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._core.errors import ApiError
from harvester._fetch.bounded import Limits, bounded_get
from harvester._fetch.linkpolicy import LinkPolicy, LinkRefused, is_internal, numeric_address
from harvester._fetch.peercheck import watch_connection
from harvester._service.runtime import open_runtime
from harvester._store.db import sqlite_path
from tests.helpers import FAST, db_rows, make_settings

API = "https://members-ng.iracing.com"
ANYWHERE = ("*",)  # HARVESTER_DOWNLOAD_HOSTS=*
UNSPECIFIED = ".".join("0000")  # 0.0.0.0, the address nothing is bound to here


@pytest.mark.parametrize(
    "host",
    [
        *["127.1", "0x7f000001", "2130706433", "0", "0x7f.1", "127.0.1", "0x7F.0.0.1"],
        *["017700000001", "127.0.0.1.", UNSPECIFIED, "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
        *["[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[::127.0.0.1]", "localhost", "LocalHost."],
        *["2852039166", "169.254.43518", "0xa9fea9fe", "10.1", "167772161", "0xc0a80001"],
        *["[::ffff:169.254.169.254]", "[fe80::1]", "[fd00::1]", "100.64.0.1", "224.0.0.1"],
        *["[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[ff02::1]", "192.0.2.1", "198.18.0.1"],
    ],
)
def test_every_spelling_of_an_internal_address_is_refused(host: str) -> None:
    """With every host allowed, 127.1, 0x7f000001, 2130706433 and 0 reached loopback."""
    with pytest.raises(ApiError) as refused:
        LinkPolicy(API, ANYWHERE).check(f"https://{host}/a.json", "the link")
    assert isinstance(refused.value, LinkRefused), refused.value


@pytest.mark.parametrize(
    ("spelled", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0", UNSPECIFIED),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.258", "10.0.1.2"),
        ("1.2.3.4", "1.2.3.4"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("0x", UNSPECIFIED),
    ],
)
def test_numeric_spellings_mean_what_the_resolver_takes_them_for(
    spelled: str, address: str
) -> None:
    """inet_aton's rules (what getaddrinfo does with a numeric host): one to four parts, each
    decimal, octal with a leading 0 or hex with 0x, the last filling the bytes left."""
    found = numeric_address(spelled)
    assert found is not None and str(found) == address


@pytest.mark.parametrize(
    "host", ["members-ng.iracing.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x1g", "", "1..2"]
)
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert numeric_address(host) is None


@FAST
@given(st.ip_addresses(v=4), st.sampled_from(["dotted", "int", "hex", "octal", "short"]))
@example(address=ipaddress.IPv4Address("127.0.0.1"), form="short")
def test_the_spelling_never_changes_the_address(address: ipaddress.IPv4Address, form: str) -> None:
    value = int(address)
    spelled = {
        "dotted": str(address),
        "int": str(value),
        "hex": hex(value),
        "octal": "0" + format(value, "o"),
        "short": f"{value >> 24}.{value & 0xFFFFFF}",
    }[form]
    assert numeric_address(spelled) == address


@FAST
@given(
    address=st.ip_addresses(),
    form=st.sampled_from(["as is", "int", "hex", "octal", "short", "dot", "mapped"]),
)
def test_the_decision_is_the_same_however_the_address_is_spelled(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, form: str
) -> None:
    """Allowed exactly when the address is public, whichever spelling the link uses."""
    host = spell(address, form)
    try:
        LinkPolicy(API, ANYWHERE).check(f"https://{host}/a.json", "the link")
        refused = False
    except LinkRefused:
        refused = True
    assert refused == is_internal(address), host


def spell(address: ipaddress.IPv4Address | ipaddress.IPv6Address, form: str) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return f"[{address.exploded}]" if form == "int" else f"[{address}]"
    value = int(address)
    return {
        "int": str(value),
        "hex": hex(value),
        "octal": "0" + format(value, "o"),
        "short": f"{value >> 24}.{value & 0xFFFFFF}",
        "dot": f"{address}.",
        "mapped": f"[::ffff:{address}]",
    }.get(form, str(address))


def test_a_public_address_however_spelled_is_allowed_where_every_host_is() -> None:
    for host in ("8.8.8.8", "0x08080808", "134744072", "8.526344"):
        LinkPolicy(API, ANYWHERE).check(f"https://{host}/a.json", "the link")


def test_a_host_the_operator_names_exactly_is_followed_where_it_is() -> None:
    """A private mirror named in HARVESTER_DOWNLOAD_HOSTS is the operator's choice; a pattern
    never opens a private address, and naming one host opens no other spelling of it."""
    mirror = LinkPolicy(API, ("minio.lan", "10.0.0.5"))
    mirror.check("https://minio.lan/bucket/a.json", "the link")
    mirror.check("https://10.0.0.5/bucket/a.json", "the link")
    assert mirror.is_named("minio.lan") and not mirror.is_named("other.lan")
    with pytest.raises(LinkRefused):
        mirror.check("https://0x0a000005/bucket/a.json", "the link")  # not the name given
    for patterns in (ANYWHERE, ("*.lan",), ("10.0.0.*",)):
        with pytest.raises(LinkRefused):
            LinkPolicy(API, patterns).check("https://10.0.0.5/a.json", "the link")
    assert not LinkPolicy(API, ("*.lan",)).is_named("minio.lan")


def test_the_apis_own_address_is_the_apis_host_however_spelled() -> None:
    """A private API (a test, the simulator) may link to itself: the same address counts."""
    LinkPolicy("http://127.0.0.1:8080").check("http://127.1:8080/s3/a.json", "the link")
    LinkPolicy("http://127.0.0.1:8080").check("http://0x7f000001:8080/s3/a.json", "the link")


# -- end to end, over real sockets ---------------------------------------------------------------


class Api(BaseHTTPRequestHandler):
    """An API that links to its own loopback address, spelled as the test says."""

    protocol_version = "HTTP/1.1"
    served: Counter[str]
    link: str
    shape: str  # "link" (an S3 link) or "data_url"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self._json({"access_token": "a", "token_type": "Bearer", "expires_in": 600})

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.served[path] += 1
        address = self.server.server_address
        assert isinstance(address, tuple)
        link = self.link.replace("{port}", str(address[1]))
        if path.startswith("/data/") and self.shape == "link":
            self._json({"link": link, "expires": "2026"})
        elif path.startswith("/data/"):
            self._json({"type": "member_awards", "data": {}, "data_url": link})
        else:
            self._json({"secret": "an internal service's answer"})

    def _json(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(link: str, shape: str = "link") -> tuple[ThreadingHTTPServer, Counter[str]]:
    served: Counter[str] = Counter()
    handler = type("Handler", (Api,), {"served": served, "link": link, "shape": shape})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, served


@pytest.fixture
def stop_servers() -> Iterator[list[ThreadingHTTPServer]]:
    servers: list[ThreadingHTTPServer] = []
    yield servers
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def run_linked(
    tmp_path: Path, servers: list[ThreadingHTTPServer], backend: str, link: str, shape: str
) -> tuple[str, str, Counter[str]]:
    """One run of a job whose API (at `localhost`) answers `link` in the given shape."""
    httpd, served = serve(link, shape)
    servers.append(httpd)
    base = f"http://localhost:{httpd.server_address[1]}"
    settings = make_settings(tmp_path, base, download_hosts=ANYWHERE, database_url=backend)
    with open_runtime(settings, clock=ManualClock()) as runtime:
        outcome = runtime.runner.run(JobSpec(name="x", endpoint="member/info", params={}))
    stored = db_rows(sqlite_path(backend) or backend, "SELECT count(*) FROM result_parts")
    assert stored == [(0,)] or outcome.status == "success"
    return outcome.status, str(outcome.error), served


@pytest.mark.parametrize("host", ["127.1", "0x7f000001", "2130706433", "0"])
def test_a_link_spelled_as_a_number_does_not_reach_loopback(
    tmp_path: Path, stop_servers: list[ThreadingHTTPServer], backend: str, host: str
) -> None:
    """The API is `localhost`, its link a spelling of 127.0.0.1 (where the server also is):
    before, the link was followed and the internal answer stored."""
    link = f"http://{host}:{{port}}/internal/secret.json"
    status, error, served = run_linked(tmp_path, stop_servers, backend, link, "link")
    assert status == "failed"
    assert "refused" in error and "loopback" in error, error
    assert served["/internal/secret.json"] == 0


@pytest.mark.parametrize(
    "link",
    [
        "file:///etc/passwd",
        "ftp://scorpio-assets.s3.amazonaws.com/a.json",
        "data:application/json,{}",
        "gopher://localhost:{port}/_GET",
        "FILE:///etc/passwd",
        "javascript:alert(1)",
    ],
)
@pytest.mark.parametrize("shape", ["link", "data_url"])
def test_a_link_that_is_not_http_is_refused(
    tmp_path: Path, stop_servers: list[ThreadingHTTPServer], backend: str, link: str, shape: str
) -> None:
    """Before, an answer shaped as a link whose URL was not http(s) was not taken for a link:
    it was stored as the document itself and the run said success."""
    status, error, _ = run_linked(tmp_path, stop_servers, backend, link, shape)
    assert status == "failed"
    assert "is refused" in error and "is not http(s)" in error, error


def test_a_link_in_capitals_is_a_link(
    tmp_path: Path, stop_servers: list[ThreadingHTTPServer], backend: str
) -> None:
    """`HTTP://` is http: followed (to the API's own host here), not stored as the answer."""
    link = "HTTP://localhost:{port}/s3/a.json"
    status, error, served = run_linked(tmp_path, stop_servers, backend, link, "link")
    assert (status, served["/s3/a.json"]) == ("success", 1), error


def test_a_name_is_judged_on_the_address_it_connected_to(
    stop_servers: list[ThreadingHTTPServer],
) -> None:
    """Past the spelling check (a name), the connection itself is looked at: `localhost` here
    stands for any name whose DNS answers an internal address, then or by the time it is
    connected (rebinding): the socket's peer is refused before a byte of the request is sent."""
    httpd, served = serve("unused")
    stop_servers.append(httpd)
    url = f"http://localhost:{httpd.server_address[1]}/internal/secret.json"
    policy = LinkPolicy(API, ANYWHERE)
    limits = Limits(1_000_000, 30.0, 30.0)
    refused = pytest.raises(LinkRefused, match=r"localhost is at 127\.0\.0\.1, a private")
    with httpx.Client() as http, refused:
        bounded_get(
            http,
            url,
            "the link",
            limits,
            CancelToken(ManualClock()),
            extensions={"trace": watch_connection(policy, httpx.URL(url), "the link")},
        )
    assert served["/internal/secret.json"] == 0
