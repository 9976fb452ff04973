"""Feeds against real harvests of the simulator and a real webhook on loopback (Apprise's
`json://`), on SQLite and PostgreSQL: each matching row told once however often it is polled
or the process restarts; history (a feed's start, a backfill, a rebuild) never told; a first
run of thousands of rows folded into one digest; a template error fails only its row; a
hanging target never slows a harvest; no target URL in a log."""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from harvester._config.jobs import JobsConfig
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.clock import ManualClock
from harvester._feeds.control import Feeds
from harvester._feeds.worker import FeedSender
from harvester._service.runtime import Runtime, open_runtime
from harvester._store import db
from harvester._tables.rebuild import rebuild
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import WebhookReceiver, make_settings, wait_for

pytestmark = pytest.mark.slow  # loopback receivers, harvests, on both backends

WINNERS = """
  winners:
    table: session_results
    key: [subsession_id, cust_id]
    where: "finish_position = 0 AND simsession_number = 0"
    template: >-
      {{ display_name }} won {{ subsession_id }}
      ({{ irating_delta(oldi_rating, newi_rating) }})
    targets: ["{env:HOOK}"]
"""


def config_of(feeds: str = WINNERS, max_items: int = 4, start: str = "-1d") -> JobsConfig:
    return config_text(
        textwrap.dedent(f"""
        jobs:
          recent:
            endpoint: results/search_series
            every: 1h
            incremental: {{cursor: end_time, param: finish_range_begin, start: "{start}",
                          window: 2d, key: subsession_id}}
          details:
            endpoint: results/get
            every: 1h
            for_each: {{job: recent, path: "$[*].subsession_id", param: subsession_id,
                        max_items: {max_items}}}
        feeds:
        """)
        + feeds
    )


def config_text(text_: str, hook: str = "") -> JobsConfig:
    return parse_jobs(text_, env={"HOOK": hook or _HOOK[0]})


_HOOK = [""]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    _HOOK[0] = r.url
    yield r
    r.close()


class Harvest:
    """A runtime on `backend` with the feeds of `config`, sending from lanes."""

    def __init__(self, rt: Runtime, config: JobsConfig, sender: bool = True) -> None:
        self.rt = rt
        self.config = config
        self.feeds = Feeds(rt.engine, rt.clock, FeedSender(rt.engine, rt.clock) if sender else None)
        self.feeds.apply(config.feeds.values())
        rt.archive.feeds = self.feeds.outbox
        self.feeds.start()

    def run(self, *names: str, trigger: str = "manual") -> None:
        for name in names:
            outcome = self.rt.runner.run(self.config.jobs[name], trigger)
            assert outcome.status == "success", outcome.error

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with db.read(self.rt.engine) as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]

    def pending(self) -> int:
        return int(self.rows("SELECT count(*) FROM feed_outbox WHERE status = 'pending'")[0][0])

    def stop(self) -> None:
        self.feeds.stop()


@pytest.fixture
def harvest(
    tmp_path: Path, backend: str, sim: Simulator, clock: ManualClock, receiver: WebhookReceiver
) -> Iterator[Any]:
    started: list[Harvest] = []
    runtimes: list[Runtime] = []

    def make(config: JobsConfig, sender: bool = True) -> Harvest:
        settings = make_settings(tmp_path, sim.base_url, database_url=backend)
        rt = open_runtime(settings, transport=SimulatorTransport(sim), clock=clock)
        runtimes.append(rt)
        started.append(Harvest(rt, config, sender))
        return started[-1]

    yield make
    for h in started:
        h.stop()
    for rt in runtimes:
        rt.close()


def winners(h: Harvest) -> list[str]:
    return [
        f"{name} won {sid}"
        for name, sid in h.rows(
            "SELECT display_name, subsession_id FROM session_results "
            "WHERE finish_position = 0 AND simsession_number = 0 ORDER BY subsession_id, cust_id"
        )
    ]


def told(receiver: WebhookReceiver) -> list[str]:
    return sorted(m.split(" (")[0] for m in receiver.messages())


