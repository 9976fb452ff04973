"""Any /data endpoint into the archive, over a real loopback socket: every shape, chunks,
expired links, 401, 429, maintenance, faults, dedupe, and byte-for-byte stored bodies."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from harvester._core.clock import ManualClock, iso_seconds
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import RunningSimulator, Simulator
from tests.helpers import RecordingTransport, job, make_settings

Forward = Callable[[httpx.Request], httpx.Response]
Script = Callable[[httpx.Request, Forward], httpx.Response]


class ScriptedTransport(RecordingTransport):
    """Real HTTP to the simulator, recorded, with an optional script in front: it sees each
    request with `forward` (the way to the simulator) and may answer itself, move the clock
    first, or look at what the simulator answered."""

    def __init__(self) -> None:
        super().__init__()
        self.script: Script | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.script is None:
            return super().handle_request(request)
        return self.script(request, super().handle_request)


@pytest.fixture
def recorder() -> ScriptedTransport:
    return ScriptedTransport()


@pytest.fixture
def net_runtime(
    tmp_path: Path,
    loopback: RunningSimulator,
    clock: ManualClock,
    recorder: ScriptedTransport,
    backend: str,
) -> Iterator[Runtime]:
    """The archive tests run on both backends: SQLite and PostgreSQL."""
    settings = make_settings(tmp_path, loopback.url, database_url=backend)
    with open_runtime(settings, transport=recorder, clock=clock) as rt:
        yield rt


def rows(rt: Runtime, sql: str, **params: object) -> list[dict[str, object]]:
    with rt.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def week_ago(clock: ManualClock) -> str:
    return iso_seconds(clock.now() - 7 * 86400)


def a_subsession(sim: Simulator, clock: ManualClock) -> int:
    return sim.world.subsessions_ending_between(clock.now() - 86400, clock.now())[0]


@pytest.mark.parametrize(
    ("endpoint", "params", "content_type"),
    [
        ("constants/categories", {}, "application/json"),  # A: direct
        ("member/info", {}, "application/json"),  # B: link
        ("member/awards", {}, "application/json"),  # C: data_url
        ("driver_stats_by_category/road", {}, "text/csv"),  # link to CSV
    ],
)
def test_unchunked_shapes_store_the_resolved_document(
    net_runtime: Runtime, endpoint: str, params: dict[str, str], content_type: str
) -> None:
    outcome = net_runtime.runner.run(job("j", endpoint, **params))
    assert outcome.status == "success", outcome.error
    stored = rows(net_runtime, "SELECT * FROM results WHERE run_id = :r", r=outcome.run_id)
    assert [r["part"] for r in stored] == [0]
    assert stored[0]["content_type"] == content_type
    body = str(stored[0]["body"])
    if content_type == "application/json":
        document = json.loads(body)
        assert not (isinstance(document, dict) and {"link", "data_url"} & document.keys())


def test_data_url_keeps_its_envelope_without_the_signature(net_runtime: Runtime) -> None:
    outcome = net_runtime.runner.run(job("awards", "member/awards"))
    (stored,) = rows(
        net_runtime, "SELECT envelope, url FROM results WHERE run_id = :r", r=outcome.run_id
    )
    envelope = json.loads(str(stored["envelope"]))
    assert envelope["type"] == "member_awards"
    assert "X-Amz" not in str(stored["envelope"])
    assert "?" not in str(stored["url"])


def test_link_expiry_is_stored_but_never_the_signed_query(net_runtime: Runtime) -> None:
    outcome = net_runtime.runner.run(job("info", "member/info"))
    (stored,) = rows(
        net_runtime, "SELECT url, link_expires FROM results WHERE run_id = :r", r=outcome.run_id
    )
    assert str(stored["link_expires"]).endswith("Z")
    assert "?" not in str(stored["url"])
    everything = " ".join(str(r["body"]) for r in rows(net_runtime, "SELECT body FROM documents"))
    assert "X-Amz-Signature" not in everything


def test_direct_chunk_info_with_several_chunks(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.chunk_size = 50
    outcome = net_runtime.runner.run(
        job("search", "results/search_series", finish_range_begin=week_ago(clock))
    )
    assert outcome.status == "success", outcome.error
    parts = rows(
        net_runtime,
        "SELECT part, rows, body FROM results WHERE run_id = :r ORDER BY part",
        r=outcome.run_id,
    )
    header = json.loads(str(parts[0]["body"]))
    info = header["data"]["chunk_info"]
    assert len(parts) == info["num_chunks"] + 1 > 3
    assert sum(int(str(p["rows"])) for p in parts[1:]) == info["rows"]
    # the stored chunk_info keeps the file names, not their signatures
    assert all("?" not in name for name in info["chunk_file_names"])
    ids = [r["subsession_id"] for p in parts[1:] for r in json.loads(str(p["body"]))]
    assert len(ids) == info["rows"]
    assert set(ids) == set(
        sim.world.subsessions_ending_between(clock.now() - 7 * 86400, clock.now())
    )


def test_one_chunk_and_no_chunks(net_runtime: Runtime, clock: ManualClock) -> None:
    one = net_runtime.runner.run(
        job("day", "results/search_series", finish_range_begin=iso_seconds(clock.now() - 86400))
    )
    none = net_runtime.runner.run(
        job("none", "results/search_series", finish_range_begin=iso_seconds(clock.now()))
    )
    assert one.status == none.status == "success"
    assert len(rows(net_runtime, "SELECT id FROM results WHERE run_id = :r", r=one.run_id)) == 2
    (header,) = rows(net_runtime, "SELECT body FROM results WHERE run_id = :r", r=none.run_id)
    assert json.loads(str(header["body"]))["data"]["chunk_info"]["num_chunks"] == 0


def test_link_to_chunk_info(net_runtime: Runtime, sim: Simulator, clock: ManualClock) -> None:
    subsession = a_subsession(sim, clock)
    sim.config.chunk_size = 20
    outcome = net_runtime.runner.run(
        job("log", "results/event_log", subsession_id=subsession, simsession_number=0)
    )
    assert outcome.status == "success", outcome.error
    parts = rows(
        net_runtime,
        "SELECT part, body FROM results WHERE run_id = :r ORDER BY part",
        r=outcome.run_id,
    )
    header = json.loads(str(parts[0]["body"]))
    assert header["chunk_info"]["num_chunks"] == len(parts) - 1 >= 2
    expanded = rows(
        net_runtime, "SELECT count(*) AS n FROM result_rows WHERE run_id = :r", r=outcome.run_id
    )
    assert expanded[0]["n"] == header["chunk_info"]["rows"]


def test_missing_chunk_info_is_a_complete_result(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    subsession = a_subsession(sim, clock)
    outcome = net_runtime.runner.run(
        job(
            "laps", "results/lap_data", subsession_id=subsession, simsession_number=0, cust_id=1
        )  # nobody: no laps, chunk_info null
    )
    assert outcome.status == "success", outcome.error
    parts = rows(net_runtime, "SELECT part, body FROM results WHERE run_id = :r", r=outcome.run_id)
    assert [p["part"] for p in parts] == [0]
    assert json.loads(str(parts[0]["body"]))["chunk_info"] is None


def test_stored_bodies_equal_what_the_server_sent_byte_for_byte(
    net_runtime: Runtime, recorder: ScriptedTransport, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.chunk_size = 100
    for spec in (
        job("info", "member/info"),
        job("cats", "constants/categories"),
        job("search", "results/search_series", finish_range_begin=week_ago(clock)),
    ):
        assert net_runtime.runner.run(spec).ok
    received = {
        url.split("?")[0]: body
        for url, status, body in recorder.bodies
        if status == 200 and "/oauth2/" not in url
    }
    stored = rows(net_runtime, "SELECT url, body, part, endpoint FROM results")
    checked = 0
    for row in stored:
        if row["url"]:
            assert str(row["body"]).encode("utf-8") == received[str(row["url"])]
            checked += 1
    assert checked >= 5
    # a direct answer: equal to what /data sent, less the chunk URLs' signatures
    from harvester._core.redact import strip_signatures

    (direct,) = [r for r in stored if r["endpoint"] == "results/search_series" and r["part"] == 0]
    sent = next(b for u, s, b in recorder.bodies if "/data/results/search_series" in u)
    assert str(direct["body"]) == strip_signatures(sent.decode("utf-8"))


def test_the_same_payload_twice_is_stored_once_with_two_results(net_runtime: Runtime) -> None:
    first = net_runtime.runner.run(job("info", "member/info"))
    second = net_runtime.runner.run(job("info", "member/info"))
    assert (first.counts.documents_new, second.counts.documents_new) == (1, 0)
    assert second.counts.documents_dup == 1
    results = rows(net_runtime, "SELECT sha256 FROM results WHERE job = 'info'")
    assert len(results) == 2 and results[0]["sha256"] == results[1]["sha256"]
    assert rows(net_runtime, "SELECT count(*) AS n FROM documents")[0]["n"] == 1
    latest = rows(net_runtime, "SELECT run_id FROM latest_results WHERE job = 'info'")
    assert latest == [{"run_id": second.run_id}]


def test_an_expired_link_is_asked_for_again_once(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock, recorder: ScriptedTransport
) -> None:
    expired_once: list[bool] = []

    def late(request: httpx.Request, forward: Forward) -> httpx.Response:
        if "/s3/" in request.url.path and not expired_once:
            expired_once.append(True)
            clock.advance(sim.config.link_lifetime + 1)  # the link expires before it is used
        return forward(request)

    recorder.script = late
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "success", outcome.error
    assert sim.state()["endpoints"]["member/info"] == 2


def test_a_link_that_keeps_expiring_fails_the_run(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock, recorder: ScriptedTransport
) -> None:
    def always_late(request: httpx.Request, forward: Forward) -> httpx.Response:
        if "/s3/" in request.url.path:
            clock.advance(sim.config.link_lifetime + 1)
        return forward(request)

    recorder.script = always_late
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "failed"
    assert "expired" in str(outcome.error)
    assert rows(net_runtime, "SELECT count(*) AS n FROM result_parts")[0]["n"] == 0


def test_links_are_fetched_without_the_authorization_header(
    net_runtime: Runtime, recorder: ScriptedTransport
) -> None:
    assert net_runtime.runner.run(job("awards", "member/awards")).ok
    for request in recorder.requests:
        if "/s3/" in request.url.path:
            assert "authorization" not in request.headers
        if request.url.path.startswith("/data/"):
            assert request.headers["authorization"].startswith("Bearer ")


def test_a_401_in_the_middle_of_a_run_refreshes_once_and_continues(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    assert net_runtime.runner.run(job("info", "member/info")).ok
    clock.advance(120)
    sim.control({"expire_access_tokens": True})  # harvester still believes its token valid
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "success", outcome.error
    assert sim.state()["refreshes"] == 1
    assert sim.state()["password_grants"] == 1


def test_an_injected_429_waits_for_the_reset_and_succeeds(
    net_runtime: Runtime, clock: ManualClock, recorder: ScriptedTransport
) -> None:
    sent: list[float] = []

    def limited_once(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path.startswith("/data/") and not sent:
            sent.append(clock.now())
            reset = int(clock.now()) + 30
            return httpx.Response(
                429,
                text="Rate limit exceeded",
                request=request,
                headers={
                    "x-ratelimit-limit": "240",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(reset),
                },
            )
        return forward(request)

    recorder.script = limited_once
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "success", outcome.error
    assert clock.now() >= sent[0] + 30  # it waited for the window's reset
    assert net_runtime.budget.received_429 == 1


def test_429s_are_retried_a_bounded_number_of_times(
    net_runtime: Runtime, recorder: ScriptedTransport
) -> None:
    def always_limited(request: httpx.Request, forward: Forward) -> httpx.Response:
        if not request.url.path.startswith("/data/"):
            return forward(request)
        return httpx.Response(429, text="Rate limit exceeded", request=request)

    recorder.script = always_limited
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "failed"
    assert "rate limited" in str(outcome.error)


def test_maintenance_ends_the_run_pauses_requests_then_resumes(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.maintenance = True
    first = net_runtime.runner.run(job("info", "member/info"))
    assert first.status == "maintenance"
    requests = sim.state()["data"]["requests"]
    skipped = net_runtime.runner.run(job("cats", "constants/categories"))
    assert skipped.status == "skipped"
    assert sim.state()["data"]["requests"] == requests  # the API was not touched
    clock.advance(61)
    probe = net_runtime.runner.run(job("info", "member/info"))
    assert probe.status == "maintenance"  # still down: the back-off doubles
    clock.advance(61)
    assert net_runtime.runner.run(job("info", "member/info")).status == "skipped"
    sim.config.maintenance = False
    clock.advance(120)
    assert net_runtime.runner.run(job("info", "member/info")).status == "success"
    assert not net_runtime.pause.holding()


def test_a_probe_that_fails_another_way_does_not_keep_the_pause_forever(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    net_runtime.session.login()
    sim.config.maintenance = True
    assert net_runtime.runner.run(job("info", "member/info")).status == "maintenance"
    sim.config.maintenance = False
    clock.advance(61)
    sim.control({"fail_next": ["504"] * 4})  # the probe meets a CloudFront error, not a 503
    assert net_runtime.runner.run(job("info", "member/info")).status == "failed"
    assert net_runtime.runner.run(job("info", "member/info")).status == "success"
    assert not net_runtime.pause.holding()


@pytest.mark.parametrize("kind", ["500", "502", "504", "reset", "truncate"])
def test_each_fault_kind_is_retried_then_succeeds(
    net_runtime: Runtime, sim: Simulator, kind: str
) -> None:
    net_runtime.session.login()
    sim.control({"fail_next": [kind, kind]})
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "success", outcome.error
    assert sim.faults_injected[kind] == 2


@pytest.mark.parametrize("kind", ["500", "502", "504", "reset", "truncate"])
def test_each_fault_kind_fails_the_run_with_its_cause_after_the_retries(
    net_runtime: Runtime, sim: Simulator, kind: str
) -> None:
    net_runtime.session.login()
    sim.control({"fail_next": [kind] * 8})
    outcome = net_runtime.runner.run(job("cats", "constants/categories"))
    assert outcome.status == "failed"
    cause = {
        "500": "HTTP 500",
        "502": "HTML page",
        "504": "HTML page",
        "reset": "network error",
        "truncate": "truncated",
    }[kind]
    assert cause in str(outcome.error)
    assert rows(net_runtime, "SELECT count(*) AS n FROM result_parts")[0]["n"] == 0


def test_a_failed_chunk_fails_the_run_naming_the_chunk_and_stores_no_result(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock, recorder: ScriptedTransport
) -> None:
    sim.config.chunk_size = 50
    broken: list[str] = []
    in_flight: set[str] = set()  # requests still going (each chunk has its own path)

    def third_chunk_broken(request: httpx.Request, forward: Forward) -> httpx.Response:
        if broken and request.url.path == broken[0]:
            return httpx.Response(500, text="boom", request=request)
        in_flight.add(request.url.path)
        try:
            response = forward(request)
        finally:
            in_flight.discard(request.url.path)
        if request.url.path == "/data/results/search_series":
            info = response.json()["data"]["chunk_info"]
            third = info["base_download_url"] + info["chunk_file_names"][2]
            broken.append(httpx.URL(third).path)
        return response

    recorder.script = third_chunk_broken
    outcome = net_runtime.runner.run(
        job("search", "results/search_series", finish_range_begin=week_ago(clock))
    )
    assert outcome.status == "failed"
    assert str(outcome.error).startswith("chunk 3 of ")
    assert "HTTP 500" in str(outcome.error)
    assert not in_flight  # the other chunks' downloads ended with the run
    assert rows(net_runtime, "SELECT count(*) AS n FROM result_parts")[0]["n"] == 0


@pytest.mark.parametrize(
    ("endpoint", "params", "status"),
    [
        ("results/get", {"subsession_id": "1"}, "not_found"),
        ("nothing/here", {}, "not_found"),
        ("results/search_series", {}, "failed"),  # 400: a required parameter is missing
    ],
)
def test_4xx_become_outcomes_without_retries(
    net_runtime: Runtime, sim: Simulator, endpoint: str, params: dict[str, str], status: str
) -> None:
    outcome = net_runtime.runner.run(job("j", endpoint, **params))
    assert outcome.status == status
    assert sim.state()["data"]["requests"] == 1
    if status == "failed":
        assert "Bad Request" in str(outcome.error)


def test_a_private_session_is_forbidden(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    from harvester.simulator.world import WorldError

    def is_private(subsession: int) -> bool:
        try:
            sim.world.answer("results/get", {"subsession_id": str(subsession)}, clock.now())
        except WorldError as exc:
            return exc.status == 403
        return False

    hosted = sim.world.subsessions_ending_between(clock.now() - 30 * 86400, clock.now(), True)
    private = next(s for s in hosted if is_private(s))
    outcome = net_runtime.runner.run(job("p", "results/get", subsession_id=private))
    assert outcome.status == "forbidden"


def test_a_body_with_a_nul_character_fails_the_run_on_both_backends(
    net_runtime: Runtime, recorder: ScriptedTransport
) -> None:
    """PostgreSQL's text cannot hold U+0000 (SQLite can): a body carrying one is refused before
    it is stored, with the same clear outcome on both backends."""

    def nul_in_csv(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = forward(request)
        if response.headers.get("content-type", "").startswith("text/csv"):
            body = response.content.replace(b"\n", b"\x00\n", 1)
            return httpx.Response(200, headers=response.headers, content=body, request=request)
        return response

    recorder.script = nul_in_csv
    outcome = net_runtime.runner.run(job("road", "driver_stats_by_category/road"))
    assert outcome.status == "failed", outcome.error
    assert "a NUL character (U+0000)" in str(outcome.error)
    assert rows(net_runtime, "SELECT count(*) AS n FROM result_parts")[0]["n"] == 0
    assert rows(net_runtime, "SELECT count(*) AS n FROM documents")[0]["n"] == 0


def test_a_json_body_with_an_escaped_nul_is_stored_as_received(
    net_runtime: Runtime, recorder: ScriptedTransport
) -> None:
    r"""`"\u0000"` in JSON is six characters of text, not a NUL: it stores on both backends, and
    the body is kept exactly as received."""
    sent: list[bytes] = []

    def escaped_nul(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = forward(request)
        if request.url.path.startswith("/data/") or response.status_code != 200:
            return response
        document = response.json()
        if isinstance(document, dict) and "display_name" in document:
            document["display_name"] = "Ann\x00Bee"
            body = json.dumps(document).encode()
            assert b"\\u0000" in body and b"\x00" not in body
            sent.append(body)
            return httpx.Response(200, headers=response.headers, content=body, request=request)
        return response

    recorder.script = escaped_nul
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "success", outcome.error
    assert sent
    (stored,) = rows(net_runtime, "SELECT body FROM results WHERE run_id = :r", r=outcome.run_id)
    assert str(stored["body"]).encode("utf-8") == sent[0]
    # the derived table: PostgreSQL's text cannot hold a NUL, so on both backends alike the
    # member is kept with the NUL escaped as JSON writes it, and tables_skipped names the column
    members = rows(net_runtime, "SELECT display_name FROM members")
    skipped = rows(net_runtime, "SELECT reason FROM tables_skipped")
    assert members == [{"display_name": "Ann\\u0000Bee"}]
    assert [row["reason"] for row in skipped] == [
        "member/info: members.display_name: 1 value(s) kept escaped"
    ]
