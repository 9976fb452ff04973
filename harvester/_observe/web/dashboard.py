"""The dashboard at `/`: one self-contained HTML page (inline CSS and SVG, no script, nothing
fetched from elsewhere) that refreshes itself and reflows to a phone's width."""

from __future__ import annotations

from html import escape
from typing import Any

from ..._core.clock import iso_seconds
from . import svg
from .reads import STATUSES
from .snapshot import Snapshot

REFRESH_SECONDS = 30

STYLE = """
:root{color-scheme:light dark;--fg:#1d2430;--bg:#f6f7f9;--card:#fff;--muted:#667085;--line:#e3e6eb}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--bg:#12151b;--card:#1b2029;
--muted:#98a2b3;--line:#2c3340}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.05em;margin:0 0 .5em}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px;
margin:12px 0}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.ok{background:#2e9e5b}.degraded{background:#e58a2c}.unhealthy{background:#d64545}
.muted{color:var(--muted)}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;white-space:nowrap}
td.err{max-width:40em;word-break:break-word}
svg.plot{width:100%;display:block;overflow:hidden}
svg.plot text{font-size:12px;fill:var(--muted)}svg.plot .label{fill:var(--fg);font-weight:600}
svg.plot .value{paint-order:stroke;stroke:var(--card);stroke-width:3px;stroke-linejoin:round}
section,.grid2>*{container-type:inline-size}
@container (max-width:480px){svg.plot .x-odd,svg.plot .when{display:none}}
svg.plot .grid{stroke:var(--line);stroke-width:1}
svg.plot .ref{stroke:var(--muted);stroke-dasharray:4 3}svg.plot .track{fill:var(--line)}
.legend span{display:inline-block;margin-right:12px;font-size:.85em}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.banner{background:#d64545;color:#fff;border-radius:8px;padding:10px 12px;margin:12px 0;
font-weight:600;word-break:break-word}.banner span{font-weight:400}
tr.chain-start td{border-top:2px solid var(--line)}td.step{white-space:nowrap}
"""


def render_dashboard(snap: Snapshot) -> str:
    health = snap.health.body
    sections = [
        _banner(health),
        _overview(snap, health),
        _jobs(snap.jobs),
        _chains(snap.chains),
        _feeds(snap.feeds),
        _runs_plot(snap),
        _durations(snap),
        '<div class="grid2">' + _budget(snap) + _tokens(snap) + "</div>",
        _growth(snap),
        _failures(snap.failures),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f'<meta http-equiv=refresh content="{REFRESH_SECONDS}">'
        '<link rel=icon href="data:,">'
        f"<title>harvester — {escape(health['status'])}</title><style>{STYLE}</style></head>"
        "<body><main>" + "".join(sections) + "</main></body></html>"
    )


def _overview(snap: Snapshot, health: dict[str, Any]) -> str:
    status = health["status"]
    reasons = "".join(f"<li>{escape(r)}</li>" for r in health["reasons"])
    maintenance = health["maintenance"]
    facts = [
        f"session: {escape(health['session']['state'])}",
        f"heartbeat: {health['heartbeat_age_seconds']}s ago",
        "maintenance pause since " + escape(str(maintenance["since"]))
        if maintenance["paused"]
        else "no maintenance pause",
    ]
    if snap.budget.limit is not None:
        facts.append(f"rate budget: {snap.budget.remaining} of {snap.budget.limit} left")
    failing = health["failing_jobs"]
    if failing:
        facts.append(
            "failing: "
            + ", ".join(f"{escape(f['job'])} ({f['failed_runs_in_a_row']})" for f in failing)
        )
    return (
        f'<section><h1>harvester <span class="badge {escape(status)}">{escape(status)}</span>'
        f"</h1><div class=muted>{escape(iso_seconds(snap.now))} · refreshes every "
        f"{REFRESH_SECONDS}s</div>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + "<p>"
        + " · ".join(facts)
        + "</p></section>"
    )


