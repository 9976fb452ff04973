"""A hostile server is bounded: body size (also after gzip), an overall deadline per request,
the job's timeout during a request, the number of chunks, and where links may point."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from harvester._config.jobs import JobSpec
from harvester._core.errors import ApiError
from harvester._fetch.linkpolicy import LinkPolicy, LinkRefused
from harvester._service.runtime import Runtime, open_runtime
from tests.helpers import make_settings

DRIP_SECONDS = 3.0  # the longest any drip lasts: bounds a test that fails


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # the token endpoint behaves
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self._json({"access_token": "a", "token_type": "Bearer", "expires_in": 600})

    def _json(self, value: object, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        address = self.server.server_address
        assert isinstance(address, tuple)
        base = f"http://127.0.0.1:{address[1]}"
        if name == "endless":
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            piece = b"[" + b"0," * 8191
            try:
                for _ in range(400):  # 6.5 MB at most
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                return
        elif name == "bomb":
            body = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif name == "drip":
            body = b'"' + b"x" * 58 + b'"'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(DRIP_SECONDS / len(body))
            except OSError:
                return
        elif name in ("silent", "mute"):  # headers then nothing / nothing at all, for a while
            if name == "silent":
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "10")
                self.end_headers()
                self.wfile.flush()
            time.sleep(DRIP_SECONDS)
            self.close_connection = True
        elif name == "chunks":
            names = [f"c{i}.json" for i in range(50)]
            self._json(
                {
                    "chunk_info": {
                        "chunk_size": 1,
                        "num_chunks": 50,
                        "rows": 50,
                        "base_download_url": f"{base}/s3/",
                        "chunk_file_names": names,
                    }
                }
            )
        elif name == "metadata":
            self._json({"link": "http://169.254.169.254/latest/meta-data/", "expires": "x"})
        else:
            self._json([1])


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _runtime(tmp_path: Path, base: str, **limits: object) -> Runtime:
    values: dict[str, object] = {
        "max_document_bytes": 1_000_000,
        "request_deadline_seconds": 30.0,
        "max_chunks": 10,
        **limits,
    }
    return open_runtime(make_settings(tmp_path, base, **values))


def _run(runtime: Runtime, endpoint: str, timeout: float | None = None) -> tuple[str, str]:
    spec = JobSpec(name="hostile", endpoint=f"hostile/{endpoint}", params={}, timeout=timeout)
    outcome = runtime.runner.run(spec)
    return outcome.status, str(outcome.error)


def test_an_endless_body_stops_at_the_size_cap(tmp_path: Path, hostile: str) -> None:
    with _runtime(tmp_path, hostile) as runtime:
        spec = JobSpec(name="hostile", endpoint="hostile/endless", params={})
        outcome = runtime.runner.run(spec)
        with runtime.engine.connect() as conn:
            recorded = conn.execute(text("SELECT requests FROM runs")).scalar_one()
    assert outcome.status == "failed"
    assert "larger than 1000000 bytes (HARVESTER_MAX_DOCUMENT_BYTES)" in str(outcome.error)
    # the request was made and answered, then refused: it counts (it was recorded 0)
    assert outcome.counts.requests == recorded == 1


def test_a_gzip_bomb_stops_at_the_size_cap_after_decompression(
    tmp_path: Path, hostile: str
) -> None:
    with _runtime(tmp_path, hostile) as runtime:
        status, error = _run(runtime, "bomb")
    assert status == "failed"
    assert "HARVESTER_MAX_DOCUMENT_BYTES" in error


def test_a_slow_drip_cannot_outlast_the_request_deadline(tmp_path: Path, hostile: str) -> None:
    started = time.monotonic()
    with _runtime(tmp_path, hostile, request_deadline_seconds=0.5) as runtime:
        status, error = _run(runtime, "drip")
    assert status == "failed"
    assert "did not arrive within 0.5 s (HARVESTER_REQUEST_DEADLINE_SECONDS)" in error
    assert time.monotonic() - started < DRIP_SECONDS


def test_the_job_timeout_interrupts_a_request_in_flight(tmp_path: Path, hostile: str) -> None:
    started = time.monotonic()
    with _runtime(tmp_path, hostile) as runtime:
        status, error = _run(runtime, "drip", timeout=0.5)
    assert status == "failed"
    assert "timeout" in error
    assert time.monotonic() - started < DRIP_SECONDS


def test_chunk_info_with_too_many_chunks_fails_the_run(tmp_path: Path, hostile: str) -> None:
    with _runtime(tmp_path, hostile) as runtime:
        status, error = _run(runtime, "chunks")
    assert status == "failed"
    assert "lists 50 chunks, more than 10 (HARVESTER_MAX_CHUNKS)" in error


def test_a_link_to_a_metadata_address_is_not_followed(tmp_path: Path, hostile: str) -> None:
    with _runtime(tmp_path, hostile) as runtime:
        status, error = _run(runtime, "metadata")
    assert status == "failed"
    assert "169.254.169.254 is a private, loopback or link-local address" in error


API = "https://members-ng.iracing.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://scorpio-assets.s3.amazonaws.com/production/a.json?X-Amz-Signature=1",
        "https://scorpio-assets.s3.us-east-1.amazonaws.com/production/a.json",
        "https://dqfp1ltauszrc.cloudfront.net/public/lapdata/subsession/1/0/2/",
        "https://members-ng.iracing.com/data/x",
    ],
)
def test_iracings_download_hosts_are_followed(url: str) -> None:
    LinkPolicy(API).check(url, "the link")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://scorpio-assets.s3.amazonaws.com/a.json", "http:// while the API is https"),
        ("https://evil.example.com/a.json", "not a download host"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.8/a.json", "private"),
        ("https://[::1]/a.json", "loopback"),
        ("https://localhost/a.json", "loopback"),
        ("ftp://scorpio-assets.s3.amazonaws.com/a", "ftp: is not http"),
    ],
)
def test_other_links_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(ApiError, match=why.replace("/", "/")) as refused:
        LinkPolicy(API).check(url, "the link")
    assert isinstance(refused.value, LinkRefused) or "usable" in str(refused.value)


def test_a_private_api_host_is_followed_and_hosts_are_configurable() -> None:
    LinkPolicy("http://127.0.0.1:8080").check("http://127.0.0.1:8080/s3/a.json", "the link")
    LinkPolicy(API, ("downloads.example.org",)).check("https://downloads.example.org/a", "x")
    with pytest.raises(LinkRefused):
        LinkPolicy(API, ("downloads.example.org",)).check(
            "https://scorpio-assets.s3.amazonaws.com/a", "x"
        )


@pytest.mark.parametrize("endpoint", ["silent", "mute"])
def test_a_server_gone_silent_cannot_hold_a_run_past_its_timeout(
    tmp_path: Path, hostile: str, endpoint: str
) -> None:
    """A read waits at most what is left of the job's timeout, not REQUEST_TIMEOUT (30 s here):
    silence after the headers, or before them, ends the run at its timeout with that reason."""
    started = time.monotonic()
    with _runtime(tmp_path, hostile, request_timeout=30.0) as runtime:
        status, error = _run(runtime, endpoint, timeout=0.5)
    assert status == "failed"
    assert "the job's timeout was reached" in error
    assert time.monotonic() - started < DRIP_SECONDS
