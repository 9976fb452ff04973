"""`harvester feeds` and `harvester feeds test NAME [--dry-run]` over a real harvest (the
simulator on loopback): what waits, what a test message looks like, where it goes."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harvester._core.clock import SystemClock
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.helpers import CliResult, WebhookReceiver, db_rows, env_for, make_settings

JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 1h
    incremental: {cursor: end_time, param: finish_range_begin, start: -1d, window: 2d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 1h
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 2}
feeds:
  winners:
    table: session_results
    key: [subsession_id, cust_id]
    where: "finish_position = 0 AND simsession_number = 0"
    template: "{{ display_name }} won {{ subsession_id }}"
    targets: ["{env:LEAGUE_HOOK}"]
"""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def env(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[dict[str, str]]:
    """A simulator on the real clock (the command's), its races of the last day on loopback."""
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent(JOBS))
    with RunningSimulator(Simulator(SimConfig(), SystemClock())) as server:
        values = env_for(make_settings(tmp_path, server.url))
        values["LEAGUE_HOOK"] = receiver.url
        yield values


def test_jobs_validate_counts_the_feeds_and_an_unset_target_disables_one(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent(JOBS))
    env = {"HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "LEAGUE_HOOK": "json://x"}
    valid = run_cli("jobs", "validate", env=env)
    assert valid.code == 0, valid.err
    assert "2 job(s), 2 enabled, 1 feed(s), 1 enabled: valid" in valid.out
    env.pop("LEAGUE_HOOK")
    unset = run_cli("jobs", "validate", env=env)
    assert unset.code == 1 and "LEAGUE_HOOK is not set" in unset.err


@pytest.mark.slow
def test_feeds_lists_what_waits_and_feeds_test_renders_and_sends(
    run_cli: Callable[..., CliResult], env: dict[str, str], receiver: WebhookReceiver
) -> None:
    assert run_cli("run", "recent", "details", env=env).code == 0  # queued, not sent
    listed = run_cli("feeds", "--format", "json", env=env)
    assert listed.code == 0, listed.err
    (row,) = json.loads(listed.out)
    # one row a winner: a team race's winning drivers share position 0, so count them
    (winners,) = db_rows(
        env["HARVESTER_DATABASE_URL"].removeprefix("sqlite:///"),
        "SELECT count(*) FROM session_results WHERE finish_position = 0 AND simsession_number = 0",
    )
    assert winners[0] >= 2
    assert (row["feed"], row["pending"], row["sent"]) == ("winners", winners[0], 0)
    dry = run_cli("feeds", "test", "winners", "--dry-run", env=env)
    assert dry.code == 0 and " won " in dry.out and receiver.messages() == []
    sent = run_cli("feeds", "test", "winners", env=env)
    assert sent.code == 0, sent.err
    assert receiver.messages() == [dry.out.strip()]
    assert "json:// (target 1): sent" in sent.out
    for output in (listed, dry, sent):
        assert receiver.key not in output.out + output.err
    unknown = run_cli("feeds", "test", "winner", env=env)
    assert unknown.code != 0 and "no feed named 'winner'" in unknown.err
    assert "did you mean" in unknown.err
