"""Two ``aicc serve <service>`` processes per service on shared PostgreSQL, Redis and S3, each
service behind its own round-robin balancer (:mod:`tests.deploy.round_robin`).

Every replica gets the same configuration and secrets (the way a task definition hands them
to every task): one ``ENCRYPTION_KEY``, one bootstrap password, one Redis key prefix; the
schema is migrated once beforehand (``aicc db upgrade``, the release step) and replicas start
with ``AICC_AUTO_MIGRATE=false``. Each replica has its own data folder, as containers do, and
writes its output to files there (a pipe nobody reads would stall a chatty process).

:func:`contact_center` adds what the day's services call (provider stand-ins, a webhook
receiver, Amazon Connect) and a versioned bucket, and yields :class:`Day`: the deployment
seen from outside, through its balancers, its replicas' own URLs and the stand-ins.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx2
import redis

from tests.backends import free_port
from tests.deploy.round_robin import Api, RoundRobin
from tests.integration.fakes.shop import ShopFake
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.connect.fakes import FakeConnect
from tests.processes import aicc_env, run_aicc

SERVICES = ("auth", "monitoring", "recording", "integration")
READY_TIMEOUT = 90.0


@dataclass
class Replica:
    service: str
    name: str
    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, env: Mapping[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "stdout").open("wb") as out, (self.folder / "stderr").open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aicc", "serve", self.service, "--port", str(self.port)],
                env={**env, "AICC_DATA_DIR": str(self.folder / "var")},
                cwd=self.folder,
                stdout=out,
                stderr=err,
            )

    def started(self) -> bool:
        """True once the banner is out; raises if the process exited first."""
        if "Press Ctrl-C" in (self.folder / "stdout").read_text(errors="replace"):
            return True
        if not self.alive:
            raise AssertionError(f"{self.name} exited during start-up:\n{self.log_tail()}")
        return False

    def log_tail(self, size: int = 3000) -> str:
        text = (self.folder / "stderr").read_text(errors="replace")
        return text[-size:]

    def kill(self) -> None:
        """SIGKILL, as a crashed host or the OOM killer would."""
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Backends:
    database_url: str
    redis_url: str
    s3_endpoint: str
    bucket: str


@dataclass
class Deployment:
    """The replicas, the public balancers (one per service, what clients use) and an internal
    balancer for auth (what services use to fetch the JWKS, so their traffic does not move
    the public balancer's turn)."""

    env: dict[str, str]
    replicas: dict[str, list[Replica]]
    balancers: dict[str, RoundRobin] = field(default_factory=dict)
    internal_auth: RoundRobin | None = None
    admin_password: str = ""

    def url(self, service: str) -> str:
        return self.balancers[service].url

    def replica_at(self, service: str, upstream: str) -> Replica:
        return next(r for r in self.replicas[service] if r.url == upstream)

    def all_replicas(self) -> list[Replica]:
        return [r for group in self.replicas.values() for r in group]


def shared_env(tmp_path: Path, backends: Backends, **extra: str) -> dict[str, str]:
    """The configuration every replica gets: production mode on the shared backends, one set
    of secrets generated for this deployment, and short intervals so the day fits a test."""
    return aicc_env(
        tmp_path,
        AICC_ENV="production",
        DATABASE_URL=backends.database_url,
        REDIS_URL=backends.redis_url,
        REDIS_KEY_PREFIX=f"aicc-replicas:{uuid.uuid4().hex[:12]}:",
        S3_BUCKET=backends.bucket,
        S3_ENDPOINT_URL=backends.s3_endpoint,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        AICC_BOOTSTRAP_ADMIN_PASSWORD="Adm1n-" + secrets.token_urlsafe(18),
        AICC_AUTO_MIGRATE="false",
        AICC_ALLOW_PRIVATE_NETWORKS="true",
        AICC_ACCESS_LOG="false",
        LOG_LEVEL="WARNING",
        AICC_SHUTDOWN_TIMEOUT="2",
        AICC_JOBS_LEASE="5",
        AICC_JOBS_POLL_INTERVAL="0.5",
        AICC_AUTH_PASSWORD_HASH_MEMORY_KIB="8192",
        AICC_AUTH_PASSWORD_HASH_TIME_COST="1",
        AICC_AUTH_PASSWORD_HASH_THREADS="1",
        **extra,
    )


def plan(tmp_path: Path) -> dict[str, list[Replica]]:
    """Two replicas per service on free ports (known before anything starts, so monitoring
    can be told whom to scrape)."""
    return {
        service: [
            Replica(service, f"{service}-{tag}", free_port(), tmp_path / f"{service}-{tag}")
            for tag in ("a", "b")
        ]
        for service in SERVICES
    }


def migrate(env: Mapping[str, str], cwd: Path) -> None:
    done = run_aicc("db", "upgrade", env=dict(env), cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]


async def wait_started(replicas: list[Replica], timeout: float = READY_TIMEOUT) -> None:
    """Until each replica has printed its banner and says it is ready (its backends answer)."""
    deadline = time.monotonic() + timeout
    waiting = list(replicas)
    async with httpx2.AsyncClient(trust_env=False, timeout=5) as http:
        while waiting:
            waiting = [r for r in waiting if not (r.started() and await _ready(http, r))]
            if waiting:
                assert time.monotonic() < deadline, f"not ready in {timeout}s: " + ", ".join(
                    f"{r.name}\n{r.log_tail(800)}" for r in waiting
                )
                await asyncio.sleep(0.1)


async def _ready(http: httpx2.AsyncClient, replica: Replica) -> bool:
    try:
        return (await http.get(f"{replica.url}/health/ready")).status_code == 200
    except httpx2.TransportError:
        return False


@contextlib.asynccontextmanager
async def deployed(
    tmp_path: Path, backends: Backends, **settings: str
) -> AsyncIterator[Deployment]:
    """Migrate, start the eight replicas and the balancers; stop everything afterwards.

    Monitoring scrapes every other replica directly, as Prometheus scrapes each task."""
    replicas = plan(tmp_path)
    internal = RoundRobin("auth-internal", [r.url for r in replicas["auth"]])
    watched = [r for s in SERVICES if s != "monitoring" for r in replicas[s]]
    async with contextlib.AsyncExitStack() as stack:
        internal_url = await stack.enter_async_context(internal.running())
        env = shared_env(
            tmp_path,
            backends,
            AICC_AUTH_URL=internal_url,
            AICC_MONITORING_TARGETS=",".join(f"{r.name}={r.url}" for r in watched),
            **settings,
        )
        deployment = Deployment(
            env,
            replicas,
            internal_auth=internal,
            admin_password=env["AICC_BOOTSTRAP_ADMIN_PASSWORD"],
        )
        migrate(env, tmp_path)
        stack.callback(_forget_keys, backends.redis_url, env["REDIS_KEY_PREFIX"])
        stack.callback(_stop_all, deployment)
        for replica in deployment.all_replicas():
            replica.start(env)
        await wait_started(deployment.all_replicas())
        for service, group in replicas.items():
            balancer = RoundRobin(service, [r.url for r in group])
            await stack.enter_async_context(balancer.running())
            deployment.balancers[service] = balancer
        yield deployment


def _stop_all(deployment: Deployment, grace: float = 5.0) -> None:
    """SIGTERM to every replica at once; SIGKILL to those still running ``grace`` seconds
    later (the test is over: eight processes winding down on two busy cores are not what it
    measures)."""
    deadline = time.monotonic() + grace
    for replica in deployment.all_replicas():
        if replica.proc is not None and replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGTERM)
    for replica in deployment.all_replicas():
        replica.stop(grace=max(0.0, deadline - time.monotonic()))


