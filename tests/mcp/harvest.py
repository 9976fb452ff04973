"""What the MCP tests share: a folder holding an archive harvested from the simulator (SQLite
or PostgreSQL) with its jobs.yaml, the environment a `harvester mcp` process needs there, and
the SDK's own client on such a process over stdio."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from harvester._config.jobs_file import load_jobs_file
from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._service.runtime import open_runtime
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from tests.helpers import env_for, make_settings

# the demo's my-results set (races by cursor, their results, laps and event logs by fan-out,
# iRating charts), and one job that always fails (a subsession that does not exist: 404)
JOBS = textwrap.dedent("""\
    jobs:
      my_results:
        endpoint: results/search_series
        params: {cust_id: "{env:IRACING_CUST_ID}"}
        every: 1h
        incremental: {cursor: end_time, param: finish_range_begin, start: -30d, window: 90d,
                      key: subsession_id}
      my_result_details:
        endpoint: results/get
        every: 1h
        for_each: {job: my_results, path: "$[*].subsession_id", param: subsession_id}
      my_laps:
        endpoint: results/lap_data
        params: {simsession_number: 0, cust_id: "{env:IRACING_CUST_ID}"}
        every: 1h
        for_each: {job: my_results, path: "$[*].subsession_id", param: subsession_id,
                   max_items: 5}
      irating_sports_car:
        endpoint: member/chart_data
        params: {category_id: 5, chart_type: 1}
        every: 1d
      irating_oval:
        endpoint: member/chart_data
        params: {category_id: 1, chart_type: 1}
        every: 1d
      me: {endpoint: member/info, every: 1d}
      missing_race:
        endpoint: results/get
        params: {subsession_id: 12345}
        every: 1h
    """)


@dataclass(frozen=True)
class Harvested:
    folder: Path
    settings: Settings
    env: dict[str, str]  # what `harvester mcp` needs there (the credentials too: never shown)
    me: int  # the simulator's member: the cust_id of my-results

    @property
    def database_url(self) -> str:
        return self.settings.database_url


def harvest(folder: Path, database_url: str | None = None) -> Harvested:
    """The jobs above, each run once against the simulator, whose time is now (so the runs
    fall in the last day, as the health report counts them)."""
    clock = ManualClock(time.time())
    simulator = Simulator(SimConfig(rate_limit=None, chunk_size=20), clock)
    me = simulator.world.config.me_cust_id
    environment = {"IRACING_CUST_ID": str(me)}
    overrides: dict[str, Any] = {"environment": environment}
    if database_url:
        overrides["database_url"] = database_url
    settings = make_settings(folder, simulator.base_url, **overrides)
    settings.jobs_path.write_text(JOBS, encoding="utf-8")
    with open_runtime(settings, transport=SimulatorTransport(simulator), clock=clock) as runtime:
        config = load_jobs_file(settings.jobs_path, runtime.engine, env=environment)
        for name, spec in config.jobs.items():
            if name != "catalog":  # the built-in catalogue job: not needed here
                runtime.runner.run(spec)
    env = {**env_for(settings), **environment, "LOG_LEVEL": "INFO"}
    return Harvested(folder, settings, env, me)


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def data(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return result.structured_content


@asynccontextmanager
async def stdio_session(
    archive: Harvested,
    *args: str,
    errlog: TextIO | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    """`python -m harvester mcp ARGS` started by the SDK's stdio client (in the archive's
    folder, with its environment, unless told otherwise)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "harvester", "mcp", *args],
        env=archive.env if env is None else env,
        cwd=archive.folder if cwd is None else cwd,
    )
    async with Client(stdio_client(params, errlog=errlog or sys.stderr)) as client:
        yield client
