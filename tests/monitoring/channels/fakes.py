"""Stand-ins for the providers behind the notification channels: a Slack incoming webhook,
PagerDuty's Events API v2 and a plain webhook receiver speak HTTP on loopback; SNS and SES are
moto's server, read back from moto's backends in this process."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import boto3
import orjson
import pytest
from fastapi import Request, Response
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sesv2.responses import SESV2Response
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend, sns_backends

from tests.integration.fakes.common import FakeProvider

PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")


class FakeSlack(FakeProvider):
    """Incoming webhooks at ``/services/T.../B.../token``: 200 ``ok``; an unknown hook 404
    ``no_service``; a body that is not JSON 400 ``invalid_payload``; no text, blocks or
    attachments 400 ``no_text`` (Slack's answers since 2016-05-17)."""

    def __init__(self) -> None:
        super().__init__("Slack incoming webhook stand-in")
        self.hooks: set[str] = set()
        self.messages: list[dict[str, Any]] = []

        @self.app.post("/services/{hook:path}")
        async def incoming(hook: str, request: Request) -> Response:
            if hook not in self.hooks:
                return _text(404, "no_service")
            try:
                message = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _text(400, "invalid_payload")
            if not isinstance(message, dict):
                return _text(400, "invalid_payload")
            if not (message.get("text") or message.get("blocks") or message.get("attachments")):
                return _text(400, "no_text")
            self.messages.append(message)
            return _text(200, "ok")

    def hook(self) -> str:
        """A new webhook URL (call once the stand-in runs)."""
        team, bot = secrets.token_hex(4).upper(), secrets.token_hex(4).upper()
        path = f"T{team}/B{bot}/{secrets.token_hex(12)}"
        self.hooks.add(path)
        return f"{self.url}/services/{path}"


class FakePagerDuty(FakeProvider):
    """``POST /v2/enqueue`` checked as PagerDuty does (routing key of 32 characters, a known
    ``event_action``, ``dedup_key`` for acknowledge and resolve, ``payload.summary``,
    ``source`` and ``severity`` for trigger); incidents keyed by ``dedup_key``."""

    def __init__(self) -> None:
        super().__init__("PagerDuty Events API v2 stand-in")
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, str] = {}

        @self.app.post("/v2/enqueue")
        async def enqueue(request: Request) -> Response:
            try:
                event = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _invalid(["Event object is not valid JSON"])
            errors = _event_errors(event)
            if errors:
                return _invalid(errors)
            key = event.get("dedup_key") or uuid.uuid4().hex
            action = event["event_action"]
            if action == "trigger":
                self.incidents[key] = "triggered"
            elif key in self.incidents:
                self.incidents[key] = "resolved" if action == "resolve" else "acknowledged"
            self.events.append(event)
            body = {"status": "success", "message": "Event processed", "dedup_key": key}
            return Response(orjson.dumps(body), 202, media_type="application/json")


def _event_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append(
            "'event_action' is invalid (must be one of the following: "
            "'trigger', 'acknowledge' or 'resolve')"
        )
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is missing and is required")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or is not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is too long (maximum is 1024 characters)")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of the following: "
                "'critical', 'warning', 'error' or 'info')"
            )
    return errors


class FakeReceiver(FakeProvider):
    """A webhook receiver: any POST is accepted with 200 and kept as JSON."""

    def __init__(self) -> None:
        super().__init__("webhook receiver stand-in")
        self.bodies: list[Any] = []

        @self.app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            self.bodies.append(orjson.loads(await request.body()))
            return Response(status_code=200)


def _text(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/html")


def _invalid(errors: list[str]) -> Response:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return Response(orjson.dumps(body), 400, media_type="application/json")


class MotoNotify:
    """SNS topics and SES identities on moto's server, with what they received."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.emails: list[dict[str, Any]] = []
        """Every SES v2 SendEmail request body moto accepted."""
        self.publish_calls: list[dict[str, Any]] = []
        """Every SNS Publish moto accepted, as moto's backend was called."""
        self._monkeypatch = monkeypatch
        send_email = SESV2Response.send_email
        publish = SNSBackend.publish

        def recording_publish(backend: Any, message: str, **kwargs: Any) -> Any:
            message_id = publish(backend, message, **kwargs)
            self.publish_calls.append({"message_id": message_id, "message": message, **kwargs})
            return message_id

        def recording_send_email(response: Any) -> Any:
            answer = send_email(response)
            self.emails.append(json.loads(response.body))
            return answer

        monkeypatch.setattr(SESV2Response, "send_email", recording_send_email)
        monkeypatch.setattr(SNSBackend, "publish", recording_publish)

    def client(self, service: str, region: str | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region or self.region)

    def create_topic(self, *, fifo: bool = False, region: str | None = None) -> str:
        name = f"aicc-alerts-{uuid.uuid4().hex[:8]}"
        attributes = {}
        if fifo:
            name += ".fifo"
            attributes = {"FifoTopic": "true"}
        created = self.client("sns", region).create_topic(Name=name, Attributes=attributes)
        arn: str = created["TopicArn"]
        return arn

    def published(self, arn: str) -> list[tuple[Any, ...]]:
        """``(message_id, message, subject, attributes, group_id)`` per publish to the topic."""
        region = arn.split(":")[3]
        found: list[tuple[Any, ...]] = (
            sns_backends[DEFAULT_ACCOUNT_ID][region].get_topic(arn).sent_notifications
        )
        return found

    def fail_publish(self, code: str, message: str) -> None:
        """Every Publish from now on answers this AWS error."""

        def failing(backend: Any, text: str, **kwargs: Any) -> Any:
            raise SNSException(code, message)

        self._monkeypatch.setattr(SNSBackend, "publish", failing)

    def verified_domain(self) -> str:
        domain = f"{uuid.uuid4().hex[:10]}.aicc.example.com"
        self.client("sesv2").create_email_identity(EmailIdentity=domain)
        return domain
