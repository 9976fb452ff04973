"""Bodies as they arrive over a real socket: a compressed body is stored only when every gzip
member decodes whole (several members are one body; one cut short, with a bad CRC or trailing
garbage is a failed transfer, retried, then a failed run naming why), and a UTF-8 byte-order
mark never reaches the archive (the text stored is what UTF-8 decodes the bytes to)."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester._config.jobs import JobSpec
from harvester._core.clock import ManualClock
from harvester._fetch.bounded import BrokenEncoding, Inflater
from harvester._fetch.data_client import MAX_ATTEMPTS
from harvester._service.runtime import open_runtime
from harvester._store.db import sqlite_path
from tests.helpers import FAST, db_rows, make_settings

CSV = "cust_id,display_name\n" + "".join(f"{i},driver {i}\n" for i in range(1000))  # 1,001 lines
ROWS = json.dumps([{"cust_id": i, "display_name": f"driver {i}"} for i in range(300)])


def members(text: str, count: int) -> bytes:
    """`text` in `count` gzip members, one after the other (as `cat a.gz b.gz` makes)."""
    data = text.encode()
    step = len(data) // count + 1
    return b"".join(gzip.compress(data[i : i + step]) for i in range(0, len(data), step))


def bad_crc(text: str) -> bytes:
    body = bytearray(gzip.compress(text.encode()))
    body[-8] ^= 0xFF  # the trailer's CRC-32
    return bytes(body)


# name -> (body as sent, its content-type); every one is sent with content-encoding: gzip
GZIPPED: dict[str, tuple[bytes, str]] = {
    "members.csv": (members(CSV, 3), "text/csv"),
    "members.json": (members(ROWS, 4), "application/json"),
    "padded.json": (gzip.compress(ROWS.encode()) + b"\0" * 16, "application/json"),
    "cut.csv": (gzip.compress(CSV.encode())[:-200], "text/csv"),
    "cut.json": (members(ROWS, 2)[:-9], "application/json"),
    "header.json": (gzip.compress(ROWS.encode())[:5], "application/json"),
    "badcrc.json": (bad_crc(ROWS), "application/json"),
    "garbage.json": (gzip.compress(ROWS.encode()) + b"<html>", "application/json"),
    "notgzip.json": (ROWS.encode(), "application/json"),
}


BOM = "\ufeff".encode()
# name -> (body as sent, its content-type), sent as they are
PLAIN: dict[str, tuple[bytes, str]] = {
    "bom.json": (BOM + b'{"a": 1}', "application/json"),
    "bom.csv": (BOM + CSV.encode(), "text/csv"),
    "bom-c0.json": (BOM + b'[{"r": 0}, {"r": 1}]', "application/octet-stream"),
    "bom-c1.json": (BOM + b'[{"r": 2}]', "application/octet-stream"),
    "boms.json": (BOM + BOM + b'{"a": 1}', "application/json"),
}


@dataclass
class Served:
    """What the server was asked, by name."""

    counts: Counter[str] = field(default_factory=Counter)


class Bodies(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served: Served

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # the token endpoint behaves
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": 600})
        self._send(body.encode(), "application/json")

    def do_GET(self) -> None:
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        self.served.counts[name] += 1
        address = self.server.server_address
        assert isinstance(address, tuple)
        if name.startswith("link-"):  # a /data answer pointing at the body, as iRacing's do
            link = f"http://127.0.0.1:{address[1]}/s3/{name[5:]}?X-Amz-Signature=s"
            self._send(json.dumps({"link": link, "expires": "2026"}).encode(), "application/json")
        elif name == "bom-chunked.json":  # part 0 with a BOM, its chunks too
            info = {
                "base_download_url": f"http://127.0.0.1:{address[1]}/s3/",
                "chunk_file_names": ["bom-c0.json", "bom-c1.json"],
                "rows": 3,
            }
            body = BOM + json.dumps({"type": "x", "data": {"chunk_info": info}}).encode()
            self._send(body, "application/json")
        elif name in PLAIN:
            self._send(*PLAIN[name])
        else:
            body, content_type = GZIPPED[name]
            self._send(body, content_type, gzip=True)

    def _send(self, body: bytes, content_type: str, gzip: bool = False) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        if gzip:
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(body)))  # the transfer itself is whole
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Server:
    url: str
    served: Served


@pytest.fixture
def server() -> Iterator[Server]:
    served = Served()
    handler = type("Handler", (Bodies,), {"served": served})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", served)
    httpd.shutdown()
    httpd.server_close()


def run(tmp_path: Path, server: Server, backend: str, endpoint: str) -> tuple[str, str | None]:
    settings = make_settings(tmp_path, server.url, database_url=backend)
    spec = JobSpec(name="bodies", endpoint=f"hostile/{endpoint}", params={})
    with open_runtime(settings, clock=ManualClock()) as runtime:  # retries wait on this clock
        outcome = runtime.runner.run(spec)
    return outcome.status, outcome.error


def stored(backend: str) -> list[str]:
    """The bodies stored for the job's results, part by part."""
    database = sqlite_path(backend) or backend
    return [
        row[0]
        for row in db_rows(
            database,
            "SELECT d.body FROM result_parts p JOIN documents d ON d.sha256 = p.sha256 "
            "WHERE p.job = 'bodies' ORDER BY p.part",
        )
    ]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("link-members.csv", CSV),  # the 1,001-line CSV was stored as its first member's lines
        ("members.json", ROWS),
        ("link-members.json", ROWS),
        ("padded.json", ROWS),  # zero bytes after the last member, as gzip(1) allows
    ],
)
def test_a_body_in_several_gzip_members_is_stored_whole(
    tmp_path: Path, server: Server, backend: str, endpoint: str, expected: str
) -> None:
    status, error = run(tmp_path, server, backend, endpoint)
    assert (status, error) == ("success", None)
    assert stored(backend) == [expected]
    if endpoint.endswith(".csv"):
        assert len(stored(backend)[0].splitlines()) == 1001


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("cut.csv", "cut short"),
        ("cut.json", "cut short"),
        ("header.json", "cut short"),
        ("badcrc.json", "corrupt"),
        ("garbage.json", "corrupt"),
        ("notgzip.json", "corrupt"),
    ],
)
@pytest.mark.parametrize("via", ["direct", "link"])
def test_a_truncated_or_corrupt_gzip_body_is_a_failed_transfer_retried_then_failed(
    tmp_path: Path, server: Server, backend: str, name: str, why: str, via: str
) -> None:
    """The HTTP transfer is whole (content-length matches): only the gzip stream says the body
    is not. Each attempt is a failed transfer, retried; the run fails naming why, and nothing
    is stored (before: a cut body was stored as complete, a bad CRC was `unexpected error`)."""
    status, error = run(tmp_path, server, backend, name if via == "direct" else f"link-{name}")
    assert status == "failed"
    assert error is not None and why in error and "gzip" in error, error
    assert f"after {MAX_ATTEMPTS} attempts" in error, error
    assert not error.startswith("unexpected"), error
    assert server.served.counts[name] == MAX_ATTEMPTS
    assert stored(backend) == []


