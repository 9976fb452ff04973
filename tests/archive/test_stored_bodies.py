"""What the archive keeps of a body: valid JSON (or the CSV as received) without the signatures
of its URL values, and nothing of a body that is not strict JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.redact import cut_signed_query, strip_signatures
from harvester._service.runtime import open_runtime
from harvester.simulator import Simulator
from tests.fetch.test_fuzz_server import (
    JSON,
    LINK,
    PLAIN,
    Answer,
    FuzzTransport,
    Harness,
    Script,
    check_run,
    js,
)
from tests.fetch.test_fuzz_server import rows_of as query

FREE_TEXT = 'Join us "https://x.io/a?Signature=1" now'


@pytest.fixture
def store(settings: Settings, sim: Simulator, clock: ManualClock) -> Iterator[Harness]:
    transport = FuzzTransport(sim)
    with open_runtime(settings, transport=transport, clock=clock) as rt:
        rt.session.login()
        yield Harness(rt, transport, clock)


def stored_bodies(store: Harness) -> list[str]:
    return [str(body) for (body,) in query(store.runtime, "SELECT body FROM results ORDER BY id")]


def test_member_text_containing_a_signed_url_is_kept_as_received() -> None:
    received = json.dumps({"bio": FREE_TEXT, "note": "see https://x.io/b?Signature=2 there"})
    assert strip_signatures(received) == received


def test_only_whole_url_values_lose_their_signature_and_the_json_stays_valid() -> None:
    received = (
        '{"bio": "Join us \\"https://x.io/a?Signature=1\\" now", '
        '"link": "https://s3.x/a.json?X-Amz-Signature=abc&X-Amz-Credential=c", '
        '"X-Amz-Signature": "the key is not a URL", "n": [1, 2.5, null]}'
    )
    stored = strip_signatures(received)
    assert json.loads(stored) == {
        "bio": FREE_TEXT,
        "link": "https://s3.x/a.json",
        "X-Amz-Signature": "the key is not a URL",
        "n": [1, 2.5, None],
    }


def test_an_escaped_question_mark_does_not_hide_a_signature() -> None:
    received = '{"chunk": "a.json\\u003fX-Amz-Signature=secret", "b": "\\u00e9"}'
    stored = strip_signatures(received)
    assert "secret" not in stored
    assert json.loads(stored) == {"chunk": "a.json", "b": "é"}


def test_csv_keeps_every_field_after_a_signed_url() -> None:
    received = (
        "name,url,after\r\n"
        "x,https://s/a?Signature=1&X-Amz-Credential=2,kept\r\n"
        'y,"https://s/b?Signature=1,2",kept too\r\n'
        'z,"Join us https://s/c?Signature=3 now",also kept\r\n'
    )
    assert strip_signatures(received, "text/csv") == (
        "name,url,after\r\n"
        "x,https://s/a,kept\r\n"
        'y,"https://s/b",kept too\r\n'
        'z,"Join us https://s/c?Signature=3 now",also kept\r\n'
    )


@pytest.mark.parametrize(
    ("value", "cut"),
    [
        ("abc.json?X-Amz-Algorithm=A&X-Amz-Signature=s", "abc.json"),
        ("https://x/y?key-pair-id=k&Signature=s#f", "https://x/y"),
        ("https://x/y?page=2", None),
        ("https://x/y?Signature=1 and more", None),
        ('"https://x/y?Signature=1"', None),
        ("no query at all", None),
    ],
)
def test_cut_signed_query(value: str, cut: str | None) -> None:
    assert cut_signed_query(value) == cut


def test_stored_free_text_is_valid_json_and_equal_polls_hash_equal(store: Harness) -> None:
    def poll(signature: str) -> Answer:
        return js({"bio": FREE_TEXT, "avatar": f"{LINK}me.png?X-Amz-Signature={signature}"})

    for signature in ("first", "second"):
        assert check_run(store, PLAIN, Script([poll(signature)], [Answer()])) == "success"
    first, second = stored_bodies(store)
    assert first == second
    assert json.loads(first) == {"bio": FREE_TEXT, "avatar": f"{LINK}me.png"}
    digest = hashlib.sha256(first.encode()).hexdigest()
    assert query(store.runtime, "SELECT sha256 FROM documents") == [(digest,)]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_body_that_is_not_strict_json_fails_the_run_and_stores_nothing(
    store: Harness, constant: str
) -> None:
    body = Answer(200, f'[{{"subsession_id": 1, "points": {constant}}}]'.encode(), JSON)
    outcome = store.run(PLAIN, Script([body], [Answer()]))
    assert outcome.status == "failed"
    assert outcome.error is not None and f"not strict JSON: it contains {constant}" in outcome.error
    assert query(store.runtime, "SELECT count(*) FROM results") == [(0,)]
    assert query(store.runtime, "SELECT count(*) FROM documents") == [(0,)]
