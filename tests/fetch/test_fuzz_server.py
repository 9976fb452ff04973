"""Property-based fuzzing (hypothesis) of /data answers, where the server gets in: whatever the
API and its links answer (wrong shapes, broken chunk_info, HTML, invalid UTF-8, truncated
bodies, odd statuses and headers, huge numbers, deep nesting), a run ends with a final status
and a reason, never raises and never hangs, and the archive stays consistent. (tests/fuzzing.py:
replay or search.)"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from harvester._archive.archive import Archive
from harvester._archive.bookkeeping import get_cursor
from harvester._config.incremental import ForEach, Incremental
from harvester._config.jobs import JobSpec
from harvester._config.settings import Settings
from harvester._core.clock import ManualClock, parse_iso
from harvester._core.jsonpath import compile_path
from harvester._core.run_status import FINAL_STATUSES, RunStatus
from harvester._fetch.data_client import DataClient
from harvester._fetch.maintenance import MaintenancePause
from harvester._fetch.ratelimit import RateBudget
from harvester._service.runner import Runner, RunOutcome
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import WITH_FIXTURES, examples

# -- 2. /data answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One generated HTTP answer, or a transport failure."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None  # raise this httpx error instead of answering
    truncated: bool = False  # the body breaks off mid-stream
    gzip: str | None = None  # sent gzipped, as a stream: one of GZIP_FORMS

    def respond(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise getattr(httpx, self.error)("injected", request=request)
        headers = [(name.encode(), value.encode()) for name, value in self.headers]  # raw bytes
        if self.truncated:
            return httpx.Response(
                self.status, headers=headers, stream=_Truncated(self.body), request=request
            )
        if self.gzip is not None:
            headers.append((b"content-encoding", b"gzip"))
            stream = _Reads(gzipped(self.body, self.gzip))
            return httpx.Response(self.status, headers=headers, stream=stream, request=request)
        return httpx.Response(self.status, headers=headers, content=self.body, request=request)


# how a gzipped answer is sent: whole forms first (they decode to the body), broken ones after
GZIP_WHOLE = ("one", "members", "padded")
GZIP_FORMS = (*GZIP_WHOLE, "cut", "crc", "garbage")


def gzipped(body: bytes, form: str) -> bytes:
    if form == "members":  # three members, as `cat a.gz b.gz c.gz` makes
        third = len(body) // 3 + 1
        return b"".join(gzip.compress(body[i : i + third]) for i in range(0, len(body), third))
    whole = gzip.compress(body)
    if form == "padded":
        return whole + b"\0" * 7
    if form == "cut":
        return whole[: len(whole) - 1 - len(whole) // 3]
    if form == "crc":
        return whole[:-8] + bytes([whole[-8] ^ 1]) + whole[-7:]
    if form == "garbage":
        return whole + b"<html>"
    return whole


class _Reads(httpx.SyncByteStream):
    """A body in several small reads, as a socket gives it (not preloaded: the bounded GET
    decodes it, as it does a network answer)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for at in range(0, len(self.body), 97):
            yield self.body[at : at + 97]


