"""Property-based run over the OpenAPI schema: no 5xx, and every answer matches the schema.

Schemathesis generates requests for every operation from the schema (valid ones, and invalid ones
that must be refused with a 4xx), sends them with an admin token to a running service whose store
holds a search with results, a batch in flight and a worker, and checks each answer: no server
error, a documented status code, a documented content type, and a body that validates against
the declared response schema. The run is bounded (a few examples per operation) to stay under a
minute; CI runs it.
"""

from __future__ import annotations

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
from tests.integration.service_server import ServiceServer

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "schemathesis-admin-" + "y" * 20
MAX_EXAMPLES = int(os.environ.get("BONAS_SCHEMATHESIS_EXAMPLES", "8"))
"""Examples per operation; raise it locally for a deeper run."""
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


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running service (controller off) whose store holds data of every kind."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'bonas.db'}"
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


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, service: str) -> None:
    case.call_and_validate(
        base_url=service, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS
    )


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
