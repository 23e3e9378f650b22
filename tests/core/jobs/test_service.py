"""A service facade runs the job kinds it declares, reports them on /metrics, and a wing can
mount the job routes for operators: list dead letters, replay, discard."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import jwt
import pytest

from aicc.core.app import build_app
from aicc.core.config import load_settings
from aicc.core.jobs import (
    JobContext,
    JobHandler,
    JobState,
    PermanentFailure,
    enqueue,
    get_job,
)
from aicc.core.jobs.routes import jobs_router
from aicc.core.service import Backend, ServiceBase
from aicc.core.tokens import ACCESS_TOKEN_TYPE
from tests.asgi import serve_app
from tests.core.jobs.support import eventually

SECRET = "jobs-test-shared-secret-of-32-bytes!"


class DeliveryService(ServiceBase):
    """A stand-in wing that delivers messages as jobs."""

    name = "integration"
    title = "Delivery"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")
    delivered: list[dict[str, Any]]

    def job_handlers(self) -> Iterable[JobHandler]:
        return [JobHandler("delivery.send", self._send)]

    async def _send(self, ctx: JobContext) -> None:
        if ctx.payload.get("refuse"):
            raise PermanentFailure("400 from the provider: bad number")
        self.delivered.append(ctx.payload)


def token(*roles: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1:8003",
        "aud": "aicc",
        "sub": "user-1",
        "sid": "session-1",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": "t",
        "roles": list(roles),
    }
    encoded = jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": ACCESS_TOKEN_TYPE})
    return {"Authorization": f"Bearer {encoded}"}


@pytest.fixture
async def wing(
    tmp_path: Path, backend: dict[str, Any]
) -> AsyncIterator[tuple[DeliveryService, httpx2.AsyncClient]]:
    settings = load_settings(
        {"data_dir": str(tmp_path / "var"), "jwt_secret": SECRET, **backend}, env_file=None
    )
    service = DeliveryService(settings=settings)
    service.delivered = []
    router = jobs_router(
        lambda: service.jobs.kinds,
        manage_permission="integrations:manage",
        read_permission="integrations:manage",
    )
    async with serve_app(build_app(service, [router])) as client:
        yield service, client


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


async def _enqueue(service: ServiceBase, payload: dict[str, Any]) -> int:
    async with service.resources.database.transaction() as conn:
        return (await enqueue(conn, "delivery.send", payload)).id


async def _state(service: ServiceBase, job_id: int) -> JobState:
    async with service.resources.database.connect() as conn:
        return (await get_job(conn, job_id)).state


class TestFacade:
    async def test_jobs_run_in_the_service_and_show_on_metrics(
        self, wing: tuple[DeliveryService, httpx2.AsyncClient]
    ) -> None:
        service, client = wing
        job_id = await _enqueue(service, {"to": "+82-10-0000-0000"})
        await eventually(lambda: len(service.delivered) == 1)
        await eventually(lambda: _is(service, job_id, JobState.COMPLETED))
        await service.jobs.refresh_stats()
        text = (await client.get("/metrics")).text
        assert 'aicc_jobs_processed_total{kind="delivery.send",outcome="completed"} 1.0' in text
        for family in (
            "aicc_jobs_queued",
            "aicc_jobs_dead",
            "aicc_job_lag_seconds",
            "aicc_job_duration_seconds_bucket",
        ):
            assert f'{family}{{kind="delivery.send"' in text

    async def test_jobs_can_be_turned_off_in_a_process(self, tmp_path: Path) -> None:
        settings = load_settings(
            {"data_dir": str(tmp_path / "var"), "jobs.enabled": False}, env_file=None
        )
        service = DeliveryService(settings=settings)
        await service.start()
        try:
            with pytest.raises(RuntimeError, match="not started"):
                _ = service.jobs
        finally:
            await service.stop()


class TestRoutes:
    async def test_dead_letters_listed_replayed_and_discarded(
        self, wing: tuple[DeliveryService, httpx2.AsyncClient]
    ) -> None:
        service, client = wing
        admin = token("ADMIN")
        job_id = await _enqueue(service, {"refuse": True})
        await eventually(lambda: _is(service, job_id, JobState.DEAD))

        page = await client.get("/jobs", params={"state": "dead"}, headers=admin)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 1
        assert body["items"][0]["last_error"] == "400 from the provider: bad number"

        one = await client.get(f"/jobs/{job_id}", headers=admin)
        assert one.json()["state"] == "dead" and one.json()["attempt"] == 1

        replayed = await client.post(f"/jobs/{job_id}/replay", headers=admin)
        assert replayed.status_code == 200 and replayed.json()["attempt"] == 0
        await eventually(lambda: _is(service, job_id, JobState.DEAD))

        discarded = await client.post(f"/jobs/{job_id}/discard", headers=admin)
        assert discarded.json()["state"] == "discarded"
        again = await client.post(f"/jobs/{job_id}/discard", headers=admin)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "job_not_discardable"

    async def test_permissions_and_bad_input_get_clear_errors(
        self, wing: tuple[DeliveryService, httpx2.AsyncClient]
    ) -> None:
        _, client = wing
        assert (await client.get("/jobs")).status_code == 401
        denied = await client.get("/jobs", headers=token("AGENT"))
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"
        admin = token("ADMIN")
        missing = await client.get("/jobs/999999", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "job_not_found"
        for bad in (
            "/jobs/0",
            "/jobs/abc",
            f"/jobs/{2**64}",
            "/jobs?state=exploded",
            "/jobs?limit=0",
            f"/jobs?offset={2**80}",
        ):
            response = await client.get(bad, headers=admin)
            assert response.status_code == 422, bad
            assert response.json()["error"]["code"] == "validation_error"

    async def test_only_the_wings_kinds_are_visible(
        self, wing: tuple[DeliveryService, httpx2.AsyncClient]
    ) -> None:
        service, client = wing
        async with service.resources.database.transaction() as conn:
            foreign = await enqueue(conn, "recording.finalize", {})
        admin = token("ADMIN")
        listed = await client.get("/jobs", params={"kind": "recording.finalize"}, headers=admin)
        assert listed.json()["total"] == 0
        assert (await client.get(f"/jobs/{foreign.id}", headers=admin)).status_code == 404


async def _is(service: ServiceBase, job_id: int, state: JobState) -> bool:
    return await _state(service, job_id) is state
