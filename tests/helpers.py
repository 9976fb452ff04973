"""What the tests share besides fixtures (those are in conftest.py): the repository's paths,
settings and environments for the simulator, running `harvester` as a subprocess, reading a
database another process writes, polling without timing, a PostgreSQL server that makes
databases ahead, holding one simulator request, and how many examples the fuzz tests draw."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from harvester._cli.demo import simulator_settings
from harvester._config.jobs import JobSpec
from harvester._config.settings import Settings
from harvester._core.text import ParamValue
from harvester._observe.web.server import WebServer
from harvester._observe.web.watch import Watch
from harvester._service.service import Service
from harvester._store import db
from harvester.simulator.messages import SimRequest, SimResponse

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"

# the active/standby tests' jobs (and bench/takeover's): a search, its fan-out, a direct job
HA_JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 5m
    incremental: {cursor: end_time, param: finish_range_begin, start: -1d, window: 1d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 5m
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 30}
  info: {endpoint: member/info, every: 2m}
"""


def make_settings(folder: Path, base_url: str, **overrides: object) -> Settings:
    return simulator_settings(folder, base_url, **overrides)


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


def run_harvester(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m harvester ARGS` to its end, in its own process; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# `python -m harvester`, but with Ctrl-C (SIGINT) raising KeyboardInterrupt even when the tests
# run as a background job: a shell starts those with SIGINT ignored, a child inherits that, and
# Python then leaves it ignored (a background `harvester run` rightly does not see Ctrl-C)
WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from harvester._cli.main import main; main(sys.argv[1:])"
)


def start_harvester(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, output: bool = False
) -> subprocess.Popen[str]:
    """`python -m harvester ARGS` in the background (a service, a run to interrupt); its output
    is kept in pipes only when the test reads it (`output=True`), else discarded."""
    sink = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-c", WITH_CTRL_C, *args],
        env=env,
        cwd=cwd,
        stdout=sink,
        stderr=sink,
        text=True,
    )


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


def migrate_to(engine: Engine, revision: str, down: bool = False) -> None:
    """Alembic up (or down) to one revision, as a migration's own tests need it."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))
    with db.write(engine) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


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
        self.dropped: set[str] = set()  # by the helper thread, as tests ended
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
        self._admin(f"ALTER DATABASE {name} SET synchronous_commit = off")
        return name

    def _migrated_template(self) -> str:
        if self._template is None:
            from harvester._store.db import open_database

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
                    self.dropped.add(name)

    def drop_all(self) -> None:
        """Drop what is left (the template, the unused spare, what a failed chore left), on
        one connection: the databases the helper already dropped are not dropped again."""
        import psycopg

        self._chores.put(None)
        self._helper.join()
        left = [name for name in reversed(self.created) if name not in self.dropped]
        if not left:
            return
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            for name in left:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_unavailable() -> str | None:
    """Why the tests cannot have a PostgreSQL server here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {str(exc).strip()}"
    return None


# -- holding one request of the simulator ----------------------------------------------------
# so that a kill or a Ctrl-C lands at a known point of a run (not after a timer): the requests
# before it are certainly answered, the held one and those after it certainly not

Handler = Callable[[SimRequest], SimResponse]


class HeldRequest:
    """Stands in front of a simulator handler (`sim.store.handle` for downloads, `sim.data.handle`
    for /data): holds the `at`-th request whose path starts with `path`, or, once `arm`ed, the
    next one. `reached` is set while it is held; `release` lets it (and the rest) through."""

    def __init__(self, handle: Handler, at: int | None = None, path: str = "") -> None:
        self.handle = handle
        self.at = at
        self.path = path
        self.count = 0  # requests on `path` so far
        self.armed = False
        self.lock = threading.Lock()
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: SimRequest) -> SimResponse:
        if request.path.startswith(self.path):
            with self.lock:
                self.count += 1
                hold = self.armed or self.count == self.at
                self.armed = False
            if hold:
                self.reached.set()
                self.release.wait(60)
        return self.handle(request)

    def arm(self) -> None:
        with self.lock:
            self.armed = True


class FullDisk:
    """A SQLite archive whose disk is full while `full` is set: every write transaction fails at
    its commit with SQLite's own error, as a real full disk fails the WAL append (SQLite's
    `max_page_count` cannot stand in: a run's row fits in a page that has room). Its writes are
    rolled back; reads go on, as they do on a full disk."""

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy import event

        self.full = False
        self.refused = 0  # commits refused so far
        event.listen(engine, "commit", self._commit)

    def _commit(self, connection: Any) -> None:
        import sqlite3

        from sqlalchemy.exc import OperationalError

        if self.full and connection.get_execution_options().get("sqlite_begin") == "IMMEDIATE":
            self.refused += 1
            cause = sqlite3.OperationalError("database or disk is full")
            raise OperationalError("COMMIT", None, cause)


# -- the running service's endpoint, narrowed -------------------------------------------------
# a service that runs no endpoint fails the test here, with the reason, not as an AttributeError


def watch_of(service: Service) -> Watch:
    assert service.watch is not None, "the service runs no endpoint (HARVESTER_HTTP=off?)"
    return service.watch


def server_of(service: Service) -> WebServer:
    server = watch_of(service).server
    assert server is not None, "the service's watch serves no HTTP"
    return server


# -- fuzzing: how many examples -----------------------------------------------------------------
# `make test` replays: derandomized, the same examples each time and no example database, so CI
# reproduces any failure; bugs found are pinned with `@example`. `make chaos` searches:
# HYPOTHESIS_PROFILE=search (conftest.py) draws new examples every time, ten times as many, and
# keeps what fails in .hypothesis/ to replay it first next time.

# The profiles are loaded here, not in conftest.py: `FAST` below is made when conftest imports
# this module, and a settings object keeps the profile in force when it was made (loaded later,
# the replay would draw ten times as many random examples, each under a 200 ms deadline).
settings.register_profile("replay", derandomize=True, database=None, deadline=None)
settings.register_profile("search", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replay"))
SEARCHING = not settings().derandomize  # "replay" (make test) or "search" (make chaos)


def examples(count: int) -> int:
    """How many examples to draw: `count` in the replay, ten times as many in a search."""
    return count * 10 if SEARCHING else count


FAST = settings(max_examples=examples(300))
WITH_FIXTURES = settings(
    FAST,
    max_examples=examples(150),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- a webhook on loopback, for feeds and alerts ------------------------------------------------


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1:<ephemeral> that keeps the JSON bodies it accepted.

    `answers` are the statuses of the next POSTs (then 200); a 429 answers as Discord does
    (a JSON `retry_after` and the rate-limit headers). `hold()` makes every POST wait until
    `release()` (a target that hangs); `held` is set while one waits. The path is where the
    key of a real webhook would be: `url` carries it, as a secret to look for in logs."""

    def __init__(self, key: str = "s3cr3t-hook-key") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.key = key
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.attempts = 0
        self.answers: list[int] = []
        self.retry_after = 0.25
        self.lock = threading.Lock()
        self.held = threading.Event()
        self._release = threading.Event()
        self._release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not receiver._release.is_set():
                    receiver.held.set()
                    receiver._release.wait(60)
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    if status < 300:
                        receiver.bodies.append(json.loads(body or b"{}"))
                        receiver.paths.append(self.path)
                answer = b""
                self.send_response(status)
                if status == 429:
                    answer = json.dumps(
                        {
                            "message": "You are being rate limited.",
                            "retry_after": receiver.retry_after,
                            "global": False,
                        }
                    ).encode()
                    self.send_header("Retry-After", str(max(1, round(receiver.retry_after))))
                    self.send_header("X-RateLimit-Remaining", "0")
                    self.send_header("X-RateLimit-Reset-After", str(receiver.retry_after))
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """A plain webhook, as Apprise's JSON target: `json://127.0.0.1:PORT/hooks/KEY`."""
        return f"json://127.0.0.1:{self.port}/hooks/{self.key}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{self.key}"

    def messages(self) -> list[str]:
        """The text of each message taken (Apprise's JSON `message`, or `text`, `content`)."""
        with self.lock:
            bodies = list(self.bodies)
        return [str(b.get("message", b.get("text", b.get("content", "")))) for b in bodies]

    def hold(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


# -- failures the tests control: a TCP proxy, a private PostgreSQL server, a network namespace ---


class TcpProxy:
    """A TCP proxy on loopback in front of `target` that a test can freeze (nothing forwarded
    either way, connections kept open: a frozen proxy, pooler or NAT), cut (every connection
    closed and new ones refused: the database unreachable), and heal. `retarget` points it at
    another server (a switchover)."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        import socket

        self.target = target
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.1)
        self.address = self._listener.getsockname()[:2]
        self._frozen = threading.Event()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self._clients: list[Any] = []
        self._vanished: set[Any] = set()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def url_for(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by this proxy's."""
        from sqlalchemy.engine import make_url

        url = make_url(database_url).set(host=self.address[0], port=self.address[1])
        return url.render_as_string(hide_password=False)

    def freeze(self) -> None:
        self._frozen.set()

    def vanish(self) -> None:
        """The server behind the open connections is gone without a word (a host crashed, an
        address moved): each stays quiet until its client sends, which a reset answers. New
        connections reach the server."""
        with self._lock:
            self._vanished.update(self._clients)

    def cut(self) -> None:
        self._cut.set()
        self._drop_all()

    def heal(self) -> None:
        self._cut.clear()
        self._frozen.clear()

    def retarget(self, target: tuple[str, int]) -> None:
        self.target = target
        self._drop_all()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        import contextlib
        import socket

        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        import socket

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
                self._clients.append(client)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        import select
        import socket
        import struct

        try:
            while not self._closed.is_set():
                if self._frozen.is_set():
                    self._closed.wait(0.05)
                    continue
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                if source in self._vanished:  # a reset, as from a host that lost the session
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                sink.sendall(data)
        except (OSError, ValueError):
            pass  # closed under it (cut, retarget, close): the pump's end
        for sock in (source, sink):
            sock.close()


PG_BIN = Path(os.environ.get("HARVESTER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def private_postgres_unavailable() -> str | None:
    """Why the tests cannot run a PostgreSQL server of their own here, or None."""
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (PG_BIN / tool).is_file():
            return f"no {tool} in {PG_BIN} (HARVESTER_TEST_PG_BIN names the folder)"
    if os.geteuid() == 0 and not Path("/usr/sbin/runuser").exists():
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


class PrivateCluster:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, trust auth), which
    it may restart, stop, or give a streaming replica (`replica()`), none of which the shared
    server of the other tests may suffer. As root, it runs as the `postgres` user."""

    def __init__(
        self, folder: Path, listen: str = "127.0.0.1", primary: PrivateCluster | None = None
    ):
        import socket

        self.folder = folder
        self.data = folder / "data"
        self.listen = listen
        with socket.socket() as probe:  # a free port
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        folder.mkdir(parents=True, exist_ok=True)
        self._own(folder)
        if primary is None:
            self._run(
                PG_BIN / "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            )
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n")
        else:
            self._run(
                PG_BIN / "pg_basebackup",
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
            )
        self.start()

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            import shutil

            shutil.chown(path, "postgres")

    def _run(self, *command: object) -> None:
        words = [str(word) for word in command]
        if os.geteuid() == 0:
            words = ["/usr/sbin/runuser", "-u", "postgres", "--", *words]
        done = subprocess.run(words, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(words)}: {done.stderr.strip()[-500:]}")

    def url(self, database: str = "postgres", host: str = "127.0.0.1") -> str:
        return f"postgresql://postgres@{host}:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={self.listen} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            self.folder / "log",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def promote(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-w", "promote")

    def create_database(self, name: str) -> str:
        """A new database, migrated to head; its URL."""
        import psycopg

        from harvester._store.db import open_database

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = self.url(name)
        open_database(url).dispose()
        return url

    def destroy(self) -> None:
        import contextlib
        import shutil

        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class Netns:
    """A network namespace joined to this host by a veth pair: a process started in it
    (`command`) reaches the host at `host_ip`, and the host reaches it at `ns_ip`. `partition`
    takes the link down (packets vanish: no reset, no FIN), `heal` brings it back."""

    def __init__(self, name: str, subnet: int) -> None:
        self.name = name
        self.host_if = f"{name[:9]}h"
        self.ns_if = f"{name[:9]}n"
        self.host_ip = f"10.231.{subnet}.1"
        self.ns_ip = f"10.231.{subnet}.2"
        self._made = False
        steps = [
            ["ip", "netns", "add", name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", name],
            ["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            [
                "ip",
                "netns",
                "exec",
                name,
                "ip",
                "addr",
                "add",
                f"{self.ns_ip}/30",
                "dev",
                self.ns_if,
            ],
            ["ip", "netns", "exec", name, "ip", "link", "set", self.ns_if, "up"],
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ]
        try:
            for step in steps:
                self._ip(step)
                self._made = True
        except BaseException:
            self.destroy()
            raise

    @staticmethod
    def _ip(words: list[str]) -> None:
        done = subprocess.run(words, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(words)}: {done.stderr.strip()}")

    def command(self, *words: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *words]

    def partition(self) -> None:
        self._ip(["ip", "link", "set", self.host_if, "down"])

    def heal(self) -> None:
        self._ip(["ip", "link", "set", self.host_if, "up"])

    def destroy(self) -> None:
        if not self._made:
            return
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        self._made = False


def netns_unavailable() -> str | None:
    """Why this machine cannot give a test a network namespace, or None."""
    import secrets

    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    name = f"hvprobe{secrets.token_hex(2)}"
    try:
        Netns(name, 254).destroy()
    except (RuntimeError, OSError) as exc:
        return f"cannot create a network namespace here: {str(exc)[:200]}"
    return None