def test_a_harvest_that_adds_rows_tells_each_matching_row_once(
    harvest: Any, receiver: WebhookReceiver, log_stream: io.StringIO
) -> None:
    h = harvest(config_of())
    h.run("recent", "details")
    expected = winners(h)  # in a team race, every driver of the winning team won
    assert len({w.rsplit(" won ", 1)[1] for w in expected}) == 4
    wait_for(lambda: len(receiver.messages()) >= len(expected) and h.pending() == 0)
    assert told(receiver) == sorted(expected)
    assert all(m.endswith(")") and m.split(" (")[1][0] in "+-±" for m in receiver.messages())
    h.run("recent", "details")  # the next run: the next subsessions' winners, once each
    everyone = winners(h)
    assert len(everyone) > len(expected)
    wait_for(lambda: len(receiver.messages()) >= len(everyone) and h.pending() == 0)
    assert told(receiver) == sorted(everyone)
    assert receiver.key not in log_stream.getvalue()
    assert h.rows("SELECT count(*) FROM feed_outbox WHERE status = 'sent'") == [(len(everyone),)]


def test_polling_the_same_rows_again_and_a_restart_tell_nothing_twice(
    harvest: Any, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    feeds = """
  races:
    table: subsessions
    key: subsession_id
    template: "{{ series_name }} at {{ track_name }}: {{ subsession_id }}"
    targets: ["{env:HOOK}"]
    per_minute: 600
"""
    config = config_of(feeds, start="-2h")
    h = harvest(config, sender=False)  # queued only, as by `harvester run`
    h.run("recent")
    queued = h.pending()
    assert queued > 0
    clock.advance(3600)
    h.run("recent")  # the same subsessions again (and newer ones)
    again = h.pending()
    assert again >= queued
    assert h.rows("SELECT count(*), count(DISTINCT key) FROM feed_outbox") == [(again, again)]
    h.stop()
    second = harvest(config)  # a restart: the service sends what was queued
    wait_for(lambda: second.pending() == 0)
    assert len(receiver.messages()) == again == len(set(receiver.messages()))
    third = harvest(config)  # and another: nothing more
    assert third.feeds.sender is not None
    third.feeds.sender.notify()
    assert third.pending() == 0 and len(receiver.messages()) == again


def test_a_new_feed_starts_from_now_unless_since_asks_for_history(
    harvest: Any, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    h = harvest(config_of(feeds=""))  # no feed yet: a harvest with nothing to tell
    h.run("recent", "details")
    stored = len(winners(h))
    h.stop()
    later = harvest(config_of())  # the feed is added: the rows already there are history
    assert later.rows("SELECT status, count(*) FROM feed_outbox GROUP BY status") == [
        ("skipped", stored)
    ]
    clock.advance(3600)
    later.run("recent", "details")  # four more subsessions: only their winners are told
    new = len(winners(later)) - stored
    assert new > 0
    wait_for(lambda: len(receiver.messages()) == new and later.pending() == 0)
    later.stop()
    backlog = harvest(config_of(WINNERS.replace("winners:", "all_winners:") + "    since: -30d\n"))
    wait_for(lambda: len(receiver.messages()) == new + stored + new and backlog.pending() == 0)


def test_rebuild_and_backfill_tell_nothing(harvest: Any, receiver: WebhookReceiver) -> None:
    h = harvest(config_of())
    h.run("recent")
    h.run("details", trigger="backfill")  # as `harvester backfill` stores its windows
    assert h.rows("SELECT status, count(*) FROM feed_outbox GROUP BY status") == [
        ("skipped", len(winners(h)))
    ]
    rebuild(h.rt.engine)
    assert h.feeds.sender is not None
    h.feeds.sender.notify()
    assert h.pending() == 0 and receiver.messages() == []


def test_a_first_run_of_thousands_of_rows_is_one_digest_not_a_flood(
    harvest: Any, receiver: WebhookReceiver
) -> None:
    feeds = """
  results:
    table: session_results
    key: [subsession_id, simsession_number, cust_id]
    template: "{{ display_name }} {{ position(finish_position) }}"
    targets: ["{env:HOOK}"]
    per_minute: 5
    digest_rows: 3
"""
    h = harvest(config_of(feeds, max_items=12), sender=False)
    h.run("recent", "details")
    rows = h.pending()
    assert rows > 100
    h.stop()
    sending = harvest(config_of(feeds, max_items=12))
    wait_for(lambda: sending.pending() == 0)
    (message,) = receiver.messages()
    lines = message.splitlines()
    assert len(lines) == 4 and lines[-1] == f"… and {rows - 3} more"
    assert sending.rows("SELECT status, count(*) FROM feed_outbox GROUP BY status ORDER BY 1") == [
        ("folded", rows - 3),
        ("sent", 3),
    ]


def test_a_template_error_fails_that_row_only_and_the_feed_goes_on(
    harvest: Any, receiver: WebhookReceiver
) -> None:
    feeds = """
  laps:
    table: session_results
    key: [subsession_id, cust_id]
    where: "simsession_number = 0 AND finish_position < 2"
    template: "{{ display_name }}: {{ 100 // finish_position }}"
    targets: ["{env:HOOK}"]
"""
    h = harvest(config_of(feeds, max_items=2))
    h.run("recent", "details")
    wait_for(lambda: h.pending() == 0)
    failed = h.rows("SELECT error FROM feed_outbox WHERE status = 'failed'")
    assert len(failed) == 2  # the winners: P1 is position 0, a division by zero
    assert all("ZeroDivisionError" in error for (error,) in failed)
    assert len(receiver.messages()) == 2  # the second places went out


def test_a_hanging_target_never_slows_a_harvest(harvest: Any, receiver: WebhookReceiver) -> None:
    receiver.hold()  # every POST waits until released
    h = harvest(config_of())
    h.run("recent")
    finished = threading.Event()

    def more() -> None:
        h.run("details")
        finished.set()

    worker = threading.Thread(target=more)
    worker.start()
    receiver.held.wait(30)  # a lane is stuck in a send...
    worker.join(30)
    assert finished.is_set()  # ...and the harvest stored everything all the same
    assert h.pending() == len(winners(h)) > 0
    receiver.release()
    wait_for(lambda: h.pending() == 0)
    assert told(receiver) == sorted(winners(h))


def test_a_query_feed_joins_tables_and_tells_new_rows(
    harvest: Any, receiver: WebhookReceiver
) -> None:
    feeds = """
  podium:
    query: >-
      SELECT r.subsession_id, r.cust_id, r.display_name, r.finish_position, r.result_id,
             s.track_name
      FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
      WHERE r.simsession_number = 0
    key: [subsession_id, cust_id]
    where: "finish_position < 3"
    template: "{{ position(finish_position) }} {{ display_name }} at {{ track_name }}"
    targets: ["{env:HOOK}"]
"""
    h = harvest(config_of(feeds, max_items=2))
    h.run("recent", "details")
    wait_for(lambda: len(receiver.messages()) == 6 and h.pending() == 0)
    assert sorted(m[:2] for m in receiver.messages()) == ["P1", "P1", "P2", "P2", "P3", "P3"]
    assert all(" at " in m for m in receiver.messages())


def test_a_digest_feed_tells_each_run_in_one_message(
    harvest: Any, receiver: WebhookReceiver
) -> None:
    feeds = WINNERS + "    digest: true\n"
    h = harvest(config_of(feeds, max_items=3))
    h.run("recent", "details")
    wait_for(lambda: h.pending() == 0)
    (message,) = receiver.messages()  # the run's three races' winners, one line each
    first = winners(h)
    assert sorted(line.split(" (")[0] for line in message.splitlines()) == sorted(first)
    h.run("details")  # the next run: its own message
    wait_for(lambda: h.pending() == 0 and len(receiver.messages()) == 2)
    second = sorted(set(winners(h)) - set(first))
    assert len({w.rsplit(" won ", 1)[1] for w in second}) == 3
    assert sorted(line.split(" (")[0] for line in receiver.messages()[1].splitlines()) == second
