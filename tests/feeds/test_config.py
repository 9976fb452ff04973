"""A bad feed is one line naming the file, the line and the field, and never quotes a target
URL; a feed whose `{env:NAME}` is unset is disabled, the rest of the file used (pure)."""

from __future__ import annotations

import pytest

from harvester._config.jobs import JobsError
from harvester._config.jobs_yaml import parse_jobs

JOBS = "jobs:\n  me: {endpoint: member/info, every: 1h}\nfeeds:\n  f:\n"
GOOD = {
    "table": "session_results",
    "key": "[subsession_id, cust_id]",
    "template": '"{{ display_name }} {{ position(finish_position) }}"',
    "targets": '["{env:HOOK}"]',
}
ENV = {"HOOK": "discord://123456789/T0kenValue-secret"}


def feed(**fields: str) -> str:
    values = {**GOOD, **fields}
    return JOBS + "".join(f"    {k}: {v}\n" for k, v in values.items() if v)


def problem(text: str) -> str:
    with pytest.raises(JobsError) as error:
        parse_jobs(text, "jobs.yaml", env=ENV)
    message = str(error.value)
    assert "\n" not in message and "T0kenValue" not in message
    return message


def test_a_good_feed_is_read() -> None:
    config = parse_jobs(feed(where='"cust_id IN (1, 2)"'), "jobs.yaml", env=ENV)
    spec = config.feeds["f"]
    assert spec.table == "session_results" and spec.key == ("subsession_id", "cust_id")
    assert spec.enabled and [t.scheme for t in spec.targets] == ["discord"]
    assert "T0kenValue" not in repr(spec)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"table": "session_result"}, "jobs.yaml:5: feeds.f.table: unknown table 'session_result'"),
        ({"key": "[subsession_id, custid]"}, "jobs.yaml:6: feeds.f.key: unknown column 'custid'"),
        ({"where": '"custid = 3"'}, "jobs.yaml:9: feeds.f.where: unknown column 'custid'"),
        ({"template": '"{{ nope }}"'}, "jobs.yaml:7: feeds.f.template: unknown column 'nope'"),
        ({"template": '"{{ display_name "'}, "jobs.yaml:7: feeds.f.template: unexpected end"),
        ({"targets": '["nosuch://T0kenValue/x"]'}, "feeds.f.targets[1]: unknown target scheme"),
        ({"targets": '["telegram-ish"]'}, "jobs.yaml:8: feeds.f.targets[1]: not a URL"),
        ({"per_minute": "0"}, "jobs.yaml:9: feeds.f.per_minute: expected a whole number"),
        ({"since": "yesterday"}, "jobs.yaml:9: feeds.f.since: 'yesterday' is neither"),
        ({"colour": "red"}, "jobs.yaml:9: feeds.f.colour: unknown key"),
        ({"table": "", "query": '"DELETE FROM members"'}, "feeds.f.query: expected a SELECT"),
        (
            {"table": "", "query": '"SELECT cust_id FROM members"'},
            "feeds.f.query: must return a `result_id` column",
        ),
        (
            {"table": "", "query": '"SELECT * FROM memberz"'},
            "jobs.yaml:8: feeds.f.query: unknown table 'memberz'",
        ),
        ({"template": ""}, "jobs.yaml:4: feeds.f.template: missing"),
    ],
)
def test_a_bad_feed_is_one_line_with_file_and_line(fields: dict[str, str], expected: str) -> None:
    assert expected in problem(feed(**fields))


def test_a_multi_line_template_error_names_its_own_line() -> None:
    text = feed(template="|\n      {{ display_name }}\n      {{ wrong_name }}")
    assert problem(text).startswith("jobs.yaml:9: feeds.f.template: unknown column 'wrong_name'")


def test_an_unset_target_variable_disables_only_that_feed() -> None:
    config = parse_jobs(feed(), "jobs.yaml", env={})
    assert not config.feeds["f"].enabled and config.jobs["me"].enabled
    (rejected,) = config.rejected
    assert rejected.field == "feeds.f.targets[1]" and "HOOK is not set" in rejected.message


def test_a_target_may_come_from_a_secret_named_variable() -> None:
    """A target URL is a key itself: `{env:TELEGRAM_BOT_TOKEN}` is read (the refusal of
    secret-named variables guards job parameters, which go to iRacing and into the archive)."""
    text = feed(targets='["{env:TELEGRAM_BOT_TOKEN}"]')
    env = {"TELEGRAM_BOT_TOKEN": "tgram://123456789:AbCdEf-secret/987654"}
    config = parse_jobs(text, "jobs.yaml", env=env)
    assert config.rejected == () and config.feeds["f"].enabled
    assert [t.scheme for t in config.feeds["f"].targets] == ["tgram"]


def test_the_discord_example_of_the_feeds_page_is_a_valid_jobs_file() -> None:
    """What a league admin pastes from docs/feeds.md loads as it is."""
    from harvester._cli.jobs_init import template_text
    from tests.helpers import REPO

    page = (REPO / "docs" / "feeds.md").read_text()
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    hook = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-T0ken"
    jobs = template_text("league")  # `harvester jobs init --template league`, then the feed
    env = {"LEAGUE_DISCORD": hook, "IRACING_LEAGUE_ID": "5453"}
    config = parse_jobs(jobs + "\n" + example, "jobs.yaml", env=env)
    feed = config.feeds["league_results"]
    assert feed.enabled and feed.digest and feed.key == ("subsession_id", "cust_id")
    assert [t.scheme for t in feed.targets] == ["https"]
