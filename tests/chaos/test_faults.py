"""The fault campaign: the service against a simulator failing 10% of requests in every way,
with 429 storms, a maintenance hour and a revoked refresh token. Every job converges once the
weather clears, at most two password logins are spent, and nothing is stored twice; on SQLite
and on PostgreSQL (the `backend` fixture).

A short campaign runs with the suite; `make chaos` runs a long one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from harvester._core.clock import ManualClock
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.config import FAULT_KINDS, SCALED_LINKS
from tests.helpers import make_settings, wait_for

JOBS = """
jobs:
  member_info: {endpoint: member/info, every: 5m}
  categories: {endpoint: constants/categories, every: 15m}
  awards: {endpoint: member/awards, every: 10m}
  road_stats: {endpoint: driver_stats_by_category/road, every: 30m}
  recent:
    endpoint: results/search_series
    every: 5m
    incremental: {cursor: end_time, param: finish_range_begin, start: -6h, window: 1d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 5m
    retries: 2
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id}
  event_logs:
    endpoint: results/event_log
    every: 5m
    params: {simsession_number: 0}
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""
MINUTE = 60.0


def campaign(tmp_path: Path, hours: float, backend: str, step: float = 30.0) -> None:
    """`hours` of simulated weather, in steps of `step` simulated seconds: each step once the
    scheduler has looked at the time and no run is in flight (the simulated-hour test's way), so
    a loaded machine sees the same campaign as a quiet one: as many runs, as many faults."""
    clock = ManualClock()
    sim = Simulator(
        SimConfig(chunk_size=30, fault_rate=0.10, fault_kinds=FAULT_KINDS, **SCALED_LINKS), clock
    )
    settings = make_settings(tmp_path, sim.base_url, database_url=backend)
    (tmp_path / "jobs.yaml").write_text(JOBS)
    begin = clock.now()
    # the weather, in simulated time from the start
    hour = 3600.0
    maintenance = (begin + 0.2 * hour, begin + 1.2 * hour)  # a maintenance hour
    # the pause after maintenance backs off up to 30 minutes: the storm comes well after
    storm = (2.0 * hour, 2.0 * hour + 10 * MINUTE)  # 429s whatever the budget says
    revoke_at = 2.4 * hour  # the refresh token is revoked: one more password login
    calm_at = hours * hour - 45 * MINUTE  # the last 45 minutes: no more faults
    sim.config.maintenance_windows = [maintenance]
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as runtime:
        service = Service(runtime, tmp_path / "jobs.yaml", ServiceOptions(workers=4))
        service.start()
        revoked = stormed = calmed = False
        try:
            while True:
                now = clock.now()

                def settled(now: float = now) -> bool:
                    looked_at = service.scheduler.looked_at
                    return looked_at is not None and looked_at >= now and not service.running

                wait_for(settled, timeout=120)
                elapsed = now - begin
                if elapsed >= hours * hour:
                    break
                if not stormed and elapsed >= storm[0]:
                    sim.config.storm_until, stormed = begin + storm[1], True
                if not revoked and elapsed >= revoke_at:
                    sim.control({"revoke_refresh_tokens": True})
                    revoked = True
                if not calmed and elapsed >= calm_at:
                    sim.config.fault_rate, calmed = 0.0, True
                clock.advance(step)
        finally:
            service.stop()
        check(runtime.engine, sim, service)


def run_statuses(conn: Connection) -> Counter[str]:
    return Counter(
        dict(conn.execute(text("SELECT status, count(*) FROM runs GROUP BY status")).all())
    )


def assert_every_job_converged(conn: Connection) -> None:
    """Every job's last run (after the calm came) succeeded."""
    last: dict[str, str] = dict(
        conn.execute(
            text(
                "SELECT job, status FROM runs WHERE id IN (SELECT max(id) FROM runs "
                "WHERE status != 'skipped' GROUP BY job)"
            )
        ).all()
    )
    assert set(last.values()) == {"success"}, last


def assert_each_subsession_stored_once(conn: Connection) -> None:
    for job in ("details", "event_logs"):
        fetched = Counter(
            json.loads(params)["subsession_id"]
            for (params,) in conn.execute(
                text(f"SELECT params FROM results WHERE job = '{job}' AND part = 0")
            )
        )
        assert fetched and max(fetched.values()) == 1, job  # nothing stored twice


