"""A hostile or drifted /data/doc is untrusted input: the catalog job refuses to store one whose
shape is wrong (a failed run with its reason; the last good catalogue stays in force), and a bad
one already stored (by an older version) is passed over for the previous good one, so no command
and no reload of the service ever crashes on it."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester._config import catalog
from harvester._config.catalog import (
    CATALOG_JOB,
    catalogue_problem,
    check_jobs,
    describe,
    diff,
    entry,
    listing,
    parse_catalogue,
    stored_catalogues,
)
from harvester._config.jobs_yaml import parse_jobs
from harvester._service.runtime import Runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import RunningSimulator, Simulator
from harvester.simulator.world import World
from tests.helpers import (
    FAST,
    CliResult,
    db_rows,
    env_for,
    make_settings,
    start_harvester,
    wait_for,
)

HOSTILE_VALUES: list[Any] = [["x"], "x", 7, True]

# (what is wrong, catalog_changes giving it to the simulator's /data/doc)
HOSTILE: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"parameters-{type(v).__name__}", {"results": {"get": {"parameters": v}}})
        for v in HOSTILE_VALUES
    ],
    *[(f"service-{type(v).__name__}", {"member": v}) for v in HOSTILE_VALUES],
    *[(f"method-{type(v).__name__}", {"member": {"info": v}}) for v in HOSTILE_VALUES],
    *[
        (f"note-{type(v).__name__}", {"member": {"info": {"note": v}}})
        for v in (7, True, {"a": 1}, [1, 2])
    ],
    *[
        (f"expiration-{type(v).__name__}", {"member": {"info": {"expirationSeconds": v}}})
        for v in (["x"], "900", True, -1, 1.5)
    ],
    *[(f"link-{type(v).__name__}", {"member": {"info": {"link": v}}}) for v in (["x"], 7, True)],
    ("param-not-object", {"results": {"get": {"parameters": {"subsession_id": "number"}}}}),
    ("param-type-list", {"results": {"get": {"parameters": {"subsession_id": {"type": []}}}}}),
    ("param-required-text", {"results": {"get": {"parameters": {"x": {"required": "yes"}}}}}),
    ("no-endpoints", dict.fromkeys(World().catalogue())),
]
IDS = [name for name, _ in HOSTILE]
# the kinds that crashed every command before (the rest were silently half-read)
CRASHING = [changes for name, changes in HOSTILE if name.startswith("parameters-")]


def test_the_real_catalogue_is_good() -> None:
    assert catalogue_problem(World().catalogue()) is None
    with_list_notes = {"a": {"b": {"note": ["one", "two"], "parameters": None}}}
    assert catalogue_problem(with_list_notes) is None  # iRacing's notes are sometimes lists


@pytest.mark.parametrize(("_", "changes"), HOSTILE, ids=IDS)
def test_a_hostile_catalogue_is_a_failed_run_and_the_good_one_stays(
    runtime: Runtime, sim: Simulator, _: str, changes: dict[str, Any]
) -> None:
    assert runtime.runner.run(CATALOG_JOB).ok
    [(good_at, good)] = stored_catalogues(runtime.engine, 1)
    sim.config.catalog_changes = changes
    outcome = runtime.runner.run(CATALOG_JOB)
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith("the /data catalogue")
    assert "\n" not in outcome.error
    assert stored_catalogues(runtime.engine, 2) == [(good_at, good)]  # nothing new stored
    sim.config.catalog_changes = {"member": {"info": {"note": "a good new note"}}}
    assert runtime.runner.run(CATALOG_JOB).ok  # and a good one is taken afterwards
    assert stored_catalogues(runtime.engine, 1)[0][1]["member"]["info"]["note"] == "a good new note"


def test_the_refusal_names_what_is_wrong(runtime: Runtime, sim: Simulator) -> None:
    sim.config.catalog_changes = {"results": {"get": {"parameters": ["subsession_id"]}}}
    outcome = runtime.runner.run(CATALOG_JOB)
    assert outcome.error is not None
    assert "results.get.parameters is a list, not an object" in outcome.error
    assert "the last good one stays in force" in outcome.error
    assert stored_catalogues(runtime.engine, 1) == []  # none before: none now


def _store_unchecked(monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
    """The catalog job of an older harvester, which stored whatever /data/doc said."""
    with monkeypatch.context() as patch:
        patch.setattr("harvester._archive.archive.catalogue_problem", lambda _: None)
        assert runtime.runner.run(CATALOG_JOB).ok


@pytest.mark.parametrize("changes", CRASHING[:2])
def test_a_bad_stored_catalogue_is_passed_over_for_the_good_one(
    runtime: Runtime,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    changes: dict[str, Any],
) -> None:
    assert runtime.runner.run(CATALOG_JOB).ok
    [good] = stored_catalogues(runtime.engine, 1)
    sim.config.catalog_changes = changes
    _store_unchecked(monkeypatch, runtime)
    assert stored_catalogues(runtime.engine, 2) == [good]

    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    service = Service(runtime, jobs, ServiceOptions(drain_seconds=1))
    service.start()  # `harvester start` reads the stored catalogue first
    try:
        assert service.config.catalogue_at == good[0]
        assert service.reload(forced=True) is True  # and again at every reload
    finally:
        service.stop()


def test_a_bad_stored_catalogue_is_one_warning_per_process(
    runtime: Runtime,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    log_stream: Any,
) -> None:
    sim.config.catalog_changes = CRASHING[0]
    _store_unchecked(monkeypatch, runtime)
    assert stored_catalogues(runtime.engine, 1) == []  # nothing good: as if none were stored
    assert stored_catalogues(runtime.engine, 1) == []
    warned = [line for line in log_stream.getvalue().splitlines() if "catalog.bad_stored" in line]
    assert len(warned) == 1 and "results.get.parameters is a list" in warned[0]


def _cli_env(tmp_path: Path, loopback: RunningSimulator) -> dict[str, str]:
    """A folder with one job, and the environment of commands run there."""
    (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    return env_for(make_settings(tmp_path, loopback.url))


def _cli_store_unchecked(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """`harvester run catalog` as an older harvester ran it: storing whatever /data/doc said."""
    with monkeypatch.context() as patch:
        patch.setattr("harvester._archive.archive.catalogue_problem", lambda _: None)
        assert run_cli("run", "catalog", env=env).code == 0


def _one_clean_line(result: CliResult) -> None:
    """No traceback; a failure says why in one line (`harvester: error: ...`, or for `run` the
    run's summary line)."""
    assert "Traceback" not in result.err and "unexpected" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("harvester:")]
    assert len(errors) <= 1, result.err
    if result.code:
        assert errors or len(result.out.splitlines()) == 1, result


