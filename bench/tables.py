"""(h) The analysis-ready tables: queries against raw JSON, rebuild throughput, harvest cost.

An archive of DOCS results/get documents (about 40 session_results rows each: a qualifying and
a race of 20 drivers; one in twenty subsessions fetched twice, as re-polls do) is stored raw,
then `harvester tables rebuild` derives the tables. Measured side by side in one run:

(i)   three questions users ask, each on the tables and as the same answer from the raw JSON
      (`json_each` over the newest `results/get` document of each subsession, so re-polls
      count once there too), through `harvester query`'s read-only connection, median of REPS:
      one driver's last 100 races with their iRating change; the top 20 by wins in a season;
      average incidents per series. The answers are checked equal;
(ii)  `tables rebuild` (every table, built beside the live ones and swapped in) against a bare
      loop: `json.loads` of the same documents and one `executemany` of the same subsession
      and session_results rows into tables of the same schema: wall time, CPU time
      (`time.process_time`) and the bytes the process wrote (`/proc/self/io` `write_bytes`:
      the pages it dirtied, database and WAL alike; `wchar`, every byte handed to write(), in
      the note), each side measured alone;
(iv)  the peak memory (tracemalloc) of deriving one large results/get document (LARGE_ROWS
      result rows), its text parsed before: streamed in batches as the keeper does, against
      every row held at once (what deriving did before it streamed);
(iii) the CPU a stored document costs on the harvest path (`Runner.run` of a results/get job:
      open the run, fetch a link and its document, store, close), with the tables kept
      current against without (`Archive.tables = None`). The documents are replayed from
      memory (a new one each run, so each is stored, not deduplicated): the simulator's own
      work of building them would otherwise be counted on both sides and hide the cost.
"""

from __future__ import annotations

import gc
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harvester._archive.archive import canonical_params, content_hash
from harvester._config.jobs import JobSpec
from harvester._core.clock import ManualClock
from harvester._service.runtime import open_runtime
from harvester._store.db import open_database
from harvester._store.query import run_query
from harvester._tables.rebuild import rebuild
from harvester._tables.schema import METADATA, TABLES
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import MB, BenchError, Goal, Options, Result, cpu_best_of, scratch, sim_settings

SCENARIO = "tables"
QUERY_GOAL = Goal("<", 50.0, "< 50 ms", on="harvester")
REBUILD_GOAL = Goal("<=", 2.0, "≤ 2×")
REBUILD_CPU_GOAL = Goal("<=", 1.5, "≤ 1.5×")
REBUILD_BYTES_GOAL = Goal("<=", 2.0, "≤ 2×")
HARVEST_GOAL = Goal("<=", 1.3, "≤ +30 %")
DRIVERS = 4000
ME = 77  # the driver whose races are asked for: in about one race in ten
SERIES = 20
START = 1_759_300_000  # 2025-10-01

QUERIES = {
    "one driver's last 100 races with iRating change": (
        """SELECT s.start_time, s.series_name, r.oldi_rating, r.newi_rating - r.oldi_rating
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE r.cust_id = 77 AND r.simsession_number = 0
ORDER BY s.start_time DESC, s.subsession_id DESC LIMIT 100""",
        """SELECT json_extract(l.body, '$.start_time') AS start_time,
       json_extract(l.body, '$.series_name'), json_extract(r.value, '$.oldi_rating'),
       json_extract(r.value, '$.newi_rating') - json_extract(r.value, '$.oldi_rating')
FROM latest_results AS l, json_each(l.body, '$.session_results') AS s,
     json_each(s.value, '$.results') AS r
WHERE l.endpoint = 'results/get' AND json_extract(s.value, '$.simsession_number') = 0
  AND json_extract(r.value, '$.cust_id') = 77
ORDER BY start_time DESC, json_extract(l.body, '$.subsession_id') DESC LIMIT 100""",
    ),
    "top 20 by wins in a season": (
        """SELECT r.cust_id, count(*) AS wins
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE s.season_id = 6004 AND r.simsession_number = 0 AND r.finish_position = 0
GROUP BY r.cust_id ORDER BY wins DESC, r.cust_id LIMIT 20""",
        """SELECT json_extract(r.value, '$.cust_id') AS cust_id, count(*) AS wins
FROM latest_results AS l, json_each(l.body, '$.session_results') AS s,
     json_each(s.value, '$.results') AS r
WHERE l.endpoint = 'results/get' AND json_extract(l.body, '$.season_id') = 6004
  AND json_extract(s.value, '$.simsession_number') = 0
  AND json_extract(r.value, '$.finish_position') = 0
GROUP BY cust_id ORDER BY wins DESC, cust_id LIMIT 20""",
    ),
    "average incidents per series": (
        """SELECT s.series_id, round(avg(r.incidents), 6)
FROM session_results AS r JOIN subsessions AS s ON s.subsession_id = r.subsession_id
WHERE r.simsession_number = 0 GROUP BY s.series_id ORDER BY s.series_id""",
        """SELECT json_extract(l.body, '$.series_id') AS series_id,
       round(avg(json_extract(r.value, '$.incidents')), 6)
FROM latest_results AS l, json_each(l.body, '$.session_results') AS s,
     json_each(s.value, '$.results') AS r
WHERE l.endpoint = 'results/get' AND json_extract(s.value, '$.simsession_number') = 0
GROUP BY series_id ORDER BY series_id""",
    ),
}


