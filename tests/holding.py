"""Hold one request of the simulator until the test releases it, so a kill or a Ctrl-C lands
at a known point of a run (not after a timer): the requests before it are certainly answered,
the held one and those after it certainly not."""

from __future__ import annotations

import threading
from collections.abc import Callable

from harvester.simulator.messages import SimRequest, SimResponse

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
