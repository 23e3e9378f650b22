"""The HTTP surface every service shares: errors, request ids, limits, health, metrics, logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from aicc.core.app import build_app
from aicc.core.config import Settings, load_settings
from aicc.core.errors import Conflict
from aicc.core.logging import JsonFormatter
from aicc.monitoring import MonitoringService
from aicc.recording import RecordingService
from tests.asgi import serve_app
from tests.backends import free_port


class Item(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(ge=0)


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @router.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @router.post("/conflict")
    async def conflict() -> None:
        raise Conflict("Item already exists", code="item_exists")

    @router.post("/integrity")
    async def integrity() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key value secret-row"))

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    return router


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    """The monitoring service as a plain app: its background jobs stay off."""
    settings = {"data_dir": str(tmp_path / "var"), "jobs.enabled": False, **overrides}
    return load_settings(settings, env_file=None)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    settings = _settings(tmp_path, **{"server.max_body_bytes": 2048})
    app = build_app(MonitoringService(settings=settings), [_router()])
    async with serve_app(app) as client:
        yield client


def _assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


class TestErrorShape:
    async def test_unknown_route(self, client: httpx2.AsyncClient) -> None:
        _assert_error(await client.get("/no/such/route"), 404, "not_found")

    async def test_wrong_method(self, client: httpx2.AsyncClient) -> None:
        _assert_error(await client.delete("/health"), 405, "method_not_allowed")

    async def test_validation_error_lists_fields_without_echoing_input(
        self, client: httpx2.AsyncClient
    ) -> None:
        response = await client.post("/items", json={"name": "", "quantity": -1})
        error = _assert_error(response, 422, "validation_error")
        details = error["details"]
        assert isinstance(details, list)
        assert {tuple(d["loc"]) for d in details} == {("body", "name"), ("body", "quantity")}
        assert all("input" not in d for d in details)

    async def test_malformed_json(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(
            "/items", content=b"{not json", headers={"content-type": "application/json"}
        )
        _assert_error(response, 422, "validation_error")

    async def test_bad_path_parameter(self, client: httpx2.AsyncClient) -> None:
        _assert_error(await client.get("/items/not-a-number"), 422, "validation_error")

    async def test_declared_oversized_body(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(
            "/items", content=b"x" * 4096, headers={"content-type": "application/json"}
        )
        _assert_error(response, 413, "payload_too_large")

    async def test_streamed_oversized_body(self, client: httpx2.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 1024

        response = await client.post(
            "/items", content=chunks(), headers={"content-type": "application/json"}
        )
        _assert_error(response, 413, "payload_too_large")

    async def test_app_error_carries_its_code(self, client: httpx2.AsyncClient) -> None:
        error = _assert_error(await client.post("/conflict"), 409, "item_exists")
        assert error["message"] == "Item already exists"

    async def test_integrity_error_is_a_conflict_without_internals(
        self, client: httpx2.AsyncClient
    ) -> None:
        response = await client.post("/integrity")
        _assert_error(response, 409, "conflict")
        assert "secret-row" not in response.text

    async def test_unexpected_error_is_500_without_internals_and_logged(
        self, client: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="aicc.errors"):
            response = await client.get("/boom", headers={"x-request-id": "req-boom-1"})
        _assert_error(response, 500, "internal_error")
        assert "hunter2" not in response.text and "Traceback" not in response.text
        assert response.headers["x-request-id"] == "req-boom-1"
        logged = [r for r in caplog.records if r.name == "aicc.errors"]
        assert logged and logged[0].exc_info is not None
        line = json.loads(JsonFormatter().format(logged[0]))
        assert line["request_id"] == "req-boom-1"
        assert line["service"] == "monitoring"


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx2.AsyncClient) -> None:
        first = (await client.get("/health")).headers["x-request-id"]
        second = (await client.get("/health")).headers["x-request-id"]
        assert first != second and len(first) == 32

    async def test_taken_from_request(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health", headers={"x-request-id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_unsafe_incoming_id_is_replaced(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health", headers={"x-request-id": "a b\tc" + "x" * 200})
        assert response.headers["x-request-id"] != "a b\tc" + "x" * 200


class TestHealthAndDocs:
    async def test_liveness(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json()["status"] == "ok" and response.json()["service"] == "monitoring"

    async def test_readiness_reports_each_backend(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        checks = response.json()["checks"]
        assert set(checks) == {"database", "cache"}
        assert checks["database"]["backend"] == "sqlite" and checks["database"]["status"] == "up"
        assert checks["cache"]["backend"] == "memory"
        assert all(c["latency_ms"] >= 0 for c in checks.values())

    async def test_readiness_is_503_when_a_backend_is_down(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
        app = build_app(RecordingService(settings=settings))
        async with serve_app(app) as client:
            response = await client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["cache"]["status"] == "down"
        assert body["checks"]["database"]["status"] == "up"
        assert body["checks"]["storage"]["status"] == "up"

    async def test_openapi_docs(self, client: httpx2.AsyncClient) -> None:
        assert (await client.get("/docs")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
        assert spec["info"]["title"] == "AICC Monitoring"
        assert "/health/ready" in spec["paths"]


class TestMetrics:
    async def test_requests_counted_by_route_template(self, client: httpx2.AsyncClient) -> None:
        for item_id in (1, 2, 3):
            await client.get(f"/items/{item_id}")
        await client.get("/nowhere/at/all")
        text = (await client.get("/metrics")).text
        assert (
            'aicc_api_requests_total{method="GET",route="/items/{item_id}",'
            'service="monitoring",status="200"} 3.0'
        ) in text
        assert 'route="/items/1"' not in text
        assert 'route="<unmatched>",service="monitoring",status="404"} 1.0' in text
        assert 'aicc_api_duration_seconds_count{method="GET",route="/items/{item_id}"' in text

    async def test_database_and_process_metrics(self, client: httpx2.AsyncClient) -> None:
        await client.get("/health/ready")
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "aicc_db_connections_active 0.0" in text
        assert "aicc_db_query_duration_seconds_count" in text
        assert "process_resident_memory_bytes" in text
        assert "python_gc_objects_collected_total" in text


class TestAccessLog:
    async def test_one_json_line_per_request(
        self, client: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="aicc.access"):
            await client.get("/items/7", headers={"x-request-id": "log-me"})
        records = [r for r in caplog.records if r.name == "aicc.access"]
        assert len(records) == 1
        line = json.loads(JsonFormatter().format(records[0]))
        assert set(line) == {"timestamp", "level", "service", "message", "metadata", "request_id"}
        assert line["request_id"] == "log-me" and line["service"] == "monitoring"
        assert line["metadata"]["route"] == "/items/{item_id}"
        assert line["metadata"]["status"] == 200
        assert line["timestamp"].endswith("Z")

    def test_secret_looking_metadata_is_masked(self) -> None:
        record = logging.LogRecord("aicc.auth", logging.INFO, __file__, 1, "login", None, None)
        record.metadata = {
            "username": "agent001",
            "password": "hunter2",
            "nested": {"api_key": "k"},
        }
        line = json.loads(JsonFormatter().format(record))
        assert line["metadata"]["password"] == "***"
        assert line["metadata"]["nested"]["api_key"] == "***"
        assert line["service"] == "auth"