def run(options: Options) -> list[Result]:
    docs = 500 if options.quick else 20_000
    reps = 2 if options.quick else 5
    with scratch(SCENARIO) as folder:
        url = f"sqlite:///{folder / 'archive.db'}"
        rows = _build_raw(url, docs)
        engine = open_database(url)
        with _cost() as ours:
            report = rebuild(engine)
            engine.dispose()  # the last connection checkpoints the WAL into the database
        bare, bare_rows = _bare_rebuild(url, folder / "bare.db")
        if bare_rows != (report.rows["subsessions"], report.rows["session_results"]):
            raise BenchError(f"bare rows {bare_rows} differ from the tables' {report.rows}")
        results = _queries(url, reps, report.rows["session_results"])
    per_doc = _harvest_cpu(options)
    streamed, held, text_mb = _derive_peak(options)
    results.append(
        Result(
            SCENARIO,
            "peak memory deriving a large results/get document, streamed vs all rows held",
            "MB",
            streamed / MB,
            held / MB,
            streamed / held,
            "ratio",
            None,
            f"a {text_mb:,.1f} MB document, parsed before; tracemalloc's peak",
        )
    )
    note = (
        f"{report.results:,} results/get documents ({rows:,} result rows, one subsession in "
        f"twenty polled twice) -> {report.rows['session_results']:,} session_results rows"
    )
    results.append(
        Result(
            SCENARIO,
            "tables rebuild vs json.loads + executemany (wall)",
            "s",
            ours.wall,
            bare.wall,
            ours.wall / bare.wall,
            "ratio",
            REBUILD_GOAL,
            note,
        )
    )
    results.append(
        Result(
            SCENARIO,
            "tables rebuild vs json.loads + executemany (CPU)",
            "s",
            ours.cpu,
            bare.cpu,
            ours.cpu / bare.cpu,
            "ratio",
            REBUILD_CPU_GOAL,
            readme=True,  # #26's rebuild goals: CPU and bytes, beside the wall time
        )
    )
    results.append(
        Result(
            SCENARIO,
            "tables rebuild vs json.loads + executemany (bytes written)",
            "MB",
            ours.written / MB,
            bare.written / MB,
            ours.written / max(bare.written, 1),
            "ratio",
            REBUILD_BYTES_GOAL,
            f"write() calls: {ours.handed / MB:,.0f} MB vs {bare.handed / MB:,.0f} MB",
            readme=True,
        )
    )
    on, off = per_doc
    results.append(
        Result(
            SCENARIO,
            "CPU per stored results/get document, Runner.run, tables on vs off",
            "µs/doc",
            on,
            off,
            on / off,
            "ratio",
            HARVEST_GOAL,
        )
    )
    return results


# -- the archive -----------------------------------------------------------------------------


