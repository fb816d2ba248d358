"""The HTTP edge holds against a hostile caller, on SQLite and PostgreSQL (issue #10).

The token is checked before a body is read and a body is bounded before it is parsed (proved with
raw ASGI calls whose ``receive`` counts the chunks the app pulls); NUL characters and ids past a
32-bit column are 4xx on both backends; exported modules are bounded; every answer carries the
security headers; ``/metrics`` is for admins; the API docs load nothing from another origin; and
``bonas submit`` refuses a YAML bomb at once.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from service.app import create_app
from service.cli.main import app as cli_app
from service.client import MAX_SPEC_BYTES, load_spec_file
from service.settings import Settings
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    EvaluationInput,
    EvaluationRepository,
    ProposalInfo,
    TokenRepository,
    session_scope,
    utcnow,
)
from service.usecases.export import MAX_EXPORT_PARAMETERS
from tests.integration.service_server import ServiceServer
from tests.integration.test_api import spec

ADMIN_TOKEN = "trust-http-admin-" + "z" * 24
LIMIT = 64 * 1024
CHUNK = 16 * 1024
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # noqa: E501


def _settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "max_body_bytes": LIMIT,
        "token_cache_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- raw ASGI: what the app pulls from the server --------------------------------------------


@dataclass
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_pulled: int


def call_asgi(
    app: Any, method: str, path: str, headers: dict[str, str], body_size: int, *, chunked: bool
) -> AsgiAnswer:
    """Send a request of `body_size` bytes (in `CHUNK` pieces) to `app` over raw ASGI."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if chunked:
        raw_headers.append((b"transfer-encoding", b"chunked"))
    else:
        raw_headers.append((b"content-length", str(body_size).encode()))
    raw_headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    pulled = 0
    total_chunks = max(1, -(-body_size // CHUNK))
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= total_chunks:
            await asyncio.sleep(3600)  # a client that sends nothing more
        pulled += 1
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < total_chunks}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=60))
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return AsgiAnswer(start["status"], answer_headers, body, pulled)


@pytest.fixture
def edge_app(engine: Engine, migrated_url: str) -> Any:
    """The app with its engine set, as its lifespan would (called over raw ASGI)."""
    app = create_app(_settings(migrated_url), run_controller=False)
    app.state.engine = engine
    return app


