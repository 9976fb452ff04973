"""The fixtures (helpers are in tests/helpers.py): each test isolated in its own folder, a
simulator on a manual clock, settings and a runtime over it, loopback servers, databases."""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.logs import configure_logging
from harvester._core.redact import SECRETS
from harvester._service.runtime import Runtime, open_runtime
from harvester._store import db
from harvester.simulator import RunningSimulator, SimConfig, Simulator, SimulatorTransport
from tests.helpers import (
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    CliResult,
    Netns,
    PostgresServer,
    PrivateCluster,
    RecordingTransport,
    TcpProxy,
    make_settings,
    netns_unavailable,
    postgres_unavailable,
    private_postgres_unavailable,
)

# Fuzzing (tests/*/test_fuzz_*.py) replays in `make test`: the same examples every run, nothing
# kept between runs, so a failure in CI is a failure on every machine. `make chaos` sets
# HYPOTHESIS_PROFILE=search: new examples each time (more of them: helpers.examples), and what
# fails is kept in .hypothesis/ and tried first next time (then pin it with @example). The
# profiles are loaded by tests/helpers.py, imported above, before any settings are made.


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


# Replaced here, before any module binds the name (_cli/main.py imports it), so every caller of
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


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the `harvester` command in-process with an environment; return code and output."""
    from harvester._cli.main import main

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


# -- PostgreSQL: a real server, a database of its own per test ---------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test server; tests that need it skip without one (and fail under .ci/run)."""
    reason = postgres_unavailable()
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


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, on each backend (for a migration's own tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'harvester.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database(migrated=False)
    yield url
    server.release(url)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    """An engine on `empty_url`, disposed after the test."""
    engine = db.create_db_engine(empty_url)
    yield engine
    engine.dispose()


# -- failures a test controls -------------------------------------------------------------------


@pytest.fixture
def database_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A TCP proxy in front of the test's PostgreSQL database, and the database's URL through
    it: the test freezes it, cuts it, heals it."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy, proxy.url_for(postgres_url)
    finally:
        proxy.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A PostgreSQL server of the test's own, listening on every address (the test may restart
    it, stop it, give it a replica); gone after the test."""
    import tempfile

    reason = private_postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="harvester-pg-")), listen="*")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_replica(private_postgres: PrivateCluster) -> Iterator[PrivateCluster]:
    """A streaming replica of `private_postgres` (hot standby, read-only)."""
    import tempfile

    replica = PrivateCluster(
        Path(tempfile.mkdtemp(prefix="harvester-pg-")), listen="*", primary=private_postgres
    )
    try:
        yield replica
    finally:
        replica.destroy()


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A network namespace joined to this host by a veth pair (root only); removed after."""
    import secrets

    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(
            f"{reason}; the partition's documented equivalent (a proxy that cuts the "
            "connections, tests/service/test_failover.py) runs instead"
        )
    space = Netns(f"hv{secrets.token_hex(3)}", secrets.randbelow(200) + 10)
    try:
        yield space
    finally:
        space.destroy()
