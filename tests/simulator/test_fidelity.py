"""The simulator against the real service, from the project's own test data (tests/data/fidelity,
written from the reference captures): the catalogue, the answers' keys and types at every level,
their envelopes, and the error bodies. A plain clone runs all of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harvester._core.clock import ManualClock
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.config import demo_password_form
from tests.simulator.fidelity import (
    NOW,
    ORIGIN,
    captured,
    catalogue,
    differences,
    example_params,
    load,
    modelled,
)

BASE = "http://iracing.sim"


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(SimConfig(), ManualClock(NOW))


@pytest.fixture(scope="module")
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SimulatorTransport(sim), base_url=BASE) as client:
        form = demo_password_form()
        token = client.post("/oauth2/token", data=form).json()["access_token"]
        client.headers["authorization"] = f"Bearer {token}"
        yield client


def parts(http: httpx.Client, endpoint: str, params: dict[str, str], shape: str) -> dict[str, Any]:
    """The documents of one call as a client sees them: `envelope` (members-ng's answer),
    `body` (behind the link or data_url) and `rows` (the first chunk)."""
    first = http.get(f"/data/{endpoint}", params=params)
    assert first.status_code == 200, (endpoint, first.status_code, first.text[:200])
    found: dict[str, Any] = {"envelope": first.json()}

    def follow(url: str) -> Any:
        # links are pre-signed: fetched without the Bearer token, as S3 wants them
        request = http.build_request("GET", url)
        del request.headers["authorization"]
        response = http.send(request)
        assert response.status_code == 200, (endpoint, url)
        return response.json()

    envelope = found["envelope"]
    if shape in ("link", "link_chunks", "link_data_chunks"):
        found["body"] = follow(envelope["link"])
    elif shape == "data_url":
        found["body"] = follow(envelope["data_url"])
    holder = found.get("body", envelope)
    info = None
    if isinstance(holder, dict) and shape.endswith("chunks"):
        info = holder.get("chunk_info") or (holder.get("data") or {}).get("chunk_info")
    if shape.endswith("chunks") and info and info["chunk_file_names"]:
        found["rows"] = follow(info["base_download_url"] + info["chunk_file_names"][0])
    return found


TARGETS = captured()
MODELS = modelled()
# endpoints whose answers do not match the models yet (none once the work is done)
NOT_YET: set[str] = set()


def test_the_targets_are_there() -> None:
    """The committed test data covers every capture of the reference (20 endpoints)."""
    assert len(TARGETS) == 20
    assert len(catalogue()) == 74


@pytest.mark.parametrize("endpoint", sorted(TARGETS))
def test_answers_have_the_real_keys_and_types(
    sim: Simulator, http: httpx.Client, endpoint: str
) -> None:
    target = TARGETS[endpoint]
    assert sim.world.endpoints[endpoint].shape == target["shape"]
    params = example_params(sim.world).get(endpoint, {})
    ours = parts(http, endpoint, params, target["shape"])
    problems = []
    for part, description in target["parts"].items():
        assert part in ours, f"{endpoint}: no {part}"
        if description["types"] == ["list"] and "items" in description:
            assert ours[part], f"{endpoint} {part}: expected rows"
        # where the models describe the answer too, they hold its keys (captures and models)
        problems += differences(
            ours[part], description, f"{endpoint} {part}", invented=endpoint not in MODELS
        )
    assert not problems, "\n".join(problems)
    if "type" in target:
        assert ours["envelope"]["type"] == target["type"]


def test_the_models_cover_the_endpoints_the_clients_know() -> None:
    """Every endpoint but the CSV files has a models target (the clients know 68)."""
    assert len(MODELS) == 68
    assert not {p for p in MODELS if p.startswith("driver_stats_by_category/")}


@pytest.mark.parametrize("endpoint", sorted(MODELS))
def test_answers_have_the_keys_and_types_of_the_clients_models(
    sim: Simulator, http: httpx.Client, endpoint: str
) -> None:
    """Keys and types, nested, as typed clients' models (from real answers) and the issue's
    lists name them: every key the models always expect, no key they do not know, no null where
    they expect a value."""
    if endpoint in NOT_YET:
        pytest.xfail("not matched yet")
    target = MODELS[endpoint]
    ours = parts(http, endpoint, example_params(sim.world).get(endpoint, {}), target["shape"])
    problems = []
    for part, description in target["parts"].items():
        assert part in ours, f"{endpoint}: no {part}"
        problems += differences(
            ours[part], description, f"{endpoint} {part}", every_key=False, typed_null=True
        )
    assert not problems, "\n".join(problems)


def test_member_licenses_are_keyed_by_category_in_the_real_order(http: httpx.Client) -> None:
    target = TARGETS["member/info"]["parts"]["body"]["keys"]["licenses"]
    body = parts(http, "member/info", {}, "link")["body"]
    assert list(body["licenses"]) == list(target["keys"])


def test_every_real_endpoint_is_served_with_its_real_parameters(sim: Simulator) -> None:
    real = catalogue()
    served = sim.world.endpoints
    assert sorted(served) == sorted(real)
    for path, entry in real.items():
        ours = served[path]
        assert ours.expiration_seconds == entry["expirationSeconds"], path
        declared = {n: {"type": p.type, "required": p.required} for n, p in ours.params.items()}
        assert declared == entry["parameters"], path


def test_the_served_catalogue_lists_every_endpoint(http: httpx.Client) -> None:
    doc = http.get("/data/doc").json()
    served = {f"{service}/{method}" for service, methods in doc.items() for method in methods}
    assert served == set(catalogue())
    for path, entry in catalogue().items():
        service, method = path.split("/")
        params = doc[service][method].get("parameters", {})
        assert {n: p["type"] for n, p in params.items()} == {
            n: p["type"] for n, p in entry["parameters"].items()
        }, path


def test_error_bodies_are_the_real_ones(sim: Simulator, http: httpx.Client) -> None:
    errors = load("errors.json")
    bad = http.get("/data/results/get")  # subsession_id missing
    assert bad.status_code == 400
    assert bad.json() == {"error": errors["400"]["error"]}
    assert not differences(bad.json(), errors["400"]["fields"], "400")
    anonymous = http.get("/data/member/info", headers={"authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": errors["401"]["error"]}
    hosted = sim.world.subsessions_ending_between(ORIGIN - 30 * 86_400, NOW, hosted=True)
    statuses = {}
    for sid in hosted:
        response = http.get("/data/results/get", params={"subsession_id": sid})
        statuses[response.status_code] = response.json() if response.status_code != 200 else None
    assert statuses[403] == {"error": errors["403"]["error"]}
    sim.control({"maintenance": True})
    try:
        down = http.get("/data/member/info")
    finally:
        sim.control({"maintenance": False})
    assert down.status_code == 503
    assert not differences(down.json(), errors["503"]["fields"], "503")
    assert down.json()["error"] == errors["503"]["error"]