HUGE = 22 * 1024 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("token", [None, "bonas_not-a-real-token"], ids=["no-token", "forged"])
def test_an_unauthenticated_body_is_never_read(
    edge_app: Any, chunked: bool, token: str | None
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    answer = call_asgi(edge_app, "POST", "/api/v1/searches", headers, HUGE, chunked=chunked)
    assert answer.status == 401
    assert answer.chunks_pulled == 0
    assert b'"reason":"unauthorized"' in answer.body
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_authenticated_body_over_the_limit_is_refused_unread(edge_app: Any) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = call_asgi(edge_app, "POST", "/api/v1/searches", headers, HUGE, chunked=False)
    assert answer.status == 413
    assert answer.chunks_pulled == 0
    assert b"at most 65536 bytes" in answer.body


def test_a_streamed_body_is_read_only_up_to_the_limit(edge_app: Any) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = call_asgi(edge_app, "POST", "/api/v1/searches", headers, HUGE, chunked=True)
    assert answer.status == 413
    assert answer.chunks_pulled <= LIMIT // CHUNK + 1  # of HUGE // CHUNK = 1408 chunks
    assert b'"reason":"invalid_request"' in answer.body


def test_a_body_under_the_limit_still_reaches_the_route(edge_app: Any) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = call_asgi(edge_app, "POST", "/api/v1/searches", headers, 2 * CHUNK, chunked=True)
    assert answer.status == 422  # spaces are not JSON: the route's own validation answered
    assert answer.chunks_pulled == 2


# --- over a real server ---------------------------------------------------------------------


@dataclass
class Service:
    url: str
    engine: Engine
    admin: httpx.Client
    alice: httpx.Client
    worker: httpx.Client

    def client(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def service(migrated_url: str) -> Iterator[Service]:
    app = create_app(_settings(migrated_url), run_controller=False)
    with ServiceServer(app) as server:

        def client(token: str) -> httpx.Client:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.Client(base_url=server.url, headers=headers, timeout=60)

        admin = client(ADMIN_TOKEN)
        tokens = {}
        for role, owner in (("user", "alice"), ("worker", "pool")):
            created = admin.post("/api/v1/tokens", json={"role": role, "owner": owner})
            assert created.status_code == 201, created.text
            tokens[role] = created.json()["token"]
        made = Service(
            server.url, app.state.engine, admin, client(tokens["user"]), client(tokens["worker"])
        )
        try:
            yield made
        finally:
            for each in (made.admin, made.alice, made.worker):
                each.close()


def test_an_over_limit_body_is_413_over_http(service: Service) -> None:
    answer = service.alice.post(
        "/api/v1/searches",
        content=b"{" + b" " * (2 * LIMIT) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["reason"] == "invalid_request"
    assert "BONAS_MAX_BODY_BYTES" in answer.json()["detail"]


def test_the_route_reuses_the_principal_the_edge_verified(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    verify = TokenRepository.verify

    def counting(self: TokenRepository, presented: str) -> Any:
        calls.append(presented)
        return verify(self, presented)

    monkeypatch.setattr(TokenRepository, "verify", counting)
    assert service.alice.get("/api/v1/searches").status_code == 200
    assert len(calls) == 1  # the cache is off: one lookup, by the edge, none by the route


NUL = "a\x00b"


@pytest.mark.parametrize(
    "field",
    ["name", "path", "metric", "space"],
)
def test_nul_in_a_search_spec_is_a_4xx(service: Service, field: str) -> None:
    body = spec()
    if field == "name":
        body["name"] = NUL
    elif field == "path":
        body["evaluator"] = {"kind": "table", "path": f"t{NUL}.csv"}
    elif field == "metric":
        body["objective"] = {"metric": NUL}
    else:
        body["space"] = NUL
    answer = service.alice.post("/api/v1/searches", json=body)
    assert answer.status_code == 422, answer.text
    assert "NUL characters are not accepted" in answer.json()["detail"]
    assert answer.json()["reason"] == "invalid_request"


def test_nul_in_a_worker_hostname_is_a_4xx(service: Service) -> None:
    answer = service.worker.post(
        "/api/v1/workers/register",
        json={
            "name": "w",
            "instance_id": uuid.uuid4().hex,
            "capabilities": {"device": "cpu", "hostname": NUL, "pid": 1, "version": "0"},
        },
    )
    assert answer.status_code == 422, answer.text
    assert "body.capabilities.hostname" in answer.json()["detail"]


def test_nul_in_a_query_or_a_path_is_a_4xx(service: Service) -> None:
    for client, path in (
        (service.admin, "/api/v1/tokens?owner=a%00b"),
        (service.alice, "/api/v1/dashboard/searches/1/tradeoff?metric=%00"),
        (service.alice, "/api/v1/searches?name=x&state=%00"),
        (service.alice, "/dashboard/app%00.js"),
    ):
        answer = client.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert "NUL characters are not accepted" in answer.json()["detail"]


@pytest.mark.parametrize("big", [2**31, 2**63, 2**64 + 1])
def test_ids_past_the_column_are_a_4xx(service: Service, big: int) -> None:
    paths = [
        f"/api/v1/searches/{big}",
        f"/api/v1/searches/{big}/architectures",
        f"/api/v1/searches/{big}/best/export",
        f"/api/v1/dashboard/searches/{big}/series",
        f"/api/v1/dashboard/searches/{big}/baseline",
        f"/api/v1/dashboard/searches/{big}/surrogate",
        f"/api/v1/dashboard/searches/{big}/tradeoff",
        f"/api/v1/dashboard/searches/{big}/top",
        f"/api/v1/dashboard/searches/{big}/batches",
        f"/api/v1/searches?offset={big}",
    ]
    for path in paths:
        answer = service.alice.get(path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)


def _measured_search(service: Service) -> int:
    created = service.alice.post("/api/v1/searches", json=spec())
    assert created.status_code == 201, created.text
    search_id = int(created.json()["id"])
    now = utcnow()
    with session_scope(service.engine) as session:
        ((record, _),) = ArchitectureRepository(session).add_many(
            search_id, [ArchitectureInput(CELL, {"cell": CELL}, ProposalInfo("user"))], now=now
        )
        EvaluationRepository(session).record(
            EvaluationInput(record.id, {"val_acc": 0.9}, 0.9, "table"),
            now=now,
            fidelity="val_acc",
        )
    return search_id


def test_export_sizes_are_bounded(service: Service) -> None:
    search_id = _measured_search(service)
    export = f"/api/v1/searches/{search_id}/best/export"
    small = service.alice.get(export, params={"format": "state_dict"})
    assert small.status_code == 200, small.text
    assert len(small.content) < 4 * MAX_EXPORT_PARAMETERS + 1024 * 1024  # float32 + zip
    for params in ({"channels": 256}, {"cells_per_stage": 32}, {"num_classes": 100_000}):
        refused = service.alice.get(export, params={"format": "state_dict", **params})
        assert refused.status_code == 422, (params, refused.status_code)
    too_many = service.alice.get(
        export, params={"format": "state_dict", "channels": 128, "cells_per_stage": 16}
    )
    assert too_many.status_code == 422
    assert "at most 4000000 are exported" in too_many.json()["detail"]


# --- headers, metrics, docs -----------------------------------------------------------------


SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_every_answer_carries_the_security_headers(service: Service) -> None:
    with service.client(None) as anonymous:
        answers = [
            anonymous.get("/api/v1/health"),
            anonymous.get("/api/v1/searches"),  # a 401 from the edge
            service.alice.get("/api/v1/searches"),
            service.alice.get("/api/v1/searches/999"),  # a 404 from the route
            anonymous.get("/"),
        ]
    for answer in answers:
        for name, value in SECURITY.items():
            assert answer.headers.get(name) == value, (answer.url, name)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page_policy = answers[-1].headers["content-security-policy"]
    assert "script-src 'self'" in page_policy and "unsafe" not in page_policy  # the dashboard's


def test_a_new_token_is_not_cached(service: Service) -> None:
    created = service.admin.post("/api/v1/tokens", json={"role": "user", "owner": "bob"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert created.headers["x-content-type-options"] == "nosniff"


def test_metrics_are_for_admins_only(service: Service) -> None:
    refused = service.alice.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["reason"] == "forbidden"
    assert service.worker.get("/metrics").status_code == 403
    allowed = service.admin.get("/metrics")
    assert allowed.status_code == 200
    assert "bonas_searches" in allowed.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_same_origin_files(service: Service, page: str) -> None:
    with service.client(None) as anonymous:
        html = anonymous.get(page)
        assert html.status_code == 200
        assert "default-src 'self'" in html.headers["content-security-policy"]
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", html.text)
        assert urls and any(u.endswith(".js") for u in urls)
        assert not re.search(r"https?://|//[a-z]", html.text, re.IGNORECASE), "a foreign origin"
        for url in urls:
            assert url.startswith("/"), url
            fetched = anonymous.get(url)
            assert fetched.status_code == 200, url
            assert fetched.content


# --- the client: YAML bombs -----------------------------------------------------------------


BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    + ["name: *a9"]
)


@pytest.mark.timeout(60)
def test_a_yaml_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ValueError, match="anchors and aliases"):
        load_spec_file(path)
    result = CliRunner().invoke(cli_app, ["submit", str(path), "--server", "http://127.0.0.1:9"])
    assert result.exit_code != 0
    assert "anchors and aliases" in result.output
    assert "lol" not in result.output  # the file's text is never quoted


def test_an_oversized_spec_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "#" * (MAX_SPEC_BYTES + 1))
    with pytest.raises(ValueError, match=f"at most {MAX_SPEC_BYTES}"):
        load_spec_file(path)
