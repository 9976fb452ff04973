"""Messages from templates, in Jinja2's sandbox (pure): the helpers for lap times, positions
and iRating changes; a mistake is an error of that row, never a blank or a way out."""

from __future__ import annotations

import pytest

from harvester._feeds.render import MAX_MESSAGE, Renderer, RenderError, lap_time, signed


def test_the_helpers_say_what_iracing_s_numbers_mean() -> None:
    assert lap_time(83.4567) == "1:23.457" and lap_time(59.5) == "59.500" and lap_time(None) == "-"
    assert signed(12) == "+12" and signed(-3) == "-3" and signed(0) == "±0"
    text = Renderer(
        "{{ display_name }} {{ position(finish_position) }} {{ lap_time(best_lap_time) }} "
        "{{ irating_delta(oldi_rating, newi_rating) }}"
    ).row(
        {
            "display_name": "Ada",
            "finish_position": 0,
            "best_lap_time": 92.1,
            "oldi_rating": 2000,
            "newi_rating": 2035,
        }
    )
    assert text == "Ada P1 1:32.100 +35"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ missing }}", "UndefinedError"),
        ("{{ finish_position + 1 }}", "TypeError"),  # NULL in the row
        ("{{ ''.__class__.__mro__ }}", "SecurityError"),
        ("{% for i in range(10**6) %}x{% endfor %}", "OverflowError"),
    ],
)
def test_a_template_error_is_that_row_s_error(template: str, reason: str) -> None:
    with pytest.raises(RenderError, match=reason):
        Renderer(template).row({"finish_position": None})


def test_a_digest_shows_the_first_rows_and_counts_the_rest() -> None:
    rows = [{"n": i} for i in range(5)] + [{"n": None}]
    text, shown, failed = Renderer("row {{ n + 1 }}").digest(rows, limit=3, total=10_000)
    assert text.splitlines() == ["row 1", "row 2", "row 3", "… and 9997 more"]
    assert shown == [0, 1, 2] and failed == []
    long = Renderer("{{ 'x' * 5000 }}").row({})
    assert len(long) == MAX_MESSAGE and long.endswith("…")


def test_values_are_chat_safe_but_the_template_s_own_text_is_not_touched() -> None:
    template = "@here {{ display_name }} won [{{ series }}]({{ link }}) <!channel>"
    text = Renderer(template).row(
        {
            "display_name": "@everyone <@U1>",
            "series": "[free money](http://evil.example)",
            "link": "<http://evil.example|iracing.com>",
        }
    )
    assert text == (
        "@here @\u200beveryone <\u200b@\u200bU1> won "
        "[free money (http://evil.example)](iracing.com (http://evil.example)) <!channel>"
    )


def test_a_number_is_printed_as_it_is() -> None:
    assert Renderer("{{ n }} {{ lap_time(t) }}").row({"n": 3, "t": 83.456}) == "3 1:23.456"