def _row(rng: random.Random, cust: int, pos: int, race: bool) -> dict[str, Any]:
    oldi = 1000 + (cust * 37) % 3000
    delta = rng.randint(-60, 60) if race else 0
    return {
        "cust_id": cust,
        "display_name": f"Driver {cust}",
        "aggregate_champ_points": 0,
        "ai": False,
        "average_lap": 900_000 + rng.randint(0, 60_000),
        "best_lap_num": rng.randint(1, 20),
        "best_lap_time": 890_000 + rng.randint(0, 50_000),
        "car_class_id": 2708,
        "car_class_name": "GT3 Class",
        "car_id": 119,
        "car_name": "Porsche 911 GT3 R",
        "champ_points": max(0, 120 - 6 * pos) if race else 0,
        "class_interval": pos * 31_000,
        "club_id": cust % 40,
        "club_name": f"Club {cust % 40}",
        "club_points": 0,
        "country_code": "NL",
        "division": cust % 10,
        "division_name": f"Division {cust % 10 + 1}",
        "drop_race": False,
        "finish_position": pos,
        "finish_position_in_class": pos,
        "flair_id": 155,
        "flair_name": "Netherlands",
        "incidents": rng.choice((0, 0, 0, 1, 2, 2, 4, 4, 6, 8)),
        "interval": pos * 31_000,
        "laps_complete": 20,
        "laps_lead": 8 if pos == 0 else 0,
        "new_cpi": 70.5,
        "new_license_level": 18,
        "new_sub_level": 341,
        "new_ttrating": 1350,
        "newi_rating": oldi + delta,
        "old_cpi": 70.1,
        "old_license_level": 18,
        "old_sub_level": 338,
        "old_ttrating": 1350,
        "oldi_rating": oldi,
        "position": pos,
        "qual_lap_time": -1,
        "reason_out": "Running",
        "reason_out_id": 0,
        "starting_position": pos if race else -1,
        "starting_position_in_class": pos if race else -1,
        "weight_penalty_kg": -1,
    }