def check(engine: Engine, sim: Simulator, service: Service) -> None:
    state = sim.state()
    assert state["password_grants"] <= 2  # the first login, and one after the revocation
    assert state["refresh_reuses"] == 0
    assert sum(state["faults_injected"].values()) > 20  # the weather did happen
    assert state["data"].get("rate_limited", 0) > 0  # the storm happened
    assert state["data"].get("maintenance", 0) > 0
    with engine.connect() as conn:
        statuses = run_statuses(conn)
        assert statuses["maintenance"] >= 1 and statuses["skipped"] >= 1
        assert statuses["running"] == 0
        assert_every_job_converged(conn)
        assert (
            conn.execute(
                text("SELECT count(*) FROM fanout_items WHERE status IN ('pending', 'failed')")
            ).scalar()
            == 0
        )
        assert_each_subsession_stored_once(conn)
        if engine.dialect.name == "sqlite":  # PostgreSQL checks its foreign keys on every write
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    assert all(
        o.status in ("success", "failed", "maintenance", "skipped", "interrupted")
        for o in service.outcomes
    )
    print(
        f"fault campaign: runs {dict(statuses)}, faults injected {state['faults_injected']}, "
        f"429s {state['data'].get('rate_limited', 0)}, password grants "
        f"{state['password_grants']}, refreshes {state['refreshes']}"
    )


@pytest.mark.slow
def test_fault_campaign_short(tmp_path: Path, backend: str) -> None:
    campaign(tmp_path, hours=3.5, backend=backend)


@pytest.mark.chaos
def test_fault_campaign_long(tmp_path: Path, backend: str) -> None:
    campaign(tmp_path, hours=12.0, backend=backend)


def full_disk_campaign(tmp_path: Path, hours: float, step: float = 30.0) -> None:
    """`hours` of simulated time on SQLite while the disk fills and frees at random and /data/doc
    turns hostile now and then: the service never dies, health says when runs cannot be
    recorded, no bad catalogue is stored, and once the disk is free every job converges with
    nothing stored twice and nothing left `running`."""
    import random

    from harvester._config.catalog import catalogue_problem
    from tests.helpers import FullDisk, watch_of

    rng = random.Random(22)
    clock = ManualClock()
    sim = Simulator(SimConfig(chunk_size=30, **SCALED_LINKS), clock)
    settings = make_settings(tmp_path, sim.base_url, http=("127.0.0.1", 0))
    (tmp_path / "jobs.yaml").write_text(
        JOBS.replace(
            "catalog: {endpoint: doc, every: 1d, enabled: false}",
            "catalog: {endpoint: doc, every: 15m}",
        )
    )
    begin = clock.now()
    calm_at = begin + hours * 3600.0 - 45 * MINUTE
    unhealthy = 0
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as runtime:
        disk = FullDisk(runtime.engine)
        service = Service(runtime, tmp_path / "jobs.yaml", ServiceOptions(workers=4))
        service.start()
        try:
            while clock.now() < begin + hours * 3600.0:
                now = clock.now()

                def settled(now: float = now) -> bool:
                    looked_at = service.scheduler.looked_at
                    return looked_at is not None and looked_at >= now and not service.running

                wait_for(settled, timeout=120)
                calm = now >= calm_at
                disk.full = not calm and rng.random() < 0.2
                hostile = not calm and rng.random() < 0.3
                sim.config.catalog_changes = (
                    {"results": {"get": {"parameters": rng.choice([[], "x", 7, True])}}}
                    if hostile
                    else {}
                )
                health = watch_of(service).health().body
                unhealthy += health["recording"] != "ok"
                clock.advance(step)
        finally:
            disk.full = False
            service.stop()
        assert disk.refused > 0 and unhealthy > 0  # the disk did fill, and health said so
        refused = [o for o in service.outcomes if (o.error or "").startswith("the /data catalogue")]
        assert refused  # and a hostile catalogue did come
        with runtime.engine.connect() as conn:
            statuses = run_statuses(conn)
            assert statuses["running"] == 0
            assert_every_job_converged(conn)
            docs = conn.execute(
                text(
                    "SELECT d.body FROM result_parts p JOIN documents d ON d.sha256 = p.sha256 "
                    "WHERE p.endpoint = 'doc' AND p.part = 0"
                )
            ).all()
            assert docs and all(catalogue_problem(json.loads(body)) is None for (body,) in docs)
            assert_each_subsession_stored_once(conn)
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    print(f"full disk campaign: runs {statuses}, commits refused {disk.refused}")


@pytest.mark.chaos
def test_full_disk_and_hostile_catalogue_campaign(tmp_path: Path) -> None:
    full_disk_campaign(tmp_path, hours=4.0)