class _Truncated(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[: len(self.body) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@dataclass
class Script:
    """What the server says: /data answers in order, link/chunk answers in order (the last
    one repeats), with a limit on requests so an endless loop fails fast instead of hanging."""

    data: list[Answer]
    links: list[Answer]
    requests: list[str] = field(default_factory=list)
    limit: int = 400

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        assert len(self.requests) <= self.limit, "too many requests: an unbounded retry loop?"
        is_data = request.url.path.startswith("/data/")
        answers = self.data if is_data else self.links
        seen = sum(1 for url in self.requests if ("/data/" in url) == is_data) - 1
        return answers[min(seen, len(answers) - 1)].respond(request)


class FuzzTransport(httpx.BaseTransport):
    """OAuth through the real simulator; /data and every link answered from a Script."""

    def __init__(self, sim: Simulator) -> None:
        self.real = SimulatorTransport(sim)
        self.script = Script([Answer()], [Answer()])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth2/"):
            return self.real.handle_request(request)
        return self.script.answer(request)


LINK = "https://s3.fuzz.example/bucket/"
URLS = st.one_of(
    st.sampled_from([LINK + "doc.json?X-Amz-Signature=abc", LINK + "a", "https://s3.fuzz/"]),
    st.sampled_from(["http://[::1", "https://exa mple.com/x", "https://\x00/", "ftp://x/y"]),
    st.sampled_from(["https://", "http://:99999/", "https://a.b/" + "x" * 3000, "/relative"]),
    # loopback however spelled, and links that are not http(s)
    st.sampled_from(["http://127.1/x", "https://0x7f000001/", "http://2130706433/", "http://0/"]),
    st.sampled_from(["file:///etc/passwd", "data:,{}", "gopher://s3.fuzz.example/", "HTTPS://x"]),
    st.text(max_size=10).map(lambda t: LINK + t),
)
HUGE: st.SearchStrategy[object] = st.sampled_from(
    [2**70, -(2**70), 10**30, 1e308, -1.0, 0, -5, 3.5, True, None, "7", []]
)
# Rows for cursor and fan-out jobs. Keys with a line break are left out of the drawn ones, and a
# lone surrogate is one text() never draws: both are pinned by the regressions at the end.
LINE_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
KEYS = st.text(st.characters(exclude_characters=LINE_BREAK_CHARS), max_size=3)
ROWS = st.lists(
    st.fixed_dictionaries(
        {"subsession_id": st.one_of(st.integers(-(2**70), 2**70), KEYS)},
        optional={
            "end_time": st.sampled_from(
                [
                    *["2026-01-01T00:00:00Z", "2025-12-31T12:00:00.5Z", "2026-01-01T05:00+05:00"],
                    *["garbage", "0001-01-01T00:00:00+05:00", "", "2026-13-01", "9999-12-31"],
                    *["9999-12-31T23:59:59-05:00", "2026-01-02T00:00:00Z"],
                ]
            )
            | st.integers()
        },
    ),
    max_size=4,
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@st.composite
def chunk_info(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(
        st.one_of(
            st.lists(
                st.sampled_from(["c0.json", "c1.json?Signature=x", "c 2", "é", ""]), max_size=5
            ),
            st.sampled_from([[], "c0.json", {"a": 1}, [1, 2], None, [None], 7]),
        )
    )
    info: dict[str, Any] = {
        "chunk_file_names": names,
        "base_download_url": draw(st.one_of(URLS, HUGE, st.just(LINK))),
    }
    count = len(names) if isinstance(names, list) else 0
    info["num_chunks"] = draw(st.one_of(st.just(count), HUGE))
    info["rows"] = draw(st.one_of(st.integers(0, 10), HUGE))
    for key in draw(st.sets(st.sampled_from(list(info)))):  # some keys missing
        del info[key]
    return info


@st.composite
def document(draw: st.DrawFn) -> Any:
    """A /data document in one of its shapes, or a broken one."""
    shape = draw(st.sampled_from(["direct", "rows", "link", "data_url", "top", "under", "junk"]))
    if shape == "direct":
        return draw(ANY_JSON)
    if shape == "rows":
        return draw(ROWS)
    if shape == "link":
        doc = {"link": draw(URLS), "expires": draw(st.one_of(st.text(max_size=5), HUGE))}
        return doc | draw(st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_LEAVES))
    if shape == "data_url":
        return {"type": "member_awards", "data": draw(ANY_JSON), "data_url": draw(URLS)}
    info = draw(st.one_of(chunk_info(), ANY_JSON))
    if shape == "top":
        return {"chunk_info": info, "success": True}
    if shape == "under":
        return {"type": "results", "data": {"success": True, "chunk_info": info}}
    return {"chunk_info": draw(st.sampled_from([[], "x", 5, True])), "data": draw(ANY_JSON)}


BODIES = st.one_of(
    document().map(lambda d: json.dumps(d).encode()),
    document().map(lambda d: json.dumps(d).encode()),
    ROWS.map(lambda r: json.dumps(r).encode()),
    st.sampled_from(
        [
            b"",
            b"<!DOCTYPE html><html><body>Bad Gateway</body></html>",
            b"   <html>oops</html>",
            b"\xff\xfe{",
            b'{"a": "\xc3\x28"}',
            b"\xef\xbb\xbf[]",
            b'{"link": "https://s3.fuzz.example/x"',
            b"[" * 100_000 + b"]" * 100_000,
            b"[" * 100_000,
            b"1e400",
            b"-1e400",
            str(2**70).encode(),
            b"9" * 5000,
            b"[" + b"9" * 5000 + b"]",
            b"NaN",
            b'{"error": "Site Maintenance"}',
            b'{"error": "Site Maintenance", "note": "\\ud800"}',
            b'{"message": "\\ud800\\n\\u0000 bad", "error": "x"}',
            b'"\\udfff"',
            b'{"chunk_info": {"chunk_file_names": ["a"], "base_download_url": "https://s/",'
            b' "rows": 1e400}}',
            b"cust_id,name\n1,\xc3\xa9\n",
            b"null",
        ]
    ),
    st.binary(max_size=30),
    document().map(lambda d: json.dumps(d).encode()[: len(json.dumps(d)) // 2]),
)
RATE_VALUES = st.sampled_from(
    [
        *[
            "",
            "abc",
            "-1",
            "0",
            "1",
            "2",
            "240",
            "3.5",
            "1e3",
            " 7 ",
            "\u0661\u0662",
            "99999999999",
        ],
        *[str(2**70), "1e300", "-1e300", "nan", "inf", "-inf", "1e400"],
    ]
)
DATES_HEADER = st.sampled_from(
    [
        *["Thu, 01 Jan 2026 00:00:00 GMT", "Thu, 01 Jan 2026 00:05:00 GMT", "yesterday", ""],
        *["Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 2026"],
        *["Thu, 01 Jan 2026 00:00:00 +9999", "Thu, 99 Jan 2026 00:00:00 GMT", "1767225600"],
    ]
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    result: dict[str, str] = {}
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/html",
                "text/csv",
                "application/csv",
                "",
                "text/plain",
                "application/json; charset=latin-1",
                "application/json; charset=bogus",
                None,
            ]
        )
    )
    if content_type is not None:
        result["content-type"] = content_type
    if draw(st.booleans()):
        for name in ("limit", "remaining", "reset"):
            if draw(st.integers(0, 5)):
                result[f"x-ratelimit-{name}"] = draw(RATE_VALUES)
        if "x-ratelimit-reset" in result and draw(st.booleans()):
            # relative to the ManualClock's start (2026-01-01): just past, soon, far
            offset = draw(st.sampled_from([-10, 0, 5, 30, 59, 3600, 10**6]))
            result["x-ratelimit-reset"] = str(1_767_225_600 + offset)
        if draw(st.booleans()):  # the server's clock, to move the reset onto ours
            result["date"] = draw(DATES_HEADER)
    if draw(st.integers(0, 4)) == 0:
        result["retry-after"] = draw(st.sampled_from(["5", "-1", "abc", "1e400"]))
    return tuple(result.items())


STATUSES = st.one_of(
    st.just(200),
    st.just(200),
    st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 504]),
    st.integers(100, 599),
)
JSON_HEADERS = st.just((("content-type", "application/json"),)) | headers()
ANSWERS = st.one_of(
    # a well-formed answer carrying a (possibly broken) document: the usual case
    st.builds(Answer, body=document().map(lambda d: json.dumps(d).encode()), headers=JSON_HEADERS),
    st.builds(Answer, body=document().map(lambda d: json.dumps(d).encode()), headers=JSON_HEADERS),
    st.builds(Answer, status=STATUSES, body=BODIES, headers=headers()),
    st.builds(Answer, status=STATUSES, body=BODIES, headers=headers()),
    st.builds(Answer, body=BODIES, headers=headers(), truncated=st.just(True)),
    st.builds(
        Answer,
        status=STATUSES,
        body=BODIES,
        headers=JSON_HEADERS,
        gzip=st.sampled_from(GZIP_FORMS),
    ),
    st.builds(
        Answer,
        error=st.sampled_from(
            ["ReadTimeout", "ConnectError", "RemoteProtocolError", "ReadError", "ConnectTimeout"]
        ),
    ),
)
CHUNK_ROWS = st.builds(Answer, body=ROWS.map(lambda r: json.dumps(r).encode()))


@dataclass
class Harness:
    """The fixtures' runtime with a fresh rate budget, maintenance pause and client per example
    (so no example inherits another's waits), and a watchdog that stops a run taking too long."""

    runtime: Runtime
    transport: FuzzTransport
    clock: ManualClock

    def run(self, spec: JobSpec, script: Script) -> RunOutcome:
        self.transport.script = script
        clock = self.clock
        rt = self.runtime
        budget = RateBudget(clock, rng=random.Random(0))
        pause = MaintenancePause(clock)
        client = DataClient(
            rt.settings, rt.http, rt.session, budget, pause, clock, rng=random.Random(0)
        )
        runner = Runner(client, Archive(rt.engine, clock), clock, pause)
        stop = threading.Event()
        watchdog = threading.Timer(20.0, stop.set)
        watchdog.start()
        started = clock.now()
        try:
            outcome = runner.run(spec, stop=stop)
        finally:
            watchdog.cancel()
            client.close()
        assert not stop.is_set(), f"the run did not end within 20 s: {outcome}"
        # every wait is capped by the job's timeout: the ManualClock shows how long it waited
        assert clock.now() - started <= (spec.timeout or 0) + 1, outcome
        return outcome


@pytest.fixture
def harness(settings: Settings, sim: Simulator, clock: ManualClock) -> Iterator[Harness]:
    transport = FuzzTransport(sim)
    # the fuzzed documents link to their own download host
    allowed = settings.with_overrides(download_hosts=("s3.fuzz.example",))
    with open_runtime(allowed, transport=transport, clock=clock) as rt:
        rt.session.login()
        yield Harness(rt, transport, clock)


def rows_of(rt: Runtime, sql: str, **params: object) -> list[tuple[Any, ...]]:
    with rt.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def check_run(harness: Harness, spec: JobSpec, script: Script) -> str:
    """The property: a final status and, unless success, a reason; no crash; consistent data."""
    outcome = harness.run(spec, script)
    status, error, run_id = outcome.status, outcome.error, outcome.run_id
    assert status in FINAL_STATUSES, status
    assert status != RunStatus.INTERRUPTED, error  # nothing stopped it: only the watchdog would
    if status == RunStatus.SUCCESS:
        assert error is None
    else:
        assert error, status
        # a bug inside harvester is also turned into "failed", so look for it explicitly
        assert not error.startswith("unexpected "), error
        assert error.splitlines() == [error], error
    rt = harness.runtime
    parts = rows_of(rt, "SELECT part FROM result_parts WHERE run_id = :r AND part = 0", r=run_id)
    if status == RunStatus.SUCCESS:  # one result per request: one, or one per fan-out item
        expected = outcome.counts.items_ok if spec.for_each else 1
        assert len(parts) == outcome.counts.results == expected, (parts, script.requests)
    run_rows = rows_of(rt, "SELECT status, error FROM runs WHERE id = :r", r=run_id)
    assert run_rows == [(status, run_rows[0][1])] and (run_rows[0][1] is None) == (error is None)
    assert rows_of(rt, "PRAGMA foreign_key_check") == []
    return status


PLAIN = JobSpec(name="fuzz", endpoint="member/info", timeout=3600.0)
CURSOR = JobSpec(
    name="fuzz_cursor",
    endpoint="results/search_series",
    timeout=3600.0,
    incremental=Incremental(
        "end_time", "finish_range_begin", "finish_range_end", "-1d", 90 * 86400.0, "subsession_id"
    ),
)
CURSOR_JOBS = itertools.count()
FAN_OUT = JobSpec(  # one request per subsession_id in the plain job's results, 3 at most a run
    name="fuzz_fan_out",
    endpoint="results/get",
    timeout=3600.0,
    for_each=ForEach(
        "fuzz", "$[*].subsession_id", tuple(compile_path("$[*].subsession_id")), "subsession_id", 3
    ),
)


JSON = (("content-type", "application/json"),)


def html(status: int) -> Answer:
    return Answer(status, b"<!DOCTYPE html><html></html>", (("content-type", "text/html"),))


def js(value: Any, status: int = 200, *more: tuple[str, str]) -> Answer:
    return Answer(status, json.dumps(value).encode(), (("content-type", "application/json"), *more))


def chunked(names: Any, base: Any = LINK, rows: Any = 2, **extra: Any) -> Answer:
    info = {"chunk_file_names": names, "base_download_url": base, "rows": rows, **extra}
    return js({"type": "x", "data": {"success": True, "chunk_info": info}})


@settings(WITH_FIXTURES, max_examples=examples(600))
@given(
    data=st.lists(ANSWERS, min_size=1, max_size=5),
    links=st.lists(st.one_of(ANSWERS, CHUNK_ROWS), min_size=1, max_size=6),
    kind=st.sampled_from(["plain", "cursor", "fan_out"]),
)
# regressions: each was an "unexpected" crash, or made Runner.run itself raise
@example(data=[js({"link": "http://[::1", "expires": "x"})], links=[Answer()], kind="plain")
@example(data=[chunked(["\x00"])], links=[js([{}])], kind="plain")  # InvalidURL
@example(data=[js({"data_url": "https://"})], links=[js([])], kind="plain")  # ValueError
@example(data=[chunked(["\ud800"])], links=[js([{}])], kind="plain")  # UnicodeEncodeError
@example(data=[js({"link": LINK, "expires": "\ud800"})], links=[js({})], kind="plain")
@example(data=[Answer(200, b"[" * 100_000)], links=[Answer()], kind="plain")  # RecursionError
@example(data=[Answer(200, b"[" * 50_000 + b"]" * 50_000)], links=[Answer()], kind="plain")
@example(data=[Answer(503, b"[" * 50_000 + b"]" * 50_000)], links=[Answer()], kind="plain")
@example(data=[Answer(400, b'{"message": "\\ud800"}')], links=[Answer()], kind="plain")
@example(data=[Answer(403, b'{"error": "a\\nb\\u0000"}')], links=[Answer()], kind="plain")
@example(
    data=[js({"data_url": LINK + "x"}, 200, ("x-ratelimit-remaining", str(2**70)))],
    links=[js([])],
    kind="plain",
)
@example(data=[Answer(200, b"[1]", JSON, gzip="crc")], links=[Answer()], kind="plain")  # Error -3
@example(data=[js({"link": LINK})], links=[Answer(200, b"[]", gzip="cut")], kind="plain")
@example(  # a header that is not ASCII on a streamed answer: the response could not be rebuilt
    data=[Answer(200, b"[]", (*JSON, ("x-ratelimit-limit", "\u0661\u0662")), gzip="one")],
    links=[Answer()],
    kind="plain",
)
# and the ordinary shapes, so the properties are seen to hold on success too
@example(data=[chunked(["a b", "c"])], links=[js([{}])], kind="plain")
@example(data=[chunked(["a", "b"], rows=2)], links=[js([{"a": 1}])], kind="plain")
@example(
    data=[html(502), html(504), js({"error": "Site Maintenance"}, 503)], links=[], kind="cursor"
)
@example(
    data=[js([{"subsession_id": 7}, {"subsession_id": "x"}]), js({})], links=[], kind="fan_out"
)
@pytest.mark.slow
def test_any_server_answer_ends_the_run_cleanly(
    harness: Harness, data: list[Answer], links: list[Answer], kind: str
) -> None:
    script = Script(data, links or [Answer()])
    if kind == "fan_out":  # the parent's run takes the first answers, its items the rest
        event(f"fan-out parent: {check_run(harness, PLAIN, script)}")
        spec = FAN_OUT
    elif kind == "cursor":  # a job of its own each time: no cursor left by another example
        spec = replace(CURSOR, name=f"fuzz_cursor_{next(CURSOR_JOBS)}")
    else:
        spec = PLAIN
    event(f"{kind}: {check_run(harness, spec, script)}")  # (--hypothesis-show-statistics)


@settings(WITH_FIXTURES, max_examples=examples(100))
@given(
    value=ANY_JSON,
    form=st.sampled_from([None, *GZIP_FORMS]),
    bom=st.booleans(),
    via=st.sampled_from(["direct", "link"]),
)
@example(value={"a": 1}, form=None, bom=True, via="direct")
@pytest.mark.slow
def test_a_body_is_stored_as_its_text_or_not_at_all(
    harness: Harness, value: Any, form: str | None, bom: bool, via: str
) -> None:
    """Whatever the document: plain, one gzip member or several (zero padding after), with a
    byte-order mark or not, it is stored as the text it encodes, without the mark; cut short,
    a failed CRC or bytes after the last member fail the run, and nothing is stored."""
    text = json.dumps(value)
    answer = Answer(200, b"\xef\xbb\xbf" * bom + text.encode(), JSON, gzip=form)
    if via == "direct":
        script = Script([answer], [Answer()])
    else:
        script = Script([js({"link": LINK + "d.json", "expires": "2026"})], [answer])
    status = check_run(harness, PLAIN, script)
    if form is None or form in GZIP_WHOLE:
        assert status == "success", script.requests
        stored = rows_of(
            harness.runtime,
            "SELECT d.body FROM runs r JOIN result_parts p ON p.run_id = r.id "
            "JOIN documents d ON d.sha256 = p.sha256 WHERE r.id = (SELECT max(id) FROM runs)",
        )
        assert stored == [(text,)]
    else:
        assert status == "failed", script.requests


# A few well-formed answers must still succeed (the harness itself is sound).
@pytest.mark.parametrize(
    ("data", "links", "parts"),
    [
        ([js({"a": 1})], [Answer()], 1),
        ([js({"link": LINK + "d?X-Amz-Signature=s", "expires": "2026"})], [js({"b": 2})], 1),
        ([chunked(["c0", "c1?Signature=s"], rows=2, num_chunks=2)], [js([{"a": 1}])], 3),
        ([html(502), Answer(error="ReadTimeout"), js([1, 2])], [Answer()], 1),
    ],
)
def test_well_formed_answers_succeed(
    harness: Harness, data: list[Answer], links: list[Answer], parts: int
) -> None:
    script = Script(data, links)
    assert check_run(harness, PLAIN, script) == "success", script.requests
    stored = rows_of(harness.runtime, "SELECT count(*) FROM result_parts WHERE job = 'fuzz'")
    assert stored == [(parts,)]


# -- found by the fuzzing above (rate budget, cursor, row keys, fan-out values) --------------------
# Each was fixed in the module it crashed; these pin the fixes: keep them.


@pytest.mark.parametrize("reset", ["nan", "inf", "1e400"])
def test_a_non_finite_rate_limit_reset_is_ignored(harness: Harness, reset: str) -> None:
    """Was `unexpected ValueError/OverflowError` from math.ceil in ratelimit.parse_rate_headers."""
    rate = (("x-ratelimit-limit", "240"), ("x-ratelimit-remaining", "200"))
    answer = js({"a": 1}, 200, *rate, ("x-ratelimit-reset", reset))
    assert check_run(harness, PLAIN, Script([answer], [Answer()])) == "success"


def test_a_row_ending_past_year_9999(harness: Harness) -> None:
    """Was `unexpected ValueError: year 10000 is out of range`: the cursor (incremental.advance)
    became that end_time, which iso_seconds cannot write."""
    rows = [{"subsession_id": 1, "end_time": "9999-12-31T23:59:59-05:00"}]
    assert check_run(harness, CURSOR, Script([js(rows)], [Answer()])) == "success"


def test_a_future_end_time_does_not_move_the_cursor_past_now(harness: Harness) -> None:
    """Was: the cursor moved to 9999-12-31 for good, and every later window asked for races
    that cannot exist yet."""
    rows = [{"subsession_id": 1, "end_time": "9999-12-31"}]
    assert check_run(harness, CURSOR, Script([js(rows)], [Answer()])) == "success"
    stored = get_cursor(harness.runtime.engine, CURSOR.name)
    assert stored is not None and parse_iso(stored) <= harness.clock.now(), stored


# Found by the fuzzing, fixed since: pinned as regressions.


def test_regression_a_rate_limit_of_one_does_not_wait_forever(harness: Harness) -> None:
    reset = str(int(harness.clock.now()) + 10)
    rate = (("x-ratelimit-limit", "1"), ("x-ratelimit-remaining", "1"))
    script = Script([js({}, 500, *rate, ("x-ratelimit-reset", reset)), js({"a": 1})], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"


def test_regression_a_row_key_with_a_lone_surrogate(harness: Harness) -> None:
    body = Answer(200, b'[{"subsession_id": "\\ud800"}]', JSON)
    assert check_run(harness, CURSOR, Script([body], [Answer()])) == "success"


def test_regression_a_fan_out_value_with_a_lone_surrogate(harness: Harness) -> None:
    body = Answer(200, b'[{"subsession_id": "\\ud800"}]', JSON)
    script = Script([body, js({})], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"
    assert check_run(harness, FAN_OUT, script) == "success"


def test_regression_a_fan_out_value_with_a_line_break(harness: Harness) -> None:
    script = Script([js([{"subsession_id": "a\nb"}]), html(502)], [Answer()])
    assert check_run(harness, PLAIN, script) == "success"
    assert check_run(harness, FAN_OUT, script) == "failed"
