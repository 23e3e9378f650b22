"""An Amazon Connect stand-in speaking the real REST-JSON protocol botocore uses (moto has no
real-time metrics): ``ListQueues``, ``GetCurrentMetricData``, ``GetCurrentUserData`` and
``ListRoutingProfileQueues`` at their real paths and shapes (botocore's ``connect``
service model), paged with ``NextToken`` tokens bound to the request that made them, with the
API's own limits checked (100 queues a filter, 3 channels, page sizes), AWS errors in the
``x-amzn-ErrorType`` header and the body, and 404 ``ResourceNotFoundException`` for an
unknown instance or routing profile. SigV4 is not verified. Throttling and other faults are
injected with :meth:`FakeProvider.fail` (``throttle`` builds the fault)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Query, Request
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider, Fault

REGION = "us-east-1"
ACCOUNT = "123456789012"
UNITS = {
    "AGENTS_ONLINE": "COUNT",
    "AGENTS_AVAILABLE": "COUNT",
    "AGENTS_ON_CALL": "COUNT",
    "AGENTS_NON_PRODUCTIVE": "COUNT",
    "AGENTS_AFTER_CONTACT_WORK": "COUNT",
    "AGENTS_ERROR": "COUNT",
    "AGENTS_STAFFED": "COUNT",
    "CONTACTS_IN_QUEUE": "COUNT",
    "OLDEST_CONTACT_AGE": "SECONDS",
    "CONTACTS_SCHEDULED": "COUNT",
    "AGENTS_ON_CONTACT": "COUNT",
    "SLOTS_ACTIVE": "COUNT",
    "SLOTS_AVAILABLE": "COUNT",
    "ESTIMATED_WAIT_TIME": "SECONDS",
}
CHANNELS = ("VOICE", "CHAT", "TASK")


def throttle(path: str, code: str = "TooManyRequestsException") -> Fault:
    """A 429 for the next request whose path contains ``path``."""
    return Fault(
        status=429,
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"},
        body={"message": "Rate exceeded"},
        path=path,
    )


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> AwsError:
    return AwsError(400, "InvalidParameterException", message)


@dataclass
class Agent:
    id: str
    routing_profile: str
    status: str = "Available"
    contacts: list[dict[str, Any]] = field(default_factory=list)


class FakeConnect:
    """One Connect instance. ``page_size`` caps every page below what the client asks."""

    def __init__(self, *, page_size: int | None = None) -> None:
        self.instance_id = str(uuid.uuid4())
        self.page_size = page_size
        self.queues: dict[str, tuple[str, str]] = {}
        """id -> (name, QueueType)."""
        self.metrics: dict[tuple[str, str], dict[str, float | None]] = {}
        self.profiles: dict[str, list[tuple[str, str]]] = {}
        """routing profile id -> (queue id, channel) entries."""
        self.agents: list[Agent] = []
        self.snapshot_time = time.time()
        self.provider = FakeProvider("Amazon Connect stand-in")
        self._routes()

    @property
    def url(self) -> str:
        return self.provider.url

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async with self.provider.running() as url:
            yield url

    def arn(self, kind: str, resource: str) -> str:
        return f"arn:aws:connect:{REGION}:{ACCOUNT}:instance/{self.instance_id}/{kind}/{resource}"

    def add_queue(self, name: str, queue_type: str = "STANDARD") -> str:
        queue_id = str(uuid.uuid4())
        self.queues[queue_id] = (name, queue_type)
        return queue_id

    def set_metrics(self, queue_id: str, channel: str, **values: float | None) -> None:
        self.metrics.setdefault((queue_id, channel), {}).update(values)

    def add_profile(self, *queue_ids: str) -> str:
        profile = str(uuid.uuid4())
        self.profiles[profile] = [(q, c) for q in queue_ids for c in CHANNELS]
        return profile

    def add_agent(self, profile: str, status: str = "Available", *contact_states: str) -> Agent:
        contacts = [
            {"ContactId": str(uuid.uuid4()), "Channel": "VOICE", "AgentContactState": state}
            for state in contact_states
        ]
        agent = Agent(str(uuid.uuid4()), profile, status, contacts)
        self.agents.append(agent)
        return agent

    def calls(self, path_part: str) -> list[Any]:
        return self.provider.calls(path_part)

    def _page(self, items: list[Any], asked: int | None, token: str | None, bound: Any) -> Any:
        """One page of ``items`` and the next token; a token only works with the parameters
        of the request that got it."""
        digest = hashlib.sha256(orjson.dumps(bound, option=orjson.OPT_SORT_KEYS)).hexdigest()
        start = 0
        if token:
            try:
                found = orjson.loads(base64.urlsafe_b64decode(token))
            except ValueError as exc:
                raise _invalid("The token is invalid") from exc
            if found.get("digest") != digest:
                raise AwsError(
                    400, "InvalidRequestException", "The token is not for these parameters"
                )
            start = found["offset"]
        size = min(asked or 100, self.page_size or 1000)
        end = start + size
        following = None
        if end < len(items):
            following = base64.urlsafe_b64encode(
                orjson.dumps({"offset": end, "digest": digest})
            ).decode()
        return items[start:end], following

    def _check_instance(self, instance_id: str) -> None:
        if instance_id != self.instance_id:
            raise AwsError(404, "ResourceNotFoundException", f"Instance {instance_id} not found")

    def _routes(self) -> None:
        app = self.provider.app

        @app.exception_handler(AwsError)
        async def aws_error(request: Request, exc: AwsError) -> JSONResponse:
            return JSONResponse(
                {"message": exc.message},
                status_code=exc.status,
                headers={"x-amzn-ErrorType": exc.code},
            )

        @app.get("/queues-summary/{instance_id}")
        async def list_queues(
            instance_id: str,
            queue_types: list[str] = Query(default=[], alias="queueTypes"),  # noqa: B008
            next_token: str | None = Query(default=None, alias="nextToken"),
            max_results: int | None = Query(default=None, alias="maxResults"),
        ) -> dict[str, Any]:
            self._check_instance(instance_id)
            if max_results is not None and not 1 <= max_results <= 1000:
                raise _invalid("maxResults must be 1..1000")
            found = [
                {
                    "Id": queue_id,
                    "Arn": self.arn("queue", queue_id),
                    "Name": name,
                    "QueueType": kind,
                    "LastModifiedTime": 1_700_000_000.0,
                }
                for queue_id, (name, kind) in self.queues.items()
                if not queue_types or kind in queue_types
            ]
            page, token = self._page(found, max_results, next_token, sorted(queue_types))
            return {"QueueSummaryList": page, **({"NextToken": token} if token else {})}

        @app.post("/metrics/current/{instance_id}")
        async def current_metric_data(instance_id: str, request: Request) -> dict[str, Any]:
            self._check_instance(instance_id)
            body = orjson.loads(await request.body())
            token = body.pop("NextToken", None)
            filters = body.get("Filters") or {}
            queues = filters.get("Queues") or []
            channels = filters.get("Channels") or []
            groupings = body.get("Groupings") or []
            wanted = body.get("CurrentMetrics") or []
            if not 1 <= len(queues) <= 100:
                raise _invalid("Filters.Queues must hold 1..100 queues")
            if len(channels) > 3 or set(channels) - set(CHANNELS):
                raise _invalid("Filters.Channels: up to 3 of VOICE, CHAT, TASK")
            if groupings != ["QUEUE", "CHANNEL"]:
                raise _invalid("this stand-in answers Groupings [QUEUE, CHANNEL] only")
            if not wanted:
                raise _invalid("CurrentMetrics is required")
            for metric in wanted:
                if UNITS.get(metric.get("Name")) != metric.get("Unit"):
                    raise _invalid(f"Invalid metric or unit: {metric}")
            max_results = body.get("MaxResults")
            if max_results is not None and not 1 <= max_results <= 100:
                raise _invalid("MaxResults must be 1..100")
            rows = []
            for queue_id, channel in itertools.product(queues, channels):
                values = self.metrics.get((queue_id, channel))
                if queue_id not in self.queues or values is None:
                    continue
                collections = []
                for metric in wanted:
                    item: dict[str, Any] = {"Metric": metric}
                    value = values.get(metric["Name"], 0.0)
                    if value is not None:
                        item["Value"] = value
                    collections.append(item)
                queue = {"Id": queue_id, "Arn": self.arn("queue", queue_id)}
                rows.append(
                    {"Dimensions": {"Queue": queue, "Channel": channel}, "Collections": collections}
                )
            page, following = self._page(rows, max_results, token, body)
            return {
                "MetricResults": page,
                "DataSnapshotTime": self.snapshot_time,
                "ApproximateTotalCount": len(rows),
                **({"NextToken": following} if following else {}),
            }

        @app.post("/metrics/userdata/{instance_id}")
        async def current_user_data(instance_id: str, request: Request) -> dict[str, Any]:
            self._check_instance(instance_id)
            body = orjson.loads(await request.body())
            token = body.pop("NextToken", None)
            filters = body.get("Filters") or {}
            if len([k for k in filters if k != "ContactFilter"]) != 1:
                raise _invalid("Filter by exactly one of queues, routing profiles, agents")
            queues = filters.get("Queues")
            if queues is None:
                raise _invalid("this stand-in filters by Queues only")
            if not 1 <= len(queues) <= 100:
                raise _invalid("Filters.Queues must hold 1..100 queues")
            max_results = body.get("MaxResults")
            if max_results is not None and not 1 <= max_results <= 100:
                raise _invalid("MaxResults must be 1..100")
            wanted = set(queues)
            users = [
                self._user_data(agent)
                for agent in self.agents
                if wanted & {q for q, _ in self.profiles.get(agent.routing_profile, [])}
            ]
            page, following = self._page(users, max_results, token, body)
            return {
                "UserDataList": page,
                "ApproximateTotalCount": len(users),
                **({"NextToken": following} if following else {}),
            }

        @app.get("/routing-profiles/{instance_id}/{profile_id}/queues")
        async def routing_profile_queues(
            instance_id: str,
            profile_id: str,
            next_token: str | None = Query(default=None, alias="nextToken"),
            max_results: int | None = Query(default=None, alias="maxResults"),
        ) -> dict[str, Any]:
            self._check_instance(instance_id)
            if profile_id not in self.profiles:
                raise AwsError(404, "ResourceNotFoundException", "Routing profile not found")
            if max_results is not None and not 1 <= max_results <= 100:
                raise _invalid("maxResults must be 1..100")
            entries = [
                {
                    "QueueId": queue_id,
                    "QueueArn": self.arn("queue", queue_id),
                    "QueueName": self.queues.get(queue_id, ("?", ""))[0],
                    "Priority": 1,
                    "Delay": 0,
                    "Channel": channel,
                }
                for queue_id, channel in self.profiles[profile_id]
            ]
            page, token = self._page(entries, max_results, next_token, profile_id)
            return {
                "RoutingProfileQueueConfigSummaryList": page,
                "LastModifiedTime": 1_700_000_000.0,
                **({"NextToken": token} if token else {}),
            }

    def _user_data(self, agent: Agent) -> dict[str, Any]:
        profile = {
            "Id": agent.routing_profile,
            "Arn": self.arn("routing-profile", agent.routing_profile),
        }
        return {
            "User": {"Id": agent.id, "Arn": self.arn("agent", agent.id)},
            "RoutingProfile": profile,
            "HierarchyPath": {},
            "Status": {
                "StatusStartTimestamp": 1_700_000_000.0,
                "StatusArn": self.arn("agent-state", agent.status),
                "StatusName": agent.status,
            },
            "AvailableSlotsByChannel": {"VOICE": 0 if agent.contacts else 1},
            "MaxSlotsByChannel": {"VOICE": 1},
            "ActiveSlotsByChannel": {"VOICE": len(agent.contacts)},
            "Contacts": [
                {**contact, "InitiationMethod": "INBOUND", "StateStartTimestamp": 1_700_000_000.0}
                for contact in agent.contacts
            ],
        }