# -- a byte-order mark: the encoding's mark, not the document's text ------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("bom.json", ['{"a": 1}']),
        ("link-bom.json", ['{"a": 1}']),
        ("link-bom.csv", [CSV]),
    ],
)
def test_a_byte_order_mark_is_not_stored(
    tmp_path: Path, server: Server, backend: str, endpoint: str, expected: list[str]
) -> None:
    """The text stored is the body as UTF-8 decodes it (the Encoding Standard drops a leading
    BOM): a BOM kept made SQLite's json_extract say "malformed JSON" on latest_results."""
    assert run(tmp_path, server, backend, endpoint) == ("success", None)
    assert stored(backend) == expected
    if endpoint.endswith(".json"):
        sqlite = "SELECT json_extract(body, '$.a') FROM latest_results"
        postgres = "SELECT (harvester_json(body) ->> 'a')::int FROM latest_results"
        assert query(backend, sqlite, postgres) == [(1,)]


def test_chunks_with_a_byte_order_mark_keep_their_rows(
    tmp_path: Path, server: Server, backend: str
) -> None:
    """`result_rows` dropped a chunk stored with its BOM (not JSON to SQLite, NULL on
    PostgreSQL), and the tables skipped the result."""
    assert run(tmp_path, server, backend, "bom-chunked.json") == ("success", None)
    assert not any(body.startswith("\ufeff") for body in stored(backend))
    order = "FROM result_rows ORDER BY part, row_index"
    sqlite = f"SELECT json_extract(row, '$.r') {order}"
    rows = query(backend, sqlite, f"SELECT (row ->> 'r')::int {order}")
    assert rows == [(0,), (1,), (2,)]


