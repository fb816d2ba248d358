"""`service.client.BonasClient` against a mock transport: paths, errors, retries, export formats."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from service.client import BonasApiError, BonasClient, load_spec_file

EVENTS = {"items": [], "next_after": 7, "has_more": False}


def client(handler: object, sleeps: list[float] | None = None) -> BonasClient:
    recorded = sleeps if sleeps is not None else []
    return BonasClient(
        "http://bonas.test/",
        "tok",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        sleep=recorded.append,
    )


def test_requests_carry_the_token_and_the_api_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=EVENTS)

    with client(handler) as bonas:
        page = bonas.events(after=3, search_id=2, limit=10)
    assert page.next_after == 7
    assert seen[0].url.path == "/api/v1/events"
    assert dict(seen[0].url.params) == {"after": "3", "search_id": "2", "limit": "10"}
    assert seen[0].headers["Authorization"] == "Bearer tok"


def test_refusals_raise_with_reason_and_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"reason": "not_found", "detail": "search 9 does not exist"}
        )

    with client(handler) as bonas, pytest.raises(BonasApiError) as caught:
        bonas.get(9)
    assert caught.value.status_code == 404 and caught.value.reason == "not_found"
    assert "search 9 does not exist" in str(caught.value)


def test_reads_are_retried_on_503_and_writes_are_not() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3 and request.method == "GET":
            return httpx.Response(503, json={"reason": "busy", "detail": "locked"})
        if request.method == "POST":
            return httpx.Response(503, json={"reason": "busy", "detail": "locked"})
        return httpx.Response(200, json=EVENTS)

    sleeps: list[float] = []
    with client(handler, sleeps) as bonas:
        assert bonas.events().next_after == 7
        assert calls == ["GET", "GET", "GET"] and len(sleeps) == 2
        with pytest.raises(BonasApiError, match="busy"):
            bonas.cancel(1)
    assert calls.count("POST") == 1


def test_an_unreachable_server_is_an_error_after_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sleeps: list[float] = []
    with client(handler, sleeps) as bonas, pytest.raises(BonasApiError, match="unreachable"):
        bonas.events()
    assert len(sleeps) == 4


def test_best_is_none_before_the_first_result() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        detail = "search 1 has no measured architecture yet"
        return httpx.Response(404, json={"reason": "not_found", "detail": detail})

    with client(handler) as bonas:
        assert bonas.best(1) is None


def test_export_picks_the_format_from_the_suffix(tmp_path: Path) -> None:
    formats: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        formats.append(request.url.params["format"])
        return httpx.Response(200, content=b"data")

    with client(handler) as bonas:
        for name in ("g.json", "m.pt", "w.pth"):
            assert bonas.export(1, tmp_path / name).read_bytes() == b"data"
        with pytest.raises(ValueError, match="cannot tell the export format"):
            bonas.export(1, tmp_path / "x.onnx")
    assert formats == ["json", "torchscript", "state_dict"]


def test_spec_files(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("name: x\nbudget: {evaluations: 5}\n")
    assert load_spec_file(tmp_path / "s.yaml") == {"name": "x", "budget": {"evaluations": 5}}
    (tmp_path / "s.json").write_text(json.dumps({"name": "y"}))
    assert load_spec_file(tmp_path / "s.json") == {"name": "y"}
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_spec_file(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_spec_file(tmp_path / "list.yaml")
