"""`DataClient`: one /data request resolved into the documents behind it.

Part 0 is the resolved response (the document behind a link or data_url, or the direct answer),
parts 1..n its chunks. Chunks are downloaded in parallel (bounded) and yielded as they arrive,
so the caller can store them one by one with bounded memory; either every chunk arrives and the
row count matches chunk_info, or the fetch fails naming the chunk. Every failure becomes a typed
error whose `outcome` is the run's status: nothing here crashes a run or retries forever.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from .._config.settings import Settings
from .._core.cancel import CancelToken
from .._core.clock import Clock
from .._core.counts import RunCounts
from .._core.errors import (
    ApiError,
    BadRequest,
    Cancelled,
    Forbidden,
    HarvesterError,
    IncompleteResult,
    Maintenance,
    NotFound,
    RateLimited,
    ServerError,
)
from .._core.logs import get_logger
from .._core.redact import redact_text
from .._core.retry import Retries, backoff_delay
from .._core.shapes import (
    ChunkInfo,
    DataUrl,
    Link,
    Part,
    find_chunk_info,
    indirection,
    normalise_endpoint,
    without_query,
)
from .._core.text import parse_json, printable
from .._oauth.session import OAuthSession
from .bounded import BrokenEncoding, Limits, bounded_get
from .linkpolicy import LinkPolicy
from .maintenance import MaintenancePause
from .peercheck import watch_connection
from .ratelimit import RateBudget

log = get_logger("harvester.api")

MAX_ATTEMPTS = 4  # one request and three retries of a transient failure
MAX_429_RETRIES = 3
CHUNK_WORKERS = 4
MAX_STORED_INT = 2**63 - 1  # the archive's integers are 64-bit


class LinkExpired(ApiError):
    """A pre-signed URL answered 403: it expired before it was fetched."""


@dataclass(frozen=True)
class _RateLimited:
    wait: float  # seconds until the window resets (jittered)


@dataclass(frozen=True)
class _Body:
    text: str
    content_type: str
    value: Any  # parsed JSON, or None for CSV
    size: int  # bytes received


class DataClient:
    def __init__(
        self,
        settings: Settings,
        http: httpx.Client,
        session: OAuthSession,
        budget: RateBudget,
        pause: MaintenancePause,
        clock: Clock,
        rng: random.Random | None = None,
        chunk_workers: int = CHUNK_WORKERS,
    ) -> None:
        self.settings = settings
        self.http = http
        self.session = session
        self.auth = session.as_httpx_auth()
        self.budget = budget
        self.pause = pause
        self.clock = clock
        self.rng = rng or random.Random()
        self.chunk_workers = chunk_workers
        self.limits = Limits(
            settings.max_document_bytes,
            settings.request_deadline_seconds,
            settings.request_timeout,
        )
        self.links = LinkPolicy(settings.data_url, settings.download_hosts)
        self._pool = ThreadPoolExecutor(max_workers=chunk_workers, thread_name_prefix="chunk")
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the public face ---------------------------------------------------------------

    def fetch(
        self,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        *,
        cancel: CancelToken | None = None,
        counts: RunCounts | None = None,
    ) -> Iterator[Part]:
        """Yield part 0 then every chunk. If a link or chunk URL has expired, the endpoint is
        asked once more and the parts start again from part 0 (a part 0 begins a new result)."""
        cancel = cancel or CancelToken(self.clock)
        counts = counts if counts is not None else RunCounts()
        path = normalise_endpoint(endpoint)
        for attempt in range(2):
            try:
                yield from self._fetch_once(path, dict(params or {}), cancel, counts)
                return
            except LinkExpired as exc:
                if attempt == 1:
                    raise IncompleteResult(f"{exc} (again after asking {path} anew)") from None
                log.info("data.link_expired_refetch", endpoint=path)

    # -- one attempt ---------------------------------------------------------------------

    def _fetch_once(
        self, path: str, params: dict[str, str], cancel: CancelToken, counts: RunCounts
    ) -> Iterator[Part]:
        first = self._request_data(path, params, cancel, counts)
        target = indirection(first.value)
        part0: Part
        if isinstance(target, Link):
            body = self._download(target.url, f"{path}: its link", cancel, counts)
            part0 = Part(0, body.text, body.content_type, without_query(target.url), target.expires)
        elif isinstance(target, DataUrl):
            body = self._download(target.url, f"{path}: its data_url", cancel, counts)
            part0 = Part(
                0, body.text, body.content_type, without_query(target.url), envelope=first.text
            )
        else:
            body = first
            part0 = Part(0, body.text, body.content_type)
        info = find_chunk_info(body.value)
        yield part0
        if info is not None:
            yield from self._chunks(info, cancel, counts)

    def _chunks(self, info: ChunkInfo, cancel: CancelToken, counts: RunCounts) -> Iterator[Part]:
        """Download every chunk, at most `chunk_workers` at a time, yielding each on arrival."""
        urls = info.urls()
        if len(urls) > self.settings.max_chunks:
            raise IncompleteResult(
                f"chunk_info lists {len(urls)} chunks, more than {self.settings.max_chunks} "
                "(HARVESTER_MAX_CHUNKS)"
            )
        total_rows = 0
        pending: dict[Future[_Body], int] = {}
        next_index = 0
        window = self.chunk_workers
        downloads = cancel.linked()  # stopped when this ends, so no chunk outlives its run
        abandoned = False
        try:
            while next_index < len(urls) or pending:
                while next_index < len(urls) and len(pending) < window:
                    label = (
                        f"chunk {next_index + 1} of {len(urls)} "
                        f"({_one_line(without_query(info.chunk_file_names[next_index]))})"
                    )
                    future = self._pool.submit(self._chunk, urls[next_index], label, downloads)
                    pending[future] = next_index
                    next_index += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        body = future.result()
                    except (LinkExpired, Cancelled):
                        raise
                    except HarvesterError as exc:
                        raise IncompleteResult(str(exc)) from None
                    rows = len(body.value)
                    total_rows += rows
                    counts.bytes += body.size
                    yield Part(
                        index + 1,
                        body.text,
                        body.content_type,
                        without_query(urls[index]),
                        rows=rows,
                    )
        except (KeyboardInterrupt, GeneratorExit):
            # Ctrl-C here, or the consumer let go (Ctrl-C or a failure while storing; the close
            # may come as late as the interpreter's exit, when no worker is left to finish):
            # the run is recorded at once, not after a download hanging on a silent server
            abandoned = True
            raise
        finally:
            downloads.stop.set()
            for future in pending:
                future.cancel()
            if not abandoned:  # a chunk failed: its siblings end at their next check
                wait(pending)
        if info.rows is not None and total_rows != info.rows:
            raise IncompleteResult(
                f"the chunks hold {total_rows} rows but chunk_info.rows says {info.rows}"
            )

    def _chunk(self, url: str, label: str, cancel: CancelToken) -> _Body:
        body = self._download(url, label, cancel, None)
        if not isinstance(body.value, list):
            raise IncompleteResult(f"{label} is not a JSON array")
        return body

    # -- HTTP ----------------------------------------------------------------------------

    def _request_data(
        self, path: str, params: dict[str, str], cancel: CancelToken, counts: RunCounts
    ) -> _Body:
        """GET /data/<path>: rate budget, maintenance pause, status handling, bounded retries."""
        url = f"{self.settings.data_url}/data/{path}"
        last_cause = ""
        transient = 0
        limited = 0
        while True:
            cancel.check()
            probe = self.pause.admit()
            try:
                outcome = self._attempt(path, url, params, cancel, counts)
            finally:
                if probe:
                    self.pause.probe_done()
            if isinstance(outcome, _Body):
                return outcome
            if isinstance(outcome, _RateLimited):
                limited += 1
                if limited > MAX_429_RETRIES:
                    raise RateLimited(f"{path}: still rate limited after {limited} answers 429")
                log.warning("data.rate_limited", endpoint=path, wait_seconds=round(outcome.wait, 1))
                cancel.sleep(outcome.wait)
                continue
            last_cause = outcome
            transient += 1
            if transient >= MAX_ATTEMPTS:
                raise ServerError(f"{path}: gave up after {transient} attempts: {last_cause}")
            delay = backoff_delay(transient - 1, 2.0, 60.0, self.rng)
            log.warning(
                "data.retry",
                endpoint=path,
                cause=last_cause,
                attempt=transient,
                wait_seconds=round(delay, 1),
            )
            cancel.sleep(delay)

    def _attempt(
        self,
        path: str,
        url: str,
        params: dict[str, str],
        cancel: CancelToken,
        counts: RunCounts,
    ) -> _Body | _RateLimited | str:
        """One request: a body, a 429 (with the wait until the reset), or a transient cause;
        raises the outcomes that end the run."""
        self.budget.acquire(cancel)
        try:
            response = bounded_get(
                self.http,
                url,
                path,
                self.limits,
                cancel,
                params=params,
                auth=self.auth,
                headers={"Accept": "application/json"},
            )
        except httpx.RequestError as exc:
            counts.requests += 1
            return _transport_cause(exc)
        except ApiError:  # answered, then refused: too large, too slow, an unknown encoding
            counts.requests += 1
            raise
        counts.requests += 1
        counts.bytes += len(response.content)
        self.budget.update(response.headers)
        state = self.budget.state()
        if state.remaining is not None and abs(state.remaining) <= MAX_STORED_INT:
            counts.ratelimit_remaining = state.remaining  # (a 2**70 header is not kept)
        outcome = self._judge(path, response)
        if outcome == "rate_limited":
            return _RateLimited(self.budget.on_429(response.headers))
        return outcome

    def _judge(self, path: str, response: httpx.Response) -> _Body | str:
        """A usable body, "rate_limited", or a transient cause to retry; raises the rest."""
        status = response.status_code
        if status == 503 and _is_maintenance(response):
            resume = self.pause.enter()
            log.warning("data.maintenance", endpoint=path)
            raise Maintenance(f"{path}: iRacing is in maintenance (503 Site Maintenance)", resume)
        if status == 429:
            self.pause.answered()
            return "rate_limited"
        if status >= 500:
            return f"HTTP {status}" + (" (an HTML page)" if _is_html(response) else "")
        self.pause.answered()
        if status == 200:
            try:
                return _decode(response)
            except ValueError as exc:
                return f"an unreadable body ({exc})"
        message = _server_message(response)
        if status == 400:
            raise BadRequest(f"{path}: bad request: {message}", status)
        if status == 401:
            # a newer token was tried (for this request or an earlier 401) and the 401 persisted:
            # the member may not see this,
            # e.g. a subsession of a session they were not in
            raise Forbidden(f"{path}: unauthorized (401) after a new token: {message}", 401)
        if status == 403:
            raise Forbidden(f"{path}: forbidden: {message}", status)
        if status == 404:
            raise NotFound(f"{path}: not found: {message}", status)
        raise ApiError(f"{path}: unexpected HTTP {status}: {message}", status)

    def _download(
        self, url: str, label: str, cancel: CancelToken, counts: RunCounts | None
    ) -> _Body:
        """GET a pre-signed link: no Authorization header, no rate budget, bounded retries."""
        target = self.links.check(url, label)  # parsed once: checked, watched, sent
        trace = watch_connection(self.links, target, label)  # a name: judged on its address
        extensions = {"trace": trace} if trace is not None else {}
        last_cause = ""
        for _ in Retries(MAX_ATTEMPTS, 1.0, 30.0, self.rng, cancel.sleep):
            cancel.check()
            try:
                response = bounded_get(
                    self.http,
                    target,
                    label,
                    self.limits,
                    cancel,
                    headers={"Accept": "*/*"},
                    extensions=extensions,
                )
            except httpx.RequestError as exc:
                last_cause = _transport_cause(exc)
                continue
            if counts is not None:
                counts.bytes += len(response.content)
            status = response.status_code
            if status == 200:
                try:
                    return _decode(response)
                except ValueError as exc:
                    last_cause = f"an unreadable body ({exc})"
                    continue
            if status == 403:
                raise LinkExpired(f"{label} has expired (403 from the link)", 403)
            if status >= 500:
                last_cause = f"HTTP {status}" + (" (an HTML page)" if _is_html(response) else "")
                continue
            raise ApiError(f"{label} failed: HTTP {status} from the link", status)
        raise ServerError(f"{label} failed after {MAX_ATTEMPTS} attempts: {last_cause}")


def _decode(response: httpx.Response) -> _Body:
    """The exact text of a body and its parsed value; ValueError if it is not what it claims,
    or if the archive could not keep it: a NUL character, which PostgreSQL's text cannot hold,
    is refused on both backends alike (a JSON `\\u0000` escape is text, and stores).

    The text is what UTF-8 decodes the bytes to, as the Encoding Standard's UTF-8 decode does:
    a leading byte-order mark is the encoding's mark, not the document's first character, and
    is dropped here, where documents enter, so everything downstream (the stored body, its
    hash, SQLite's json_extract, the row views, the tables) sees the same text. A second one is
    text that no JSON parser reads, and is refused."""
    text = response.content.decode("utf-8").removeprefix(BOM)
    if text.startswith(BOM):
        raise ValueError("a second byte-order mark (U+FEFF) where the document begins")
    if "\x00" in text:
        raise ValueError("a NUL character (U+0000), which the archive cannot store")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    size = len(response.content)
    if content_type in _CSV_TYPES or (content_type in _UNTYPED and _looks_like_csv(text)):
        return _Body(text, "text/csv", None, size)
    if _looks_like_html(text):
        raise ValueError("an HTML page instead of JSON")
    return _Body(text, "application/json", parse_json(text), size)


BOM = "\ufeff"
_CSV_TYPES = ("text/csv", "application/csv")
# S3 objects often carry no useful type: then the body says what it is
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream", "text/plain")


def _looks_like_csv(text: str) -> bool:
    """A header line of comma-separated names, and not JSON."""
    head = text.lstrip()
    first = head.split("\n", 1)[0]
    return bool(head) and head[0] not in '[{"' and "," in first


def _is_maintenance(response: httpx.Response) -> bool:
    try:
        body = parse_json(response.text)
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("error", "")).lower() == "site maintenance"


def _is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "") or _looks_like_html(
        response.text[:200]
    )


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:20].lower()
    return head.startswith(("<!doctype", "<html"))


def _server_message(response: httpx.Response) -> str:
    """The server's own words about an error, short, on one line and without secrets."""
    try:
        body = parse_json(response.text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [
            str(body[key])
            for key in ("error", "message", "note", "error_description")
            if body.get(key)
        ]
        if parts:
            return _one_line(redact_text("; ".join(parts))[:300])
    text = response.text.strip()
    if not text:
        return f"HTTP {response.status_code} with an empty body"
    if _looks_like_html(text):
        return f"HTTP {response.status_code} (an HTML page)"
    return _one_line(redact_text(text[:200]))


def _one_line(text: str) -> str:
    """Server text fit for an error message: whitespace folded, anything unprintable escaped
    (a lone surrogate from a JSON `\\ud800` escape could not even be stored)."""
    return printable(" ".join(text.split()))


def _transport_cause(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, BrokenEncoding):
        return str(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed mid-answer (a truncated body)"
    return f"network error ({type(exc).__name__})"
