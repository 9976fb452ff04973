"""Logs: JSON lines with the contract's fields, and redaction at every level."""

from __future__ import annotations

import io
import json
import logging

from harvester._core.logs import configure_logging, get_logger
from harvester._core.redact import REDACTED, redact, redact_text, register_secret, strip_signatures

SIGNED = (
    "https://scorpio-assets.s3.amazonaws.com/members/x/abc.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20220618T234233Z&X-Amz-Expires=1200&X-Amz-Signature=c2e813ebd517"
)


def test_json_lines_carry_timestamp_level_event_logger_and_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    get_logger("harvester.test").info("run.finished", job="member_info", run_id=7)
    line = json.loads(stream.getvalue().strip())
    assert line["event"] == "run.finished"
    assert line["level"] == "info"
    assert line["logger"] == "harvester.test"
    assert line["job"] == "member_info" and line["run_id"] == 7
    assert line["timestamp"].endswith("Z")


def test_human_format_is_not_json() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "human", stream)
    get_logger("harvester.test").info("hello", job="x")
    assert "hello" in stream.getvalue()
    assert not stream.getvalue().startswith("{")


def test_registered_secrets_and_their_encoded_forms_are_removed() -> None:
    register_secret("cKV7+sRzdr/MBUiqfRzLTTUHgTWG5kh8UzDPI+9HwvQ=")
    text = redact_text("form: client_secret=cKV7%2BsRzdr%2FMBUiqfRzLTTUHgTWG5kh8UzDPI%2B9HwvQ%3D")
    assert "cKV7" not in text
    assert "cKV7" not in redact_text("masked cKV7+sRzdr/MBUiqfRzLTTUHgTWG5kh8UzDPI+9HwvQ= here")


def test_secret_shapes_are_removed_whatever_their_value() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    cases = [
        f"Authorization: Bearer {jwt}",
        "headers {'authorization': 'Bearer abc.def'}",
        '{"access_token": "opaque-token-value", "refresh_token": "another-one"}',
        "grant_type=refresh_token&refresh_token=opaque-refresh&client_id=x",
        "password=hunter2&username=me",
        f"GET {SIGNED} 200",
        jwt,
    ]
    for case in cases:
        out = redact_text(case)
        for secret in (
            jwt,
            "abc.def",
            "opaque-token-value",
            "another-one",
            "opaque-refresh",
            "hunter2",
            "X-Amz-Signature",
            "c2e813ebd517",
        ):
            assert secret not in out, (case, out)


def test_sensitive_keys_lose_their_values_in_nested_structures() -> None:
    event = {"headers": {"Authorization": "x"}, "form": [{"password": "pw", "user": "me"}]}
    assert redact(event) == {
        "headers": {"Authorization": REDACTED},
        "form": [{"password": REDACTED, "user": "me"}],
    }


def test_strip_signatures_keeps_urls_and_file_names() -> None:
    body = '{"chunk_file_names":["abc.json?X-Amz-Algorithm=A&X-Amz-Signature=ff"],"x":"a?b=c"}'
    assert strip_signatures(body) == '{"chunk_file_names":["abc.json"],"x":"a?b=c"}'
    v2 = '{"link":"https://h/p/q?AWSAccessKeyId=AK&Expires=1&Signature=M4K%3D"}'
    assert strip_signatures(v2) == '{"link":"https://h/p/q"}'


def test_redaction_applies_to_other_libraries_records_at_debug() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    register_secret("super-secret-password")
    logging.getLogger("httpx").debug("sending password super-secret-password to %s", SIGNED)
    output = stream.getvalue()
    assert "super-secret-password" not in output
    assert "X-Amz-Signature" not in output
    assert "abc.json" in output


def test_tracebacks_only_at_debug() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t").exception("failed")
    line = json.loads(stream.getvalue())
    assert line["error"] == "ValueError: boom"
    assert "Traceback" not in stream.getvalue()


def test_the_console_format_keeps_a_value_on_its_line_and_off_the_terminal_controls() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "human", stream)
    logging.getLogger("somelibrary").warning("server said: bad\nline\x1b[2J\x9b")
    get_logger("harvester.test").warning("run.failed", error="bad\nline\x1b[2J\x9b")
    assert stream.getvalue().count("\n") == 2
    assert "\x1b[2J" not in stream.getvalue() and "\x9b" not in stream.getvalue()
    assert "bad\\nline\\x1b[2J\\x9b" in stream.getvalue()
