"""Property-based fuzzing (hypothesis) of the pure edges where hostile text gets in: whatever a
server, an archive row or a browser sends, a terminal line holds no control character, a chat
message no mention or disguised link, a CSV cell no formula, and the endpoint answers no Host it
is not bound under (DNS rebinding). (tests/helpers.py: replay in `make test`, search in `make
chaos`.)"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from harvester._core.text import FORMULA_START, chat_safe, csv_cell, printable
from harvester._observe.web.hosts import LOOPBACK_NAMES, host_allowed, host_name
from tests.helpers import FAST

# text with what attackers use: escapes, controls, bidi overrides, mentions, link markup
PIECES = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(["\x1b", "\x9b", "\x07", "\n", "\r", "\t", "\u202e", "\u2066", "@", "<"]),
    st.sampled_from([">", "!", "[", "]", "(", ")", "|", "#", "=", "+", "-", ":", "/", "&"]),
    st.sampled_from(["everyone", "here", "channel", "http://evil", "https://a.b/c?d"]),
)
HOSTILE = st.lists(PIECES, max_size=30).map("".join)
CONTROL_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


@FAST
@given(HOSTILE)
@example("\x1b[2J\x1b]0;title\x07")
@example("ok\u202eevil")
def test_a_terminal_line_holds_no_control_character(text: str) -> None:
    line = printable(text)
    assert not any(unicodedata.category(ch) in CONTROL_CATEGORIES for ch in line)
    assert printable(line) == line  # once is enough


MENTION = re.compile(r"(?<!\w)@(?:everyone|here)\b|<[!@#&]", re.IGNORECASE)
MD_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?[a-z][a-z0-9+.-]*:[^)\n]*\)", re.IGNORECASE)
SLACK_LINK = re.compile(r"<[a-z][a-z0-9+.-]*:[^|>\s]*\|[^>]*>", re.IGNORECASE)


@FAST
@given(HOSTILE)
@example("[x]([a](http://evil))")
@example("<<http://evil|a>|b>")
@example("@@everyone <!channel> <@U1>")
def test_a_chat_value_mentions_no_one_and_disguises_no_link(text: str) -> None:
    message = chat_safe(text)
    assert not MENTION.search(message)
    assert not MD_LINK.search(message)
    assert not SLACK_LINK.search(message)


@FAST
@given(st.one_of(HOSTILE, st.integers(), st.floats(allow_nan=False), st.none()))
@example('=HYPERLINK("http://evil","x")')
def test_a_csv_cell_never_starts_a_formula(value: object) -> None:
    cell = csv_cell(value)
    if isinstance(value, str):
        assert isinstance(cell, str) and not cell.startswith(FORMULA_START)
        assert cell in (value, "'" + value)
    else:
        assert cell is value


HOST_TEXT = st.one_of(
    HOSTILE,
    st.from_regex(r"\A\[?[0-9a-zA-Z.:\-\[\]]{0,40}(:[0-9]{0,6})?\Z", fullmatch=True),
    st.sampled_from(
        [
            "localhost",
            "LOCALHOST.",
            "127.1",
            "0x7f000001",
            "2130706433",
            "[::1]:80",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ]
    ),
)


@FAST
@given(HOST_TEXT)
@example("127.0.0.1.nip.io")
@example("localhost:8080")
def test_bound_to_loopback_only_loopback_names_are_answered(header: str) -> None:
    """A rebinding page sends its own name: only the loopback names get through, as written."""
    if host_allowed(header, "127.0.0.1"):
        assert host_name(header) in LOOPBACK_NAMES


@FAST
@given(HOST_TEXT)
def test_an_allowed_pattern_answers_its_subdomains_only(header: str) -> None:
    if host_allowed(header, "192.0.2.10", allowed=("*.example.org",)):
        name = host_name(header)
        assert name is not None
        assert name == "192.0.2.10" or name.endswith(".example.org")