@pytest.mark.parametrize("changes", CRASHING, ids=["list", "str", "int", "bool"])
def test_every_command_works_over_a_bad_stored_catalogue(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    loopback: RunningSimulator,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
) -> None:
    env = _cli_env(tmp_path, loopback)
    assert run_cli("run", "catalog", env=env).code == 0
    sim.config.catalog_changes = changes
    _cli_store_unchecked(run_cli, monkeypatch, env)  # stored by an older harvester
    refused = run_cli("run", "catalog", env=env)  # this one refuses it: one line, exit 1
    assert refused.code == 1 and "the /data catalogue" in refused.out
    _one_clean_line(refused)
    for args in (
        ("jobs",),
        ("jobs", "validate"),
        ("run", "info"),
        ("catalog",),
        ("catalog", "results/get"),
        ("catalog", "diff"),
        ("get", "member/info"),
    ):
        result = run_cli(*args, env=env)
        _one_clean_line(result)
        assert result.code == 0, (args, result.err)
    sim.config.catalog_changes = {}
    assert run_cli("run", "catalog", env=env).code == 0  # a good one is fetched again


def test_commands_with_only_a_bad_stored_catalogue(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    loopback: RunningSimulator,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _cli_env(tmp_path, loopback)
    sim.config.catalog_changes = CRASHING[3]
    _cli_store_unchecked(run_cli, monkeypatch, env)
    validated = run_cli("jobs", "validate", env=env)
    assert validated.code == 0 and "catalogue checks skipped" in validated.out
    listed = run_cli("catalog", env=env)  # none good is stored: fetched, and refused again
    _one_clean_line(listed)
    assert listed.code == 2 and "could not fetch the catalogue: the /data catalogue" in listed.err
    for args in (("jobs",), ("run", "info"), ("get", "member/info")):
        result = run_cli(*args, env=env)
        _one_clean_line(result)
        assert result.code == 0, (args, result.err)


@pytest.mark.slow
def test_start_serves_over_a_bad_stored_catalogue(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    loopback: RunningSimulator,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _cli_env(tmp_path, loopback)
    sim.config.catalog_changes = CRASHING[0]
    _cli_store_unchecked(run_cli, monkeypatch, env)
    process = start_harvester("start", env=env, cwd=tmp_path, output=True)
    try:
        database = tmp_path / "harvester.db"
        wait_for(lambda: db_rows(database, "select 1 from runs where job = 'info'") != [])
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "AttributeError" not in err
    assert "catalog.bad_stored" in err


# -- the pure functions never raise on what a server can send -----------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = ("link", "parameters", "note", "expirationSeconds")


@FAST
@given(
    where=st.sampled_from(["service", "method", *KEYS, "param", "param.type", "param.required"]),
    value=JSON,
)
def test_any_value_anywhere_is_refused_or_read_without_a_crash(where: str, value: Any) -> None:
    document: dict[str, Any] = World().catalogue()
    info: dict[str, Any] = dict(document["results"]["get"])
    if where == "service":
        document = {**document, "results": value}
    elif where == "method":
        document = {**document, "results": {**document["results"], "get": value}}
    else:
        if where in KEYS:
            info[where] = value
        elif where == "param":
            info["parameters"] = {**info["parameters"], "subsession_id": value}
        else:
            spec = {**info["parameters"]["subsession_id"], where.split(".")[1]: value}
            info["parameters"] = {**info["parameters"], "subsession_id": spec}
        document = {**document, "results": {**document["results"], "get": info}}
    problem = catalogue_problem(document)
    assert problem is None or ("\n" not in problem and len(problem) < 400)
    for doc in (document, value):  # read anyway (a caller that did not check): never a crash
        parse_catalogue(doc)
        listing(doc)
        diff(World().catalogue(), doc)
        catalog.closest(doc, "results/get")
        config = parse_jobs("jobs:\n  a: {endpoint: results/get, every: 1h}\n")
        check_jobs(config, doc, "now")
        raw = entry(doc, "results/get")
        if raw is not None:
            describe("results/get", raw)
