"""Real-sized results/get documents, and a transport that replays them.

The documents are the simulator's own results/get answers for finished subsessions (40 to 76 KB
each: every driver's row of a qualifying and a race, with the names' non-ASCII letters as
`\\u` escapes), fetched once through its link, then replayed from memory: building them is the
simulator's work, which would otherwise be counted on both sides of a comparison and hide what
storing them costs.
"""

from __future__ import annotations

import json
import threading

import httpx

from harvester._core.clock import ManualClock
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.world import WorldConfig

from .common import BenchError, password_grant

REPLAY_HOST = "replay.invalid"  # where replayed links point: a download host in the settings
ENDPOINT = "results/get"
DAY = 86_400


def results_get_bodies(count: int) -> list[bytes]:
    """The results/get documents of `count` finished subsessions, as the simulator sends them."""
    origin = WorldConfig().origin
    days = 2 + count // 100  # about 145 official subsessions end each day in the default world
    clock = ManualClock(origin + (days + 1) * DAY)  # every race of those days has finished
    sim = Simulator(SimConfig(rate_limit=None, access_token_lifetime=10**9), clock)
    ids = sim.world.subsessions_ending_between(origin, origin + days * DAY)[:count]
    if len(ids) < count:
        raise BenchError(f"{days} days of the simulated world end {len(ids)} subsessions")
    bodies = []
    with httpx.Client(transport=SimulatorTransport(sim)) as http:
        auth = {"Authorization": f"Bearer {password_grant(http, sim.oauth_url)}"}
        for subsession_id in ids:
            answer = http.get(
                f"{sim.base_url}/data/{ENDPOINT}",
                params={"subsession_id": subsession_id},
                headers=auth,
            )
            if answer.status_code != 200:
                raise BenchError(f"results/get {subsession_id}: HTTP {answer.status_code}")
            document = http.get(json.loads(answer.content)["link"])
            if document.status_code != 200:
                raise BenchError(f"results/get {subsession_id}'s link: {document.status_code}")
            bodies.append(document.content)
    return bodies


def mean_kb(bodies: list[bytes]) -> float:
    return sum(len(body) for body in bodies) / len(bodies) / 1000


class InTurn:
    """The bodies in turn, forever; after each full round one more trailing space is added
    (still the same JSON), so no two are the same text and none is stored as a duplicate."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.served = 0
        self._lock = threading.Lock()

    def next(self) -> bytes:
        with self._lock:
            rounds, index = divmod(self.served, len(self.bodies))
            self.served += 1
        return self.bodies[index] + b" " * rounds


class Replay(httpx.BaseTransport):
    """`/data/results/get` answers a link to REPLAY_HOST, which answers the next of `bodies`
    (InTurn: each unique); everything else goes to `inner` (the simulator: OAuth, the other
    endpoints)."""

    def __init__(self, inner: httpx.BaseTransport, bodies: list[bytes]) -> None:
        self.inner = inner
        self.bodies = InTurn(bodies)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/data/{ENDPOINT}":
            link = {
                "link": f"https://{REPLAY_HOST}/results.json",
                "expires": "2099-01-01T00:00:00Z",
            }
            return httpx.Response(200, json=link, request=request)
        if request.url.host == REPLAY_HOST:
            body = self.bodies.next()
            headers = {"content-type": "application/json"}
            return httpx.Response(200, content=body, headers=headers, request=request)
        return self.inner.handle_request(request)