def results_document(i: int, version: int = 0) -> dict[str, Any]:
    """Subsession i's results/get document (`version` > 0: a re-poll with a correction)."""
    pick = random.Random(i)  # who raced, in which order: the same in every version
    rng = random.Random(i * 7919 + version)  # the figures: a re-poll corrects some
    series = i % SERIES
    quarter = 3 if i % 2 else 4
    drivers = pick.sample(range(1, DRIVERS + 1), 20)
    if ME not in drivers and pick.random() < 0.1:
        drivers[pick.randrange(20)] = ME
    start = START + i * 300
    sessions = []
    for number, name, kind in ((-1, "QUALIFY", 4), (0, "RACE", 6)):
        order = drivers[:] if number == 0 else pick.sample(drivers, 20)
        sessions.append(
            {
                "simsession_number": number,
                "simsession_name": name,
                "simsession_type": kind,
                "simsession_type_name": name.title(),
                "simsession_subtype": 0,
                "results": [_row(rng, c, p, number == 0) for p, c in enumerate(order)],
            }
        )
    return {
        "subsession_id": 90_000_000 + i,
        "session_id": 300_000_000 + i,
        "series_id": 200 + series,
        "series_name": f"Series {series}",
        "series_short_name": f"S{series}",
        "season_id": 6000 + series if quarter == 4 else 5000 + series,
        "season_name": f"Series {series} - 2025 Season {quarter}",
        "season_short_name": f"2025 Season {quarter}",
        "season_year": 2025,
        "season_quarter": quarter,
        "race_week_num": (i // 400) % 12,
        "event_type": 5,
        "event_type_name": "Race",
        "official_session": True,
        "license_category_id": 5,
        "license_category": "Sports Car",
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "end_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 2700)),
        "num_drivers": 20,
        "event_strength_of_field": 1800 + rng.randint(0, 400),
        "num_cautions": 0,
        "num_caution_laps": 0,
        "num_lead_changes": rng.randint(0, 5),
        "event_laps_complete": 20,
        "event_average_lap": 910_000,
        "event_best_lap_time": 890_000,
        "private_session_id": -1,
        "track": {
            "track_id": 300 + i % 30,
            "track_name": f"Track {i % 30}",
            "config_name": "Grand Prix",
            "category_id": 2,
            "category": "Road",
        },
        "weather": {"temp_value": 70 + version},
        "session_results": sessions,
    }


def _polls(docs: int) -> Iterator[tuple[int, int]]:
    """(subsession index, version) in fetch order: one in twenty fetched again, later."""
    distinct = docs * 20 // 21
    for i in range(distinct):
        yield i, 0
        if i % 20 == 19:
            yield i - 10, 1


def _build_raw(url: str, docs: int) -> int:
    """The raw archive, written as `Archive.store_result` would (one run, part 0 each, the
    `latest` pointer), with plain sqlite3 for speed. Returns the number of result rows."""
    open_database(url).dispose()
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO runs (id, job, trigger, status, started_at) "
        "VALUES (1, 'details', 'bench', 'success', '2025-10-01T00:00:00Z')"
    )
    rows = 0
    for part_id, (i, version) in enumerate(_polls(docs), start=1):
        document = results_document(i, version)
        rows += sum(len(s["results"]) for s in document["session_results"])
        body = json.dumps(document, separators=(",", ":"))
        digest = content_hash(body)
        params = canonical_params({"subsession_id": str(document["subsession_id"])})
        at = document["end_time"]
        conn.execute(
            "INSERT OR IGNORE INTO documents VALUES (?, ?, ?, 'application/json', ?)",
            (digest, body, len(body), at),
        )
        conn.execute(
            "INSERT INTO result_parts (id, result_id, run_id, job, endpoint, params, fetched_at,"
            " part, sha256) VALUES (?, ?, 1, 'details', 'results/get', ?, ?, 0, ?)",
            (part_id, part_id, params, at, digest),
        )
        conn.execute(
            "INSERT OR REPLACE INTO latest VALUES ('details', 'results/get', ?, ?)",
            (params, part_id),
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return rows


# -- (ii) the bare rebuild ---------------------------------------------------------------------

_SUB_COLUMNS = [c.name for c in TABLES["subsessions"].columns]
_RESULT_COLUMNS = [c.name for c in TABLES["session_results"].columns]


@dataclass
class Cost:
    """What a side of (ii) cost: wall and CPU seconds, bytes dirtied and bytes handed to write()."""

    wall: float = 0.0
    cpu: float = 0.0
    written: int = 0
    handed: int = 0


def _io() -> dict[str, int]:
    lines = Path("/proc/self/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


@contextmanager
def _cost() -> Iterator[Cost]:
    """Measure the block: wall, CPU (every thread) and bytes written (/proc/self/io)."""
    cost = Cost()
    gc.collect()
    io, cpu, wall = _io(), time.process_time(), time.perf_counter()
    yield cost
    cost.wall, cost.cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _io()
    cost.written = after["write_bytes"] - io["write_bytes"]
    cost.handed = after["wchar"] - io["wchar"]


def _bare_rebuild(url: str, path: Path) -> tuple[Cost, tuple[int, int]]:
    """json.loads of every stored document and one executemany of the same rows."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    METADATA.create_all(engine, tables=[TABLES["subsessions"], TABLES["session_results"]])
    engine.dispose()
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    target = sqlite3.connect(path, isolation_level=None)
    target.execute("PRAGMA journal_mode = WAL")
    measuring = _cost()
    cost = measuring.__enter__()
    subs: list[tuple[Any, ...]] = []
    results: list[tuple[Any, ...]] = []
    bodies = source.execute(
        "SELECT d.body FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256 "
        "WHERE p.part = 0 AND p.endpoint = 'results/get' ORDER BY p.id"
    )
    for (body,) in bodies:
        d = json.loads(body)
        track = d["track"]
        top = {**d, "track_id": track["track_id"], "track_name": track["track_name"]}
        subs.append(tuple(top.get(c) for c in _SUB_COLUMNS))
        for s in d["session_results"]:
            extra = {"subsession_id": d["subsession_id"], **s}
            for r in s["results"]:
                row = {**r, **extra}
                results.append(tuple(row.get(c) for c in _RESULT_COLUMNS))
    marks = ", ".join("?" * len(_SUB_COLUMNS))
    target.execute("BEGIN")
    target.executemany(f"INSERT OR REPLACE INTO subsessions VALUES ({marks})", subs)
    marks = ", ".join("?" * len(_RESULT_COLUMNS))
    target.executemany(f"INSERT OR REPLACE INTO session_results VALUES ({marks})", results)
    target.execute("COMMIT")
    target.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the pages into the database, as ours
    measuring.__exit__(None, None, None)
    counts = (
        target.execute("SELECT count(*) FROM subsessions").fetchone()[0],
        target.execute("SELECT count(*) FROM session_results").fetchone()[0],
    )
    source.close()
    target.close()
    return cost, counts


# -- (i) queries --------------------------------------------------------------------------------


def _median_ms(url: str, sql: str, reps: int) -> tuple[float, list[tuple[Any, ...]]]:
    rows = run_query(url, sql, timeout=600)[1]  # warm-up: the OS cache filled
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run_query(url, sql, timeout=600)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def _queries(url: str, reps: int, table_rows: int) -> list[Result]:
    out = []
    for name, (on_tables, on_raw) in QUERIES.items():
        ours, answer = _median_ms(url, on_tables, reps)
        raw, raw_answer = _median_ms(url, on_raw, min(reps, 2))
        if [tuple(r) for r in answer] != [tuple(r) for r in raw_answer] or not answer:
            raise BenchError(f"{name}: the tables and the raw JSON answer differently")
        out.append(
            Result(
                SCENARIO,
                f"{name} (tables vs raw JSON)",
                "ms",
                ours,
                raw,
                ours / raw,
                "ratio",
                QUERY_GOAL,
                f"{raw / ours:,.0f}× faster (goal ≥ 50×: {_met(raw >= 50 * ours)}); "
                f"{table_rows:,} session_results rows",
            )
        )
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- (iv) the memory of a large document ---------------------------------------------------------

LARGE_ROWS = 20_000


def _derive_peak(options: Options) -> tuple[int, int, float]:
    """Peak bytes deriving one large document: streamed (each batch let go, as the writer
    does) and with every row held (`rows_of`); and the document's size in MB."""
    import tracemalloc

    from harvester._tables.derive import Derivation, rows_of
    from harvester._tables.keeper import parse_document
    from harvester._tables.source import Source

    rows = LARGE_ROWS // 10 if options.quick else LARGE_ROWS
    document = results_document(1)
    race = document["session_results"][1]
    race["results"] = [_row(random.Random(i), i, i % 60, True) for i in range(rows)]
    text = json.dumps(document, separators=(",", ":"))
    peaks = []
    for hold in (False, True):
        parsed = parse_document(text)
        gc.collect()
        tracemalloc.start()
        source = Source("results/get", {}, parsed, [])
        if hold:
            rows_of(source)
        else:
            for _ in Derivation(source, 1):
                pass
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del parsed
    return peaks[0], peaks[1], len(text) / MB


# -- (iii) the harvest path ---------------------------------------------------------------------

JOB = JobSpec(name="bench_details", endpoint="results/get", params={"subsession_id": "1"})


REPLAY_HOST = "replay.invalid"  # where the replayed links point: a download host in the settings


class _Replay(httpx.BaseTransport):
    """results/get answers a link; the link gives the next prepared document. The rest (the
    OAuth flow) is the simulator's."""

    def __init__(self, sim: Simulator, bodies: Iterator[bytes]) -> None:
        self.sim = SimulatorTransport(sim)
        self.bodies = bodies

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/data/results/get":
            link = {"link": f"https://{REPLAY_HOST}/doc.json", "expires": "2099-01-01T00:00:00Z"}
            return httpx.Response(200, json=link, request=request)
        if request.url.host == REPLAY_HOST:
            body = next(self.bodies)
            headers = {"content-type": "application/json"}
            return httpx.Response(200, content=body, headers=headers, request=request)
        return self.sim.handle_request(request)


def _harvest_cpu(options: Options) -> tuple[float, float]:
    n = 100 if options.quick else 400
    reps = 2 if options.quick else 3
    total = 2 * n * reps + 40
    bodies = iter(
        [json.dumps(results_document(i), separators=(",", ":")).encode() for i in range(total)]
    )
    clock = ManualClock()
    sim = Simulator(SimConfig(rate_limit=None, access_token_lifetime=10**9), clock)
    with scratch(SCENARIO + "-harvest") as folder:
        # the links point at the replay host: allowed as a user allows a download host
        # (HARVESTER_DOWNLOAD_HOSTS), not by loosening the link policy
        settings = sim_settings(folder, sim.base_url, download_hosts=(REPLAY_HOST,))
        with open_runtime(settings, transport=_Replay(sim, bodies), clock=clock) as rt:
            rt.session.login()
            keeper = rt.archive.tables

            def runs(tables_on: bool, count: int) -> None:
                rt.archive.tables = keeper if tables_on else None
                for _ in range(count):
                    clock.advance(1.0)
                    outcome = rt.runner.run(JOB)
                    if not outcome.ok:
                        raise BenchError(outcome.summary())

            runs(True, 20)
            runs(False, 20)
            best = cpu_best_of({"on": lambda: runs(True, n), "off": lambda: runs(False, n)}, reps)
            rt.archive.tables = keeper
    return best["on"] / n * 1e6, best["off"] / n * 1e6
