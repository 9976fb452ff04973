"""The running service's endpoint, for tests that look inside it (narrowed: a service that
runs no endpoint fails the test here, with the reason, not later as an AttributeError)."""

from __future__ import annotations

from harvester.service import Service
from harvester.web.server import WebServer
from harvester.web.watch import Watch


def watch_of(service: Service) -> Watch:
    assert service.watch is not None, "the service runs no endpoint (HARVESTER_HTTP=off?)"
    return service.watch


def server_of(service: Service) -> WebServer:
    server = watch_of(service).server
    assert server is not None, "the service's watch serves no HTTP"
    return server