@contextlib.contextmanager
def versioned_bucket(endpoint: str) -> Iterator[tuple[Any, str]]:
    """A bucket with versioning on (each write of an object is a version, so "written once"
    can be counted), emptied and removed afterwards; yields (client, name)."""
    s3: Any = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"aicc-replicas-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    try:
        yield s3, bucket
    finally:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
        s3.delete_bucket(Bucket=bucket)


def _forget_keys(redis_url: str, prefix: str) -> None:
    """Delete what the deployment left in Redis (locks, counters, breaker state, caches)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- the day's cast ---------------------------------------------------------------------------


@dataclass
class Day:
    """The deployment, a client of its balancers, the stand-ins it calls and the bucket."""

    deployment: Deployment
    api: Api
    database_url: str
    s3: Any
    bucket: str
    shop: ShopFake
    """The provider of the ASYNC messages: it deduplicates orders on ``Idempotency-Key``."""
    flaky: ShopFake
    receiver: FakeReceiver
    connect: FakeConnect
    admin: str = ""
    agent: str = ""

    def replicas(self, service: str) -> list[str]:
        return [r.url for r in self.deployment.replicas[service] if r.alive]

    async def answers(self, token: str) -> set[int]:
        """What every live auth and recording replica answers to ``token``."""
        found = set()
        for service, path in (("auth", "/auth/me"), ("recording", "/recordings?limit=1")):
            for url in self.replicas(service):
                found.add((await self.api.call(url, "GET", path, token=token)).status_code)
        return found

    async def register(self, integration_id: str, url: str, **options: Any) -> None:
        """A ``rest`` integration of ``url`` (no credentials)."""
        body: dict[str, Any] = {"integration_id": integration_id, "name": integration_id}
        body |= {"type": "custom", "endpoint_url": url, "auth_type": "none", "provider": "rest"}
        answer = await self.api.call(
            "integration",
            "POST",
            "/integrations",
            token=self.admin,
            json={**body, "options": options},
        )
        assert answer.status_code == 201, answer.text

    async def undelivered(self, integration_id: str) -> int:
        """Messages not (yet) delivered: queued, being sent, failed for now, or dead."""
        path = f"/integrations/{integration_id}/messages"
        query = {"status": "queued,sending,failed,dead", "limit": 500}
        answer = await self.api.call("integration", "GET", path, token=self.admin, params=query)
        return len(answer.json()["messages"])

    async def start_recording(self, session: str) -> tuple[str, str]:
        """A stereo WAV call for agent001; its id and ``stream_url`` (through the balancer)."""
        body: dict[str, Any] = {"session_id": session, "agent_id": "agent001"}
        body |= {"customer_id": "c-42", "format": "wav", "channels": 2}
        path = "/recordings/voice/start"
        started = await self.api.call("recording", "POST", path, token=self.agent, json=body)
        assert started.status_code == 201, started.text
        return started.json()["recording_id"], started.json()["stream_url"]

    def polls(self, since: float = 0.0) -> list[float]:
        """When the Connect stand-in was polled (one ListQueues a poll)."""
        return [r.at for r in self.connect.calls("/queues-summary/") if r.at >= since]

    async def leader_pid(self, task: str) -> int:
        """The process id of the replica leading periodic ``task`` (its lease's owner)."""
        connection = await asyncpg.connect(self.database_url)
        try:
            owner: str = await connection.fetchval(
                "SELECT owner FROM core_lease WHERE name = $1", f"jobs:periodic:{task}"
            )
        finally:
            await connection.close()
        return int(owner.rsplit(":", 2)[1])


@contextlib.asynccontextmanager
async def contact_center(tmp_path: Path, backends: Backends, **settings: str) -> AsyncIterator[Day]:
    """The stand-ins (a shop, a failing CRM, a webhook receiver, Amazon Connect with one
    queue), a versioned bucket on ``backends.s3_endpoint``, and the deployment using them."""
    connect_fake = FakeConnect()
    queue = connect_fake.add_queue("Sales")
    connect_fake.set_metrics(queue, "VOICE", AGENTS_ONLINE=3, CONTACTS_IN_QUEUE=1)
    stand_ins = (ShopFake(delay=0.02), ShopFake(), FakeReceiver())
    with versioned_bucket(backends.s3_endpoint) as (s3, bucket):
        backends.bucket = bucket
        async with contextlib.AsyncExitStack() as stack:
            for fake in stand_ins:
                await stack.enter_async_context(fake.running())
            connect_url = await stack.enter_async_context(connect_fake.running())
            deployment = await stack.enter_async_context(
                deployed(
                    tmp_path,
                    backends,
                    CONNECT_INSTANCE_ID=connect_fake.instance_id,
                    AWS_ENDPOINT_URL_CONNECT=connect_url,
                    **settings,
                )
            )
            http = await stack.enter_async_context(httpx2.AsyncClient(trust_env=False, timeout=30))
            api = Api(deployment.balancers, http)
            yield Day(deployment, api, backends.database_url, s3, bucket, *stand_ins, connect_fake)
