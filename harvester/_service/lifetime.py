"""The life of `harvester start` around its services: the signals, caught from the very start,
and the loop that, on PostgreSQL, puts a service that lost its lease or its database back to
standby in the same process; on SQLite it exits EXIT_STEPPED_DOWN for the unit to restart it."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from .._core.logs import get_logger
from .._core.text import error_line
from .runtime import Runtime
from .service import DATABASE_LOST, Service, ServiceOptions

if TYPE_CHECKING:
    from .._observe.web.watch import Watch

log = get_logger("harvester.service")

# `harvester start` exits with this after losing its lock where it cannot wait as standby
# (EX_TEMPFAIL: try again later; the systemd unit restarts it)
EXIT_STEPPED_DOWN = 75


class Signals:
    """SIGTERM/SIGINT (stop) and SIGHUP (reload), caught from the very start of `harvester
    start` (before the database is even opened) and passed on to the service once it exists:
    a stop asked for during start-up still ends in an orderly stop."""

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self._service: Service | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig, handler in (
            (signal.SIGTERM, self._stop),
            (signal.SIGINT, self._stop),
            (signal.SIGHUP, self._reload),
        ):
            self._previous[sig] = signal.signal(sig, handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def attach(self, service: Service) -> None:
        self._service = service
        if self.stop_requested.is_set():
            service.request_stop()

    def _stop(self, signum: int, _: FrameType | None) -> None:
        log.info("service.signal", signal=signal.Signals(signum).name)
        self.stop_requested.set()
        if self._service is not None:
            self._service.request_stop()

    def _reload(self, _: int, __: FrameType | None) -> None:
        log.info("service.signal", signal="SIGHUP")
        if self._service is not None:
            self._service.request_reload()


def run_service(
    runtime: Runtime, jobs_path: Path, options: ServiceOptions, signals: Signals
) -> int:
    """`harvester start`: run until SIGTERM or SIGINT (`signals`, installed by the caller as
    early as it can, are handed to each service once it exists). Returns the exit status: 0
    when asked to stop; EXIT_STEPPED_DOWN when the lock was lost and this database allows no
    standby (SQLite). On PostgreSQL a service that lost its lease or its database steps down
    and a new one waits as standby in this process, with the same endpoint, until it can take
    over again: one blip of the database never leaves the process stopped."""
    watch: Watch | None = None
    while True:
        service = Service(runtime, jobs_path, options, watch)
        signals.attach(service)
        lost: BaseException | None = None
        try:
            service.start()
            service.serve()
        except DATABASE_LOST as exc:
            if not service.lock.supports_standby:
                service.stop()
                raise
            lost = exc
            service.role = "stepped_down"
        except BaseException:
            service.stop()
            raise
        # serve() returns when asked to stop, or stepped down
        stepped_down = service.role == "stepped_down"
        again = (
            stepped_down and service.lock.supports_standby and not signals.stop_requested.is_set()
        )
        watch = service.stop(keep_watch=again)
        if not stepped_down or signals.stop_requested.is_set():
            return 0
        if not again:
            return EXIT_STEPPED_DOWN
        log.warning(
            "service.back_to_standby",
            pid=os.getpid(),
            cause=error_line(lost, limit=300) if lost is not None else "lost the active lock",
        )
