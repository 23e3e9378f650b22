"""SNS and SES on moto's server. The server runs in this process, so what AWS received is
read from moto's backends or recorded on the way in, and errors are injected into Publish."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sesv2.responses import SESV2Response
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend, sns_backends

ACCOUNT = DEFAULT_ACCOUNT_ID


class MotoAws:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.published: list[dict[str, Any]] = []
        """Every SNS Publish: message, phone_number or arn, message_attributes (moto's
        shape: ``{"Type": ..., "Value": ...}``), subject."""
        self.emails: list[dict[str, Any]] = []
        """Every SES v2 SendEmail request body."""
        self._monkeypatch = monkeypatch
        publish = SNSBackend.publish
        send_email = SESV2Response.send_email

        def recording_publish(backend: Any, message: str, **kwargs: Any) -> Any:
            message_id = publish(backend, message, **kwargs)
            self.published.append({"message_id": message_id, "message": message, **kwargs})
            return message_id

        def recording_send_email(response: Any) -> Any:
            self.emails.append(json.loads(response.body))
            return send_email(response)

        monkeypatch.setattr(SNSBackend, "publish", recording_publish)
        monkeypatch.setattr(SESV2Response, "send_email", recording_send_email)

    def fail_publish(self, code: str, message: str) -> None:
        """Every Publish from now on answers this AWS error."""

        def failing(backend: Any, text: str, **kwargs: Any) -> Any:
            raise SNSException(code, message)

        self._monkeypatch.setattr(SNSBackend, "publish", failing)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)

    def sms(self, message_id: str) -> tuple[str, str]:
        """The phone number and text of an SMS SNS sent."""
        found: tuple[str, str] = sns_backends[ACCOUNT][self.region].sms_messages[message_id]
        return found

    def create_topic(self) -> str:
        arn: str = self.client("sns").create_topic(Name=f"aicc-{uuid.uuid4().hex[:8]}")["TopicArn"]
        return arn

    def topic_notifications(self, arn: str) -> list[tuple[Any, ...]]:
        """``(message_id, message, subject, attributes, group_id)`` per publish to the topic."""
        found: list[tuple[Any, ...]] = (
            sns_backends[ACCOUNT][self.region].get_topic(arn).sent_notifications
        )
        return found

    def verified_domain(self) -> str:
        """A new domain SES may send from."""
        domain = f"{uuid.uuid4().hex[:10]}.aicc.example.com"
        self.client("sesv2").create_email_identity(EmailIdentity=domain)
        return domain

    def last_email(self) -> Any:
        """The last message SES accepted (``id``, ``source``, ``subject``, ``body``)."""
        return ses_backends[ACCOUNT][self.region].sent_messages[-1]
