"""Shared fixtures: a simulator on a manual clock, settings pointing at it, a runtime over it."""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from harvester import db
from harvester.clock import ManualClock
from harvester.demo import simulator_settings
from harvester.jobs import JobSpec
from harvester.logs import configure_logging
from harvester.redact import SECRETS
from harvester.runtime import Runtime, open_runtime
from harvester.settings import Settings
from harvester.simulator import RunningSimulator, SimConfig, Simulator, SimulatorTransport
from harvester.text import ParamValue

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"

# Fuzzing (tests/test_fuzz_*.py) replays in `make test`: the same examples every run, nothing kept
# between runs, so a failure in CI is a failure on every machine. `make chaos` sets
# HYPOTHESIS_PROFILE=search: new examples each time (more of them: fuzzing.examples), and what
# fails is kept in .hypothesis/ and tried first next time (then pin it with @example).
hypothesis_settings.register_profile("replay", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("search", derandomize=False, deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replay"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test in its own folder, with no harvester or iRacing variables from the caller."""
    for name in list(os.environ):
        if name.startswith(("IRACING_", "HARVESTER_")) or name in (
            "LOG_LEVEL",
            "LOG_FORMAT",
            "REQUEST_TIMEOUT",
            "TOKEN_REFRESH_BUFFER_SECONDS",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler):
            root.removeHandler(handler)
    SECRETS.clear()


class _SqliteTemplate:
    """Where a new SQLite database comes from in this test process (see `_upgrade`)."""

    path: Path | None = None  # the session's migrated file, once made
    real = False  # the running test is marked `migrations`


_TEMPLATE = _SqliteTemplate()
_real_upgrade = db.upgrade


def _upgrade(engine: Engine) -> bool:
    """`db.upgrade` in tests: a SQLite file about to be created and migrated starts as a copy of
    the session's migrated template (a file copy is about a millisecond, running every migration
    a quarter of a second, and nearly every test opens a runtime). Tests marked `migrations`
    migrate for real; so does every test that makes the file itself (to migrate it step by
    step), and every harvester subprocess."""
    path = db.sqlite_path(engine.url.render_as_string(hide_password=False))
    template = _TEMPLATE.path
    if template and not _TEMPLATE.real and path and path.parent.is_dir() and not path.exists():
        shutil.copyfile(template, path)
    return _real_upgrade(engine)


# Replaced here, before any module binds the name (cli.py imports it), so every caller of
# db.upgrade, open_database's and `harvester db upgrade`'s alike, goes through `_upgrade`.
db.upgrade = _upgrade


@pytest.fixture(scope="session", autouse=True)
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One SQLite file migrated to head for the whole session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "harvester.db"
    engine = db.create_db_engine(f"sqlite:///{path}")
    _real_upgrade(engine)
    engine.dispose()
    assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not merged"
    _TEMPLATE.path = path
    yield
    _TEMPLATE.path = None


@pytest.fixture(autouse=True)
def _migrations_for_real(request: pytest.FixtureRequest) -> Iterator[None]:
    _TEMPLATE.real = request.node.get_closest_marker("migrations") is not None
    yield
    _TEMPLATE.real = False


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig()


@pytest.fixture
def sim(sim_config: SimConfig, clock: ManualClock) -> Simulator:
    return Simulator(sim_config, clock)


@pytest.fixture
def settings(tmp_path: Path, sim: Simulator) -> Settings:
    return make_settings(tmp_path, sim.base_url)


def make_settings(folder: Path, base_url: str, **overrides: object) -> Settings:
    return simulator_settings(folder, base_url, **overrides)


@pytest.fixture
def runtime(settings: Settings, sim: Simulator, clock: ManualClock) -> Iterator[Runtime]:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        yield rt


@pytest.fixture
def loopback(sim: Simulator) -> Iterator[RunningSimulator]:
    with RunningSimulator(sim) as server:
        yield server


@pytest.fixture
def log_stream() -> io.StringIO:
    """Everything logged, at DEBUG, as JSON lines."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    return stream


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a harvester subprocess needs to use `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRACING_", "HARVESTER_"))}
    env.update(
        {
            "IRACING_CLIENT_ID": settings.client_id,
            "IRACING_CLIENT_SECRET": settings.client_secret,
            "IRACING_USERNAME": settings.username,
            "IRACING_PASSWORD": settings.password,
            "IRACING_OAUTH_URL": settings.oauth_url,
            "IRACING_DATA_URL": settings.data_url,
            "HARVESTER_DATABASE_URL": settings.database_url,
            "HARVESTER_JOBS": str(settings.jobs_path),
            "LOG_FORMAT": "json",
            "HARVESTER_HTTP": "off",  # parallel services must not all claim 127.0.0.1:8686
        }
    )
    return env


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the `harvester` command in-process with an environment; return code and output."""
    from harvester.cli import main

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            capsys.readouterr()
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
        captured = capsys.readouterr()
        structlog.reset_defaults()
        return CliResult(code, captured.out, captured.err)

    return run


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP over loopback that also keeps every response body it received, by URL."""

    def __init__(self) -> None:
        # plain http to the loopback simulator: no certificate store to load (30 ms a test)
        super().__init__(verify=False)
        self.bodies: list[tuple[str, int, bytes]] = []
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = super().handle_request(request)
        body = response.read()
        self.bodies.append((str(request.url), response.status_code, body))
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )


@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def net_runtime(
    tmp_path: Path, loopback: RunningSimulator, clock: ManualClock, recorder: RecordingTransport
) -> Iterator[Runtime]:
    """A runtime talking to the simulator over a real loopback socket."""
    settings = make_settings(tmp_path, loopback.url)
    with open_runtime(settings, transport=recorder, clock=clock) as rt:
        yield rt


def job(name: str, endpoint: str, **params: ParamValue) -> JobSpec:
    return JobSpec(name=name, endpoint=endpoint, params=params)


def db_rows(database: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on a database another process writes (none while it has no tables):
    a SQLite file, or a PostgreSQL URL."""
    import sqlite3
    from contextlib import closing

    if isinstance(database, str) and database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as pg:
            try:
                return [tuple(row) for row in pg.execute(sql.replace("%", "%%")).fetchall()]
            except psycopg.errors.UndefinedTable:
                return []

    with closing(sqlite3.connect(database, timeout=30)) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll a condition another thread or process makes true (bounded; not a timing test)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# -- PostgreSQL: a real server, a database of its own per test ---------------------------------

POSTGRES_ADMIN_URL = os.environ.get(
    "HARVESTER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("HARVESTER_REQUIRE_POSTGRES") == "1"  # set by .ci/run


class PostgresServer:
    """Creates databases named after this test session, and drops them all by its end. A
    CREATE or DROP DATABASE waits on the disk for a good fraction of a second, so a thread of
    its own keeps a migrated database ready for the next test and drops the databases tests
    are done with, while the tests run."""

    def __init__(self, admin_url: str) -> None:
        import itertools
        import queue
        import secrets
        import threading

        self.admin_url = admin_url
        self.prefix = f"harvester_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []
        self._numbers = itertools.count()
        self._template: str | None = None
        self._spares: queue.Queue[str] = queue.Queue()  # migrated, never handed out
        self._chores: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._helper = threading.Thread(target=self._do_chores, name="test-databases", daemon=True)
        self._helper.start()

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def new_database(self, migrated: bool = True) -> str:
        """The URL of a new, empty database (migrated to head from a template, by default)."""
        import queue

        if not migrated:
            return self.url(self._create(""))
        template = self._migrated_template()
        self._chores.put(("spare", template))  # the next test's, made while this one runs
        try:
            return self.url(self._spares.get_nowait())
        except queue.Empty:
            return self.url(self._create(f" TEMPLATE {template}"))

    def _create(self, options: str) -> str:
        name = f"{self.prefix}_{next(self._numbers)}"
        self.created.append(name)  # first: drop_all drops it even if CREATE is cut short
        self._admin(f"CREATE DATABASE {name}{options}")
        return name

    def _migrated_template(self) -> str:
        if self._template is None:
            from harvester.db import open_database

            name = f"{self.prefix}_template"
            self.created.append(name)
            self._admin(f"CREATE DATABASE {name}")
            open_database(self.url(name)).dispose()
            self._template = name
        return self._template

    def release(self, url: str) -> None:
        """The test that had `url` is over: drop its database soon, in the background."""
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        assert name is not None and name in self.created, url
        self._chores.put(("drop", name))

    def _do_chores(self) -> None:
        import contextlib

        while (chore := self._chores.get()) is not None:
            kind, name = chore
            with contextlib.suppress(Exception):  # a spare less; drop_all drops what is left
                if kind == "spare":
                    self._spares.put(self._create(f" TEMPLATE {name}"))
                else:
                    self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def drop_all(self) -> None:
        self._chores.put(None)
        self._helper.join()
        for name in reversed(self.created):
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres_unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {str(exc).strip()}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test server; tests that need it skip without one (and fail under .ci/run)."""
    reason = _postgres_unavailable()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"HARVESTER_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer(POSTGRES_ADMIN_URL)
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new PostgreSQL database, migrated."""
    url = postgres_server.new_database()
    yield url
    postgres_server.release(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL of a test that runs on both backends (SQLite file, new PG database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'harvester.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    yield url
    server.release(url)
