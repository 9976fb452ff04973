"""A webhook the alert tests send to, on loopback, and what a service's checks sent it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from tests.helpers import watch_of

if TYPE_CHECKING:
    from tests.observe.test_web import Running


class Receiver:
    """A webhook on 127.0.0.1:<ephemeral>: answers each POST with the next status of `answers`
    (then 200) and keeps the bodies it accepted."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, str]] = []
        self.attempts = 0
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 200:
                    receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/s3cr3t-key"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        return [body["text"] for body in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alerts(running: Running, receiver: Receiver) -> list[str]:
    """Run the service's checks now, wait for what they send, and return every text received."""
    watch = watch_of(running.service)
    watch.check()
    assert watch.sender is not None
    watch.sender.join()
    return receiver.texts()
