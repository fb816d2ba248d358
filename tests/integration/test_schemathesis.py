"""Property-based run over the OpenAPI schema on SQLite and PostgreSQL: no 5xx, and every answer
matches the schema.

Schemathesis generates requests for every operation from the schema (valid ones, and invalid ones
that must be refused with a 4xx), sends them with an admin token to a running service whose store
holds a search with results, a batch in flight and a worker, and checks each answer: no server
error, a documented status code, a documented content type, and a body that validates against
the declared response schema. Three runs, each on both backends:

* every operation on its own (`MAX_EXAMPLES` cases each);
* every operation with hostile values put into its generated case: ids past a 32-bit column
  (2^31, 2^63) in the path and NUL characters in the query and the body, which must all be a 4xx
  (PostgreSQL once answered both with a 500);
* a stateful run that chains operations through the links schemathesis infers from the schema
  (a created search's id feeds its reads, pause, cancel and dashboard endpoints; a registered
  worker's id feeds its lease), `STATEFUL_EXAMPLES` scenarios of a few steps.

The runs are bounded to stay around a minute per backend; CI runs them.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    ProposalInfo,
    SearchRepository,
    SearchState,
    session_scope,
    utcnow,
)
from service.store.migrate import upgrade
from tests.integration.conftest import BACKENDS, PostgresServer
from tests.integration.service_server import ServiceServer

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "schemathesis-admin-" + "y" * 20
MAX_EXAMPLES = int(os.environ.get("BONAS_SCHEMATHESIS_EXAMPLES", "8"))
"""Examples per operation; raise it locally for a deeper run."""
STATEFUL_EXAMPLES = int(os.environ.get("BONAS_SCHEMATHESIS_STATEFUL_EXAMPLES", "15"))
"""Scenarios of the stateful run."""
HOSTILE_IDS = (2**31, 2**63)
NUL = "nul\x00here"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
]


def _settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        lease_seconds=60,
    )


# The schema does not depend on the database: build it once, at collection, from the app.
schema = schemathesis.openapi.from_dict(
    create_app(_settings("sqlite:///:memory:"), run_controller=False).openapi()
)


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A running service (controller off) whose store holds data of every kind, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'bonas.db'}"
        yield from _serve(url)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = server.create()
    try:
        url = database.render_as_string(hide_password=False)
        yield from _serve(url)
    finally:
        server.drop_later(database)


def _serve(url: str) -> Iterator[str]:
    upgrade(url)
    app = create_app(_settings(url), run_controller=False)
    with ServiceServer(app) as server:
        _seed(server.url, app.state.engine)
        yield server.url


def _seed(url: str, engine: Any) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=60) as admin:
        answer = admin.post(
            "/searches",
            json={
                "name": "seeded",
                "evaluator": {"kind": "table", "path": "t.csv"},
                "objective": {"metric": "acc"},
                "constraints": [{"metric": "params", "max": 5000}],
                "budget": {"evaluations": 50},
                "batch_size": 2,
                "strategy": {"name": "random"},
            },
        )
        assert answer.status_code == 201, answer.text
        search_id = answer.json()["id"]
        now = utcnow()
        with session_scope(engine) as session:
            SearchRepository(session).transition(search_id, SearchState.RUNNING, now=now)
            added = ArchitectureRepository(session).add_many(
                search_id,
                [
                    ArchitectureInput(c, {"cell": c}, ProposalInfo("bo", 0.5, 0.1, 0.6, 1))
                    for c in CELLS
                ],
                now=now,
            )
            ids = [record.id for record, _ in added]
            batches = BatchRepository(session)
            batches.create(search_id, ids[:2], now=now, fidelity="acc")
            batches.create(search_id, ids[2:], now=now, fidelity="acc")
        worker = admin.post(
            "/workers/register",
            json={
                "name": "seed-worker",
                "instance_id": uuid.uuid4().hex,
                "capabilities": {"device": "cpu", "hostname": "h", "pid": 1, "version": "0"},
            },
        ).json()["worker_id"]
        lease = admin.post(f"/workers/{worker}/lease", json={}).json()["lease"]
        members = [
            {
                "key": m["key"],
                "metrics": {"acc": 90.0 + i, "params": 1000.0 * (i + 1)},
                "objective": 90.0 + i,
                "fidelity": "acc",
                "evaluator": "table",
            }
            for i, m in enumerate(lease["members"])
        ]
        reported = admin.post(
            f"/workers/{worker}/batches/{lease['batch_id']}/report",
            json={
                "attempt": 1,
                "lease_token": lease["lease_token"],
                "report_id": "seed",
                "members": members,
            },
        )
        assert reported.status_code == 200, reported.text
        admin.post(f"/workers/{worker}/lease", json={})  # the second batch stays in flight
        admin.post("/tokens", json={"role": "user", "owner": "someone"})


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema(case: schemathesis.Case, service: str) -> None:
    case.call_and_validate(base_url=service, headers=AUTH, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_hostile_values_are_refused_not_crashed(case: schemathesis.Case, service: str) -> None:
    hostile = _make_hostile(case)
    response = case.call(base_url=service, headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
    if hostile:
        assert 400 <= response.status_code < 500, (hostile, response.status_code, response.text)


def _make_hostile(case: schemathesis.Case) -> list[str]:
    """Put an out-of-range id into every integer path parameter, a NUL into every string query
    parameter and into the first string of the body; say what was changed."""
    changed: list[str] = []
    ids = itertools.cycle(HOSTILE_IDS)
    for parameter in case.operation.definition.raw.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        types = _types(parameter.get("schema", {}))
        if where == "path" and "integer" in types:
            case.path_parameters[name] = next(ids)
            changed.append(f"path {name}")
        elif where == "query" and "string" in types:
            if case.query is None:
                case.query = {}
            case.query[name] = NUL
            changed.append(f"query {name}")
    where = _put_nul(case.body)
    if where is not None:
        changed.append(f"body {where}")
    return changed


def _types(schema: Any) -> set[str]:
    """Every JSON type a parameter's schema allows (through anyOf, oneOf, allOf)."""
    if not isinstance(schema, dict):
        return set()
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found |= _types(option)
    return found


def _put_nul(document: Any, where: str = "body") -> str | None:
    """Append a NUL to the first string found in `document` (in place); its location."""
    if isinstance(document, dict):
        items: list[tuple[Any, Any]] = list(document.items())
    elif isinstance(document, list):
        items = list(enumerate(document))
    else:
        return None
    for key, value in items:
        if isinstance(value, str):
            document[key] = value + NUL
            return f"{where}.{key}"
        found = _put_nul(value, f"{where}.{key}")
        if found is not None:
            return found
    return None


def test_stateful_sequences_never_fail_the_server(service: str) -> None:
    linked: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            if input.transition is not None and input.applied_parameters:
                linked.append(f"{input.case.method} {input.case.path}")
            return super().step(input)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": service, "headers": AUTH}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
    assert linked, "no step used a link: the stateful run tested nothing stateful"


def test_the_schema_documents_every_operation() -> None:
    operations = [
        (method.upper(), path)
        for path, methods in create_app(_settings("sqlite:///:memory:"), run_controller=False)
        .openapi()["paths"]
        .items()
        for method in methods
    ]
    assert len(operations) >= 21
    assert ("POST", "/api/v1/workers/{worker_id}/batches/{batch_id}/report") in operations
    assert Path(__file__).name.startswith("test_")