def _banner(health: dict[str, Any]) -> str:
    """A refused edit of jobs.yaml, above everything: the service runs the previous jobs."""
    jobs_file = health.get("jobs_file") or {}
    if jobs_file.get("state") != "rejected":
        return ""
    return (
        "<div class=banner role=alert id=config-rejected>The jobs file was refused; the "
        "service keeps running the jobs it had. "
        f"<span>{escape(str(jobs_file.get('rejected')))}</span></div>"
    )


def _cell(value: Any) -> str:
    return "<td>" + ("–" if value is None else escape(str(value))) + "</td>"


def _jobs(jobs: list[dict[str, Any]]) -> str:
    columns = (
        "job",
        "schedule",
        "next_run",
        "last_status",
        "last_success",
        "parents",
        "disabled_because",
    )
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(_cell(j.get(c)) for c in columns) + "</tr>" for j in jobs)
    return (
        f"<section><h2>Jobs ({len(jobs)})</h2><div class=scroll><table><thead><tr>{head}</tr>"
        f"</thead><tbody>{rows}</tbody></table></div></section>"
    )


def _chains(chains: list[list[dict[str, Any]]]) -> str:
    """The newest chains of runs: a run, then the runs it started (indented by depth)."""
    if not chains:
        return (
            "<section><h2>Pipeline: chains of runs</h2><p class=muted>no run has started "
            "another yet (a job with <code>for_each</code> or <code>after</code> follows its "
            "parent's runs)</p></section>"
        )
    rows = []
    for chain in chains:
        for i, run in enumerate(chain):
            step = (
                "&nbsp;&nbsp;" * run["depth"] + ("↳ " if run["depth"] else "") + escape(run["job"])
            )
            seconds = run["duration_seconds"]
            rows.append(
                f"<tr{' class=chain-start' if i == 0 else ''}><td class=step>{step}</td>"
                + _cell(run["id"])
                + _cell(run["trigger"])
                + _cell(run["status"])
                + _cell(run["started_at"])
                + _cell(None if seconds is None else f"{seconds:.1f} s")
                + "</tr>"
            )
    return (
        "<section><h2>Pipeline: the newest chains of runs</h2><div class=scroll><table><thead>"
        "<tr><th>job</th><th>run</th><th>trigger</th><th>status</th><th>started</th>"
        f"<th>took</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _short_hours(hours: list[str]) -> list[str]:
    return [f"{h[5:10]} {h[11:13]}h" for h in hours]


def _runs_plot(snap: Snapshot) -> str:
    stacks = {
        status: [snap.runs_per_hour.get((hour, status), 0) for hour in snap.hours]
        for status in STATUSES
        if any((hour, status) in snap.runs_per_hour for hour in snap.hours)
    }
    legend = "".join(
        f'<span><i style="background:{svg.STATUS_COLOURS[s]}"></i>{escape(s)}</span>'
        for s in stacks
    )
    plot = svg.stacked_bars("Runs per hour by status, 7 days", _short_hours(snap.hours), stacks)
    return (
        f"<section><h2>Runs per hour, last 7 days</h2>{plot}"
        f"<div class=legend>{legend}</div></section>"
    )


def _durations(snap: Snapshot) -> str:
    index = {hour: i for i, hour in enumerate(snap.hours)}
    plots = []
    for job, points in sorted(snap.durations.items()):
        mean: list[float | None] = [None] * len(snap.hours)
        longest: list[float | None] = [None] * len(snap.hours)
        for hour, m, x in points:
            if hour in index:
                mean[index[hour]] = m
                longest[index[hour]] = x
        plots.append(
            f"<div><h2>{escape(job)}</h2>"
            + svg.lines(
                f"{job}: run duration per hour (mean, longest)",
                _short_hours(snap.hours),
                {"mean": mean, "longest": longest},
                unit="s",
            )
            + "</div>"
        )
    body = "".join(plots) or "<p class=muted>no runs in the last 7 days</p>"
    return (
        "<section><h2>Run duration per job (mean and longest per hour)</h2>"
        f'<div class="grid2">{body}</div></section>'
    )


def _budget(snap: Snapshot) -> str:
    index = {hour: i for i, hour in enumerate(snap.hours)}
    low: list[float | None] = [None] * len(snap.hours)
    for hour, remaining in snap.budget_per_hour:
        if hour in index:
            low[index[hour]] = remaining
    limit = snap.budget.limit
    plot = svg.lines(
        "Rate budget: fewest requests left per hour",
        _short_hours(snap.hours),
        {"fewest left": low},
        floor=float(limit) if limit is not None else None,
    )
    caption = f"limit {limit} per window (dashed)" if limit is not None else "limit not seen yet"
    return (
        f"<section><h2>Rate budget used</h2>{plot}<div class=muted>fewest requests left in "
        f"the window, per hour; {escape(caption)}</div></section>"
    )


def _tokens(snap: Snapshot) -> str:
    now = snap.now
    items = []
    s = snap.session
    for label, at, full in (
        ("access token", s.access_expires_at, 600.0),
        ("refresh token", s.refresh_expires_at, 7 * 86400.0),
    ):
        if at is None:
            continue
        left = at - now
        caption = expiry_text(left)
        if left <= 0 and label == "access token" and s.refresh_held:
            caption += ", renewed at the next run"  # normal between runs
        items.append((label, left, max(full, left), caption, iso_seconds(at)))
    blocked = (
        f"<p>password logins blocked until {escape(iso_seconds(s.blocked_until))}</p>"
        if s.blocked_until
        else ""
    )
    return (
        f"<section><h2>Token expiries</h2>{svg.gauges('Token expiries', items)}{blocked}</section>"
    )


def expiry_text(left: float) -> str:
    """`expires in 6 min` or `expired 3 min ago`, from the seconds left."""
    return f"expires in {span(left)}" if left > 0 else f"expired {span(-left)} ago"


def span(seconds: float) -> str:
    """A duration for people: 40 s, 6 min, 2.5 h, 3.0 d."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _growth(snap: Snapshot) -> str:
    days = [d for d, _, _ in snap.growth]
    plot = svg.lines(
        "Archive growth: distinct documents",
        [d[5:] for d in days],
        {"documents": [float(n) for _, n, _ in snap.growth]},
    )
    size = svg.lines(
        "Archive growth: bytes",
        [d[5:] for d in days],
        {"bytes": [float(b) for _, _, b in snap.growth]},
        unit="B",
    )
    return (
        "<section><h2>Archive growth (distinct documents and their bytes, by day)</h2>"
        f'<div class="grid2"><div>{plot}</div><div>{size}</div></div></section>'
    )


def _failures(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return "<section><h2>Last failures</h2><p class=muted>none</p></section>"
    rows = "".join(
        f"<tr>{_cell(f['id'])}{_cell(f['job'])}{_cell(f['status'])}{_cell(f['started_at'])}"
        f"<td class=err>{escape(f['error'] or '–')}</td></tr>"
        for f in failures
    )
    return (
        "<section><h2>Last failures</h2><div class=scroll><table><thead><tr><th>run</th>"
        "<th>job</th><th>status</th><th>started</th><th>error</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def _feeds(feeds: list[dict[str, Any]]) -> str:
    """The feeds card: per feed, what waits, what was told, what failed and why (no URL)."""
    if not feeds:
        return ""
    columns = ("feed", "pending", "sent", "failed", "last_sent_at", "last_error")
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + "".join(_cell(f.get(c)) for c in columns[:-1])
        + f"<td class=err>{escape(f.get('last_error') or '–')}</td></tr>"
        for f in feeds
    )
    return (
        f"<section><h2>Feeds ({len(feeds)})</h2><div class=scroll><table><thead><tr>{head}"
        f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )
