"""The composition root: one engine, one httpx client, one OAuth session per process."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import httpx
from sqlalchemy import Engine

from .._archive.archive import Archive
from .._config.settings import Settings
from .._core.clock import Clock, parse_clock
from .._core.posix import require_posix
from .._fetch.data_client import DataClient
from .._fetch.maintenance import MaintenancePause
from .._fetch.ratelimit import RateBudget
from .._oauth.keys import load_keyring
from .._oauth.session import OAuthSession
from .._oauth.store import TokenStore
from .._oauth.tokens import identity_of
from .._store.db import open_database
from .._version import __version__
from .runner import Runner

# who is asking, honestly: no project URL is published, so none is claimed
USER_AGENT = f"harvester/{__version__} python-httpx/{httpx.__version__}"


@dataclass
class Runtime:
    """Everything one process shares. Close it to release the client and the engine."""

    settings: Settings
    clock: Clock
    engine: Engine
    http: httpx.Client
    store: TokenStore
    session: OAuthSession
    budget: RateBudget
    pause: MaintenancePause
    client: DataClient
    archive: Archive
    runner: Runner

    def close(self) -> None:
        self.runner.close()
        self.client.close()
        self.http.close()
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_http_client(
    settings: Settings, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The one client: pooled connections, the configured timeout, no default auth (so links
    to S3 can never carry the Bearer token)."""
    client = httpx.Client(
        timeout=httpx.Timeout(settings.request_timeout, connect=min(settings.request_timeout, 10)),
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        transport=transport,
        follow_redirects=False,
    )
    client._cookies = NoCookies()  # httpx has no switch for it; see NoCookies
    return client


class NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. Neither the OAuth endpoint nor /data nor its links need
    a cookie, so none a server sets is sent back anywhere (an S3 link's host could otherwise
    set one for the next link), and no response pays for a cookie jar's parsing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def open_runtime(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
) -> Runtime:
    """Everything one process shares, on `settings.database_url`, or on `engine` when one is
    given (a read replica's, for `harvester status`; the runtime disposes of it)."""
    require_posix()
    engine = engine or open_database(settings.database_url)
    http = build_http_client(settings, transport)
    store = TokenStore(
        engine,
        identity_of(settings.client_id, settings.username),
        lambda create: load_keyring(settings, create=create),
    )
    the_clock = clock or parse_clock(settings.clock)
    session = OAuthSession(settings, http, store, the_clock)
    budget = RateBudget(the_clock)
    pause = MaintenancePause(the_clock)
    client = DataClient(settings, http, session, budget, pause, the_clock)
    archive = Archive(engine, the_clock)
    runner = Runner(client, archive, the_clock, pause)
    return Runtime(
        settings, the_clock, engine, http, store, session, budget, pause, client, archive, runner
    )
