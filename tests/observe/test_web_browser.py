"""The dashboard in a real browser: headless Chromium (Debian's `chromium`) driven over the
DevTools protocol loads `/` from a running service, with no console error, every plot drawn,
no sideways scrolling on a phone's width, and a screenshot saved in the test's folder."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from harvester._core.clock import ManualClock, iso_seconds
from harvester.simulator import Simulator
from tests.helpers import wait_for
from tests.observe.test_web import Running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

pytestmark = pytest.mark.slow


@pytest.fixture
def chromium_path() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing on CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    return CHROMIUM


class DevTools:
    """One page of a headless Chromium, over its DevTools websocket."""

    def __init__(self, chromium: str, profile: Path) -> None:
        import websocket

        self.process = subprocess.Popen(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        wait_for(lambda: port_file.is_file() and port_file.read_text().count("\n") >= 1, 60)
        port = int(port_file.read_text().split("\n")[0])
        targets: list[dict[str, Any]] = []

        def pages() -> bool:
            nonlocal targets
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            except httpx.HTTPError:
                return False
            return any(t["type"] == "page" for t in targets)

        wait_for(pages, 60)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} in {timeout}s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def errors(self) -> list[str]:
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            console_error = method == "Runtime.consoleAPICalled" and params.get("type") == "error"
            if method == "Runtime.exceptionThrown" or console_error:
                found.append(json.dumps(params)[:300])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"].get("text", "")[:300])
        return found

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def add_history(running: Running, clock: ManualClock, count: int = 600) -> None:
    """A week of varied runs, so every plot has something to draw."""
    rng = random.Random(3)
    rows = []
    for i in range(count):
        started = clock.now() - rng.uniform(0, 7 * 86400)
        status = rng.choices(["success", "failed", "skipped", "maintenance"], [90, 4, 4, 2])[0]
        rows.append(
            {
                "job": rng.choice(["info", "broken"]),
                "status": status,
                "started_at": iso_seconds(started),
                "finished_at": iso_seconds(started + rng.uniform(0, 40)),
                "remaining": rng.randint(20, 240),
                "error": "HTTP 500 from the server" if status == "failed" else None,
                "i": i,
            }
        )
    with running.runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, "
                "bytes, documents_new, documents_dup, rows_new, rows_dup, error, "
                "ratelimit_remaining) VALUES (:job, 'schedule', :status, :started_at, "
                ":finished_at, 1, 100, 0, 1, 0, 0, :error, :remaining)"
            ),
            rows,
        )


# every label of every plot as drawn: its size on screen (font size times the SVG's scale),
# whether it lies inside its plot, and whether it overlaps the label before it
LABELS = """
[...document.querySelectorAll('svg.plot')].flatMap((svg, n) => {
  const box = svg.getBoundingClientRect();
  let before = null;
  return [...svg.querySelectorAll('text')]
    .filter(t => getComputedStyle(t).display !== 'none' && t.getBBox().width > 0)
    .map(t => {
      const r = t.getBoundingClientRect();
      const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
      const overlaps = before !== null && Math.abs(before.bottom - r.bottom) < 1
        && r.left < before.right && before.left < r.right;
      before = r;
      return {plot: n, text: t.textContent, px: Math.round(size * 10) / 10,
              inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5,
              overlaps: overlaps};
    });
})
"""


def assert_labels_readable(browser: DevTools, where: str) -> None:
    labels = browser.evaluate(LABELS)
    assert len(labels) > 30, labels
    small = [(label["text"], label["px"]) for label in labels if label["px"] < 11]
    assert small == [], f"{where}: labels under 11 px: {small[:10]}"
    outside = [label["text"] for label in labels if not label["inside"]]
    assert outside == [], f"{where}: labels cut off at a plot's edge: {outside[:10]}"
    overlapping = [label["text"] for label in labels if label["overlaps"]]
    assert overlapping == [], f"{where}: labels drawn over each other: {overlapping[:10]}"


def token_card(browser: DevTools) -> str:
    return str(
        browser.evaluate(
            "[...document.querySelectorAll('section')].find(s => "
            "s.querySelector('h2')?.textContent === 'Token expiries').innerText"
        )
    )


@pytest.fixture
def browser(chromium_path: str, tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    tools = DevTools(chromium_path, profile)
    yield tools
    tools.close()


@pytest.fixture
def service(tmp_path: Path, sim: Simulator, clock: ManualClock) -> Iterator[Running]:
    folder = tmp_path / "service"
    folder.mkdir()
    r = Running(folder, sim, clock)
    r.runtime.session.login()
    r.start()
    wait_for(lambda: len(r.service.outcomes) == 2)
    add_history(r, clock)
    yield r
    r.close()


def test_the_dashboard_in_headless_chromium(
    browser: DevTools, service: Running, tmp_path: Path
) -> None:
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1200,
        height=1800,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.call("Page.navigate", url=service.url + "/")
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate("document.title").startswith("harvester")
    plots = browser.evaluate(
        "[...document.querySelectorAll('svg.plot')].map(s => ({w: s.getBoundingClientRect()"
        ".width, shapes: s.querySelectorAll('rect,polyline,circle').length}))"
    )
    assert len(plots) >= 6
    assert all(p["w"] > 200 for p in plots)
    assert all(p["shapes"] > 0 for p in plots), plots
    bars = browser.evaluate("document.querySelectorAll('svg.plot rect[fill]').length")
    assert bars > 100  # a week of hourly bars
    assert_labels_readable(browser, "1200 px")
    card = token_card(browser)
    assert "access token" in card and "expires in 10 min" in card, card
    assert "left" not in card and "expired" not in card, card
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "dashboard.png").write_bytes(shot)
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000

    # a phone: the page reflows, nothing scrolls sideways but the tables' own boxes
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=2,
        mobile=True,
    )
    errors = browser.errors()
    browser.events.clear()
    browser.call("Page.reload")
    browser.wait_event("Page.loadEventFired")
    width = browser.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    assert_labels_readable(browser, "390 px phone")
    phone = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "dashboard-phone.png").write_bytes(phone)
    assert errors + browser.errors() == []


def test_a_refused_jobs_file_and_a_chain_of_runs_in_headless_chromium(
    browser: DevTools, service: Running, tmp_path: Path
) -> None:
    """The banner of a refused jobs.yaml is the first thing on the page, wraps on a phone, and
    the newest chain of runs is shown as one group, the runs it started indented under it."""
    with service.runtime.engine.begin() as conn:
        first = conn.execute(
            text(
                "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, "
                "bytes, documents_new, documents_dup, rows_new, rows_dup, duration_seconds) "
                "VALUES ('search', 'schedule', 'success', '2026-01-01T00:00:00Z', "
                "'2026-01-01T00:00:01Z', 1, 10, 1, 0, 2, 0, 0.8) RETURNING id"
            )
        ).scalar_one()
        for job in ("details", "laps"):
            first = conn.execute(
                text(
                    "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, "
                    "bytes, documents_new, documents_dup, rows_new, rows_dup, parent_run_id, "
                    "duration_seconds) VALUES (:job, 'parent', 'success', "
                    "'2026-01-01T00:00:01Z', '2026-01-01T00:00:03Z', 2, 10, 2, 0, 0, 0, "
                    ":parent, 1.5) RETURNING id"
                ),
                {"job": job, "parent": first},
            ).scalar_one()
    jobs = service.service.jobs_path
    jobs.write_text(jobs.read_text().replace("every: 1h}", "every: whenever}", 1))
    assert service.service.reload() is False
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=2,
        mobile=True,
    )
    browser.call("Page.navigate", url=service.url + "/")
    browser.wait_event("Page.loadEventFired")
    banner = browser.evaluate(
        "(() => { const b = document.getElementById('config-rejected');"
        " const r = b.getBoundingClientRect();"
        " return {text: b.innerText, top: r.top, height: r.height, width: r.width,"
        " first: document.querySelector('main').firstElementChild === b,"
        " color: getComputedStyle(b).backgroundColor}; })()"
    )
    assert banner["first"] and banner["top"] < 50 and banner["height"] > 20
    assert "The jobs file was refused" in banner["text"]
    assert "jobs.info.every: 'whenever' is not a duration" in banner["text"]
    assert banner["color"] == "rgb(214, 69, 69)"
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390  # the line wraps
    steps = browser.evaluate(
        "[...document.querySelectorAll('td.step')].map(td => td.innerText.trim())"
    )
    assert steps[:3] == ["search", "↳ details", "↳ laps"]
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "dashboard-refused.png").write_bytes(shot)
    assert browser.errors() == []