def test_a_second_byte_order_mark_is_not_json(tmp_path: Path, server: Server, backend: str) -> None:
    status, error = run(tmp_path, server, backend, "boms.json")
    assert status == "failed" and error is not None and "byte-order mark" in error, error
    assert stored(backend) == []


def query(backend: str, sqlite: str, postgres: str) -> list[tuple[object, ...]]:
    database = sqlite_path(backend)
    return db_rows(database, sqlite) if database is not None else db_rows(backend, postgres)


# -- the decoder itself, fuzzed: any split into members and into network reads -------------------


@FAST
@given(
    text=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=4),
    reads=st.lists(st.integers(1, 700), min_size=1, max_size=8),
)
def test_any_members_in_any_reads_decode_to_the_whole_body(
    text: bytes, cuts: list[int], reads: list[int]
) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    sent = b"".join(gzip.compress(text[a:b]) for a, b in itertools.pairwise(bounds)) or (
        gzip.compress(b"")
    )
    inflater = Inflater("gzip")
    out = b"".join(inflater.inflate(piece, len(text)) for piece in pieces(sent, reads))
    assert out + inflater.finish() == text


@FAST
@given(
    text=st.binary(min_size=1, max_size=2000),
    count=st.integers(1, 3),
    at=st.floats(0.0, 1.0, exclude_max=True),
)
def test_a_stream_cut_anywhere_but_between_members_is_refused(
    text: bytes, count: int, at: float
) -> None:
    step = len(text) // count + 1
    parts = [gzip.compress(text[i : i + step]) for i in range(0, len(text), step)]
    sent = b"".join(parts)
    cut = max(1, int(len(sent) * at))
    boundaries = set(itertools.accumulate(len(part) for part in parts))
    inflater = Inflater("gzip")
    if cut in boundaries:  # a whole member ends here: a shorter body, which only HTTP can tell
        inflater.inflate(sent[:cut], len(text))
        inflater.finish()
        return
    with pytest.raises(BrokenEncoding, match=r"(cut short|corrupt gzip body)"):
        decode_whole(inflater, sent[:cut], len(text))


def decode_whole(inflater: Inflater, data: bytes, room: int) -> bytes:
    return inflater.inflate(data, room) + inflater.finish()


def test_many_small_members_cannot_inflate_past_the_cap() -> None:
    """A bomb split over members: the output of one call stops just past the room it has."""
    member = gzip.compress(b" " * 1_000_000)
    inflater = Inflater("gzip")
    out = inflater.inflate(member * 50, 3_000_000)
    assert 3_000_000 < len(out) <= 3_000_001


def pieces(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """`data` in reads of the given sizes (the last one repeats)."""
    at = 0
    for size in itertools.chain(sizes, itertools.repeat(sizes[-1])):
        if at >= len(data):
            return
        yield data[at : at + size]
        at += size
