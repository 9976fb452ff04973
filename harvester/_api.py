"""harvester as a library: `harvester.connect()` for scripts and notebooks.

The same stored session as the running service (no second password login, no refresh token
spent twice: the single flight runs through the database), the same resolution of every answer
shape, the same typed errors. What the reference client (irplc) offered — `authenticate()`,
`token_expires_at`, `is_authenticated()`, a refresh — is on `api.session`, with persistence and
single flight underneath; where irplc returned False, harvester raises an error saying why.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ._archive.run import RunContext
from ._config.catalog import check_job, parse_catalogue, stored_catalogues
from ._config.jobs import JobSpec
from ._config.settings import Settings, load_settings
from ._config.templates import TemplateError, render
from ._core.clock import Clock, utc
from ._core.errors import BadRequest, ConfigError, HarvesterError
from ._core.shapes import Part, find_chunk_info, normalise_endpoint
from ._core.text import ParamValue, parse_json, printable, query_value
from ._oauth.session import OAuthSession
from ._service.runtime import Runtime, open_runtime

MANUAL_JOB = "manual"


@dataclass(frozen=True)
class RateLimit:
    """The /data rate window as the server last reported it (None before the first request)."""

    limit: int | None
    remaining: int | None
    reset: datetime | None


@dataclass(frozen=True)
class Result:
    """A fetched result: the documents as received, and the data they resolve to."""

    endpoint: str
    params: dict[str, str]
    documents: list[Part]  # part 0 (the resolved response), then its chunks

    @property
    def header(self) -> Any:
        """Part 0 parsed: the document itself, or the header of a chunked result."""
        return _parse(self.documents[0])

    @property
    def chunked(self) -> bool:
        return len(self.documents) > 1 or _has_chunk_info(self.header)

    @property
    def data(self) -> Any:
        """What `get` returns: the document; for a chunked result the list of all its rows;
        for CSV the rows as dicts."""
        if not self.chunked:
            return self.header
        return [row for part in self.documents[1:] for row in _parse(part)]


class Session:
    """The OAuth session on its own, in the reference client's terms."""

    def __init__(self, oauth: OAuthSession) -> None:
        self._oauth = oauth

    def authenticate(self, force: bool = False) -> bool:
        """Make sure a session is stored (a password login only when none is usable)."""
        self._oauth.login(force=force)
        return True

    def refresh(self) -> bool:
        """Spend the refresh token now: a new access token (and refresh token)."""
        self._oauth.refresh()
        return True

    refresh_access_token = refresh  # the reference client's name

    def is_authenticated(self) -> bool:
        """True if a stored access or refresh token is still valid (no network, no refresh)."""
        tokens = self._oauth.current()
        now = self._oauth.clock.now()
        return tokens is not None and (tokens.access_valid(now, 0) or tokens.refresh_valid(now))

    @property
    def access_token(self) -> str:
        """A valid access token, refreshed first if it is about to expire."""
        return self._oauth.access_token()

    @property
    def access_expires_at(self) -> datetime | None:
        at = self._oauth.access_expires_at
        return utc(at) if at is not None else None

    token_expires_at = access_expires_at  # the reference client's name

    @property
    def refresh_expires_at(self) -> datetime | None:
        tokens = self._oauth.current()
        if tokens is None or tokens.refresh_expires_at is None:
            return None
        return utc(tokens.refresh_expires_at)

    @property
    def auth(self) -> httpx.Auth:
        """An httpx auth for your own requests to /data (a 401 refreshes once and retries)."""
        return self._oauth.as_httpx_auth()

    def status(self) -> dict[str, Any]:
        """What `harvester auth status` shows (never a secret)."""
        return self._oauth.status().as_dict()

    def logout(self) -> bool:
        return self._oauth.logout()


