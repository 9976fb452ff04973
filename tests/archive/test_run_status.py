"""Run statuses: one enum, the stored text unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from harvester._config.jobs import JobSpec
from harvester._core.counts import RunCounts
from harvester._core.run_status import FINAL_STATUSES, RunStatus
from harvester._service.runtime import open_runtime
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings


def test_the_stored_texts_are_the_ones_the_database_has_always_held() -> None:
    assert [str(s) for s in RunStatus] == [
        "running",
        "success",
        "failed",
        "forbidden",
        "not_found",
        "maintenance",
        "skipped",
        "interrupted",
    ]
    assert RunStatus.RUNNING not in FINAL_STATUSES
    assert RunStatus("not_found") is RunStatus.NOT_FOUND
    assert f"{RunStatus.SUCCESS}" == "success"


def test_a_run_stores_plain_text_and_reports_the_enum(tmp_path: Path, sim: Simulator) -> None:
    runtime = open_runtime(make_settings(tmp_path, sim.base_url), transport=SimulatorTransport(sim))
    try:
        outcome = runtime.runner.run(JobSpec(name="info", endpoint="member/info"), "manual")
        assert outcome.status is RunStatus.SUCCESS and outcome.ok
        with runtime.engine.connect() as conn:
            stored = conn.execute(text("SELECT status, typeof(status) FROM runs")).one()
        assert tuple(stored) == ("success", "text")
        run_id = runtime.archive.open_run("info", "manual")
        with pytest.raises(ValueError, match="unknown run status 'done'"):
            runtime.archive.finish_run(run_id, "done", RunCounts(), None)
    finally:
        runtime.close()