class Api:
    """The /data API through harvester's shared session, client and rate budget."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.session = Session(runtime.session)
        self.settings = runtime.settings

    def fetch(
        self,
        endpoint: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        save: bool = False,
        **more: ParamValue,
    ) -> Result:
        """Fetch one endpoint: every document as received. Parameter templates (`{-7d}`,
        `{env:NAME}`) are resolved now and the request is checked against the stored catalogue,
        as a job's are. `save` archives it as a run of the job `manual` (trigger `manual`)."""
        path = normalise_endpoint(endpoint)
        values = {name: query_value(value) for name, value in {**(params or {}), **more}.items()}
        query = self._resolve(path, values)
        try:
            if save:
                return self._fetch_and_save(path, query)
            documents = list(self._runtime.client.fetch(path, query))
        except BadRequest as exc:
            raise BadRequest(f"{exc}{self._catalogue_note(path)}", exc.status) from None
        return Result(path, query, _last_result(documents))

    def _catalogue_note(self, path: str) -> str:
        """Where a bad request's reader looks next: the stored catalogue's note for the
        endpoint (iRacing's own word on its parameters), and the command that shows it whole."""
        where = f" (`harvester catalog {path}` shows its parameters)"
        try:
            stored = stored_catalogues(self._runtime.engine, 1)
            endpoint = parse_catalogue(stored[0][1]).get(path) if stored else None
        except Exception:  # a note is a hint: never the reason a request's error is lost
            return where
        if endpoint is None or not endpoint.note:
            return where
        return f"; the catalogue's note for {path}: {printable(endpoint.note)[:300]}{where}"

    def get(
        self,
        endpoint: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        save: bool = False,
        **more: ParamValue,
    ) -> Any:
        """The resolved JSON of an endpoint: links, data_url and chunks followed (a chunked
        result comes back as the list of its rows), CSV as a list of dicts.

        `api.get("/data/results/search_series", season_year=2026, season_quarter=4)`
        """
        return self.fetch(endpoint, params, save=save, **more).data

    @property
    def rate_limit(self) -> RateLimit:
        state = self._runtime.budget.state()
        return RateLimit(
            state.limit,
            state.remaining,
            utc(state.reset_at) if state.reset_at is not None else None,
        )

    def close(self) -> None:
        self._runtime.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _resolve(self, path: str, values: dict[str, str]) -> dict[str, str]:
        """The parameters with their templates rendered now; ConfigError if a template cannot
        be, or if the stored catalogue (when there is one) does not know the endpoint or a
        parameter, or misses a required one."""
        try:
            now = self._runtime.clock.now()
            env = self.settings.env()
            resolved = {name: render(value, now, env) for name, value in values.items()}
        except TemplateError as exc:
            raise ConfigError(str(exc)) from None
        stored = stored_catalogues(self._runtime.engine, 1)
        if stored:
            fetched_at, document = stored[0]
            probe = JobSpec(name="get", endpoint=path, params=resolved)
            problems, _ = check_job(probe, parse_catalogue(document), "-p", fetched_at)
            if problems:
                raise ConfigError(problems[0].message)
        return resolved

    def _fetch_and_save(self, path: str, query: dict[str, str]) -> Result:
        captured: list[Part] = []
        failures: list[HarvesterError] = []
        job = JobSpec(name=MANUAL_JOB, endpoint=path, params=query)

        def body(run: RunContext) -> None:
            runner = self._runtime.runner
            parts = runner.fetch(run, query)
            try:
                self._runtime.archive.store_result(run, query, _keeping(parts, captured))
            except HarvesterError as exc:  # recorded as the run's outcome, then raised here
                failures.append(exc)
                raise

        outcome = self._runtime.runner.run(job, trigger="manual", body=body)
        if not outcome.ok:
            raise failures[0] if failures else HarvesterError(outcome.error or outcome.status)
        return Result(path, query, _last_result(captured))


@contextmanager
def connect(
    settings: Settings | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
) -> Iterator[Api]:
    """The /data API with the stored session: settings from the environment and `.env` unless
    given. Use it in a `with` block (or call `close()`)."""
    api = Api(open_runtime(settings or load_settings(), transport=transport, clock=clock))
    try:
        yield api
    finally:
        api.close()


def _parse(part: Part) -> Any:
    if part.content_type == "text/csv":
        return list(csv.DictReader(io.StringIO(part.text)))
    return parse_json(part.text)


def _has_chunk_info(document: Any) -> bool:
    return find_chunk_info(document) is not None or (
        isinstance(document, dict) and "chunk_info" in document
    )


def _last_result(parts: list[Part]) -> list[Part]:
    """The parts of the last attempt (an expired link makes the fetch start again at part 0),
    chunks in order."""
    start = max(i for i, part in enumerate(parts) if part.index == 0)
    return sorted(parts[start:], key=lambda part: part.index)


def _keeping(parts: Iterable[Part], into: list[Part]) -> Iterator[Part]:
    for part in parts:
        into.append(part)
        yield part
