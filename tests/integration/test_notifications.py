"""SMS and topics through Amazon SNS, e-mail through Amazon SES (both on moto's server), and
push notifications through Firebase Cloud Messaging (on the Google stand-in)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aicc.core.errors import ValidationFailed
from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from aicc.integration.errors import NeedsReauth, ProviderFailed
from tests.integration.fakes.aws import ACCOUNT, MotoAws
from tests.integration.fakes.google import FakeGoogle, fcm_fault
from tests.integration.support import integration_settings

REGION = "ap-northeast-2"
UNMODELLED = pytest.mark.filterwarnings("ignore:Exception.SNSException. with code:UserWarning")
"""moto warns when an injected error code is not in SNS's model (these are AWS-wide codes)."""


def message(integration_id: str, method: str, **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id=integration_id,
        message_type=MessageType.SYNC,
        payload={"method": method, **payload},
    )


async def register_aws(
    service: IntegrationService, provider: str, aws: MotoAws, **auth: Any
) -> str:
    integration_id = f"{provider}-{uuid.uuid4().hex[:8]}"
    await service.register_integration(
        IntegrationConfig(
            integration_id=integration_id,
            name=provider,
            type=IntegrationType.NOTIFICATION,
            endpoint_url=aws.endpoint,
            auth_type="aws",
            auth_config={"region": aws.region, **auth},
            provider=provider,
        )
    )
    return integration_id


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> MotoAws:
    return MotoAws(monkeypatch, moto_endpoint, REGION)


@pytest.fixture
async def one_attempt(tmp_path: Path) -> AsyncIterator[IntegrationService]:
    """The service with one attempt per AWS call: errors reach the connector unretried."""
    service = IntegrationService(
        settings=integration_settings(tmp_path, {}, **{"aws.max_attempts": 1})
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


# --- SNS -----------------------------------------------------------------------------------


async def test_sms_is_published_to_the_phone_number_as_transactional(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    sms = await register_aws(integrations, "aws_sns", aws)
    result = await integrations.send_message(
        message(sms, "send_sms", phone_number="+821012345678", message="안녕하세요, 상담센터입니다")
    )

    assert result["status"] == "delivered"
    message_id = result["data"]["message_id"]
    assert result["data"] == {"message_id": message_id}
    assert aws.sms(message_id) == ("+821012345678", "안녕하세요, 상담센터입니다")
    (call,) = aws.published
    assert call["message_attributes"]["AWS.SNS.SMS.SMSType"]["Value"] == "Transactional"
    assert "AWS.SNS.SMS.SenderID" not in call["message_attributes"]


async def test_promotional_sms_carries_its_type_and_sender_id(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    sms = await register_aws(integrations, "sns", aws)
    await integrations.send_message(
        message(
            sms,
            "send_sms",
            phone_number="+821098765432",
            message="이벤트 안내",
            sms_type="Promotional",
            sender_id="AICC",
        )
    )

    attributes = aws.published[0]["message_attributes"]
    assert attributes["AWS.SNS.SMS.SMSType"]["Value"] == "Promotional"
    assert attributes["AWS.SNS.SMS.SenderID"]["Value"] == "AICC"


@pytest.mark.parametrize("phone", ["01012345678", "+82 10 1234 5678", "+0101234567"])
async def test_phone_number_not_in_e164_is_refused_before_publishing(
    integrations: IntegrationService, aws: MotoAws, phone: str
) -> None:
    sms = await register_aws(integrations, "aws_sns", aws)
    with pytest.raises(ValidationFailed) as refused:
        await integrations.send_message(message(sms, "send_sms", phone_number=phone, message="x"))

    assert refused.value.details[0]["loc"] == ["payload", "phone_number"]
    assert aws.published == []


async def test_publish_reaches_the_topic_with_its_subject(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    arn = aws.create_topic()
    sns = await register_aws(integrations, "aws_sns", aws)
    result = await integrations.send_message(
        message(sns, "publish", topic_arn=arn, message="배송이 시작되었습니다", subject="Shipping")
    )

    ((message_id, text, subject, _, _),) = aws.topic_notifications(arn)
    assert result["data"] == {"message_id": message_id}
    assert (text, subject) == ("배송이 시작되었습니다", "Shipping")


async def test_publish_to_a_missing_topic_is_a_terminal_provider_error(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    sns = await register_aws(integrations, "aws_sns", aws)
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ProviderFailed) as failed:
        await integrations.send_message(message(sns, "publish", topic_arn=missing, message="x"))

    assert failed.value.status_code == 502
    details = failed.value.details
    assert (details["provider_code"], details["outcome"]) == ("NotFound", "terminal")
    assert details["provider_status"] == 404


@UNMODELLED
async def test_sns_throttling_left_after_the_client_retries_is_throttled(
    one_attempt: IntegrationService, aws: MotoAws
) -> None:
    aws.fail_publish("Throttling", "Rate exceeded")
    sms = await register_aws(one_attempt, "aws_sns", aws)
    with pytest.raises(ProviderFailed) as failed:
        await one_attempt.send_message(
            message(sms, "send_sms", phone_number="+821012345678", message="x")
        )

    assert failed.value.details["provider_code"] == "Throttling"
    assert failed.value.details["outcome"] == "throttled"


@UNMODELLED
async def test_aws_refusing_the_credentials_needs_reauth(
    one_attempt: IntegrationService, aws: MotoAws
) -> None:
    aws.fail_publish("InvalidClientTokenId", "The security token is invalid.")
    sms = await register_aws(one_attempt, "aws_sns", aws)
    with pytest.raises(NeedsReauth):
        await one_attempt.send_message(
            message(sms, "send_sms", phone_number="+821012345678", message="x")
        )

    assert (await one_attempt.get_integration(sms))["status"] == "needs_reauth"


async def test_aws_keys_in_auth_config_are_refused(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await register_aws(
            integrations, "aws_sns", aws, access_key_id="AKIA", secret_access_key="x"
        )

    assert "access_key_id is not supported" in refused.value.message


async def test_sns_health_reads_the_sms_attributes(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    sms = await register_aws(integrations, "aws_sns", aws)
    health = await integrations.integration_health(sms)

    assert health["status"] == "healthy"
    assert health["details"]["ok"] is True


# --- SES -----------------------------------------------------------------------------------


async def test_email_is_sent_with_utf8_subject_text_and_html(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    domain = aws.verified_domain()
    ses = await register_aws(integrations, "aws_ses", aws)
    result = await integrations.send_message(
        message(
            ses,
            "send_email",
            to=["kim@customer.example", "이영희 <lee@customer.example>"],
            cc="team@customer.example",
            reply_to="help@" + domain,
            **{"from": f"상담센터 <no-reply@{domain}>"},
            subject="상담 내역 안내",
            text="안녕하세요. 상담 내역입니다.",
            html="<p>안녕하세요. <b>상담 내역</b>입니다.</p>",
        )
    )

    assert result["status"] == "delivered"
    (request,) = aws.emails
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": "상담 내역 안내", "Charset": "UTF-8"}
    assert simple["Body"]["Text"] == {"Data": "안녕하세요. 상담 내역입니다.", "Charset": "UTF-8"}
    assert simple["Body"]["Html"] == {
        "Data": "<p>안녕하세요. <b>상담 내역</b>입니다.</p>",
        "Charset": "UTF-8",
    }
    to = request["Destination"]["ToAddresses"]
    assert to[0] == "kim@customer.example"
    assert to[1].startswith("=?utf-8?") and to[1].endswith("?= <lee@customer.example>")
    assert request["Destination"]["CcAddresses"] == ["team@customer.example"]
    assert request["ReplyToAddresses"] == ["help@" + domain]
    assert request["FromEmailAddress"].startswith("=?utf-8?")
    assert request["FromEmailAddress"].endswith(f"<no-reply@{domain}>")
    stored = aws.last_email()
    assert (stored.id, stored.subject) == (result["data"]["message_id"], "상담 내역 안내")


async def test_sender_defaults_to_the_configured_from_address(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    domain = aws.verified_domain()
    ses = await register_aws(integrations, "ses", aws, from_address=f"no-reply@{domain}")
    await integrations.send_message(
        message(ses, "send_email", to="kim@customer.example", subject="Hi", text="본문")
    )

    assert aws.emails[0]["FromEmailAddress"] == f"no-reply@{domain}"
    assert "Html" not in aws.emails[0]["Content"]["Simple"]["Body"]


async def test_unverified_sender_is_rejected_terminally(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    ses = await register_aws(integrations, "aws_ses", aws)
    with pytest.raises(ProviderFailed) as failed:
        await integrations.send_message(
            message(
                ses,
                "send_email",
                to="kim@customer.example",
                subject="Hi",
                text="x",
                **{"from": "someone@unverified.example"},
            )
        )

    assert failed.value.details["provider_code"] == "MessageRejected"
    assert failed.value.details["outcome"] == "terminal"


async def test_email_without_a_body_is_refused_before_sending(
    integrations: IntegrationService, aws: MotoAws
) -> None:
    ses = await register_aws(integrations, "aws_ses", aws, from_address="a@b.example")
    with pytest.raises(ValidationFailed) as refused:
        await integrations.send_message(
            message(ses, "send_email", to="kim@customer.example", subject="Hi")
        )

    assert refused.value.details[0]["loc"] == ["payload", "text"]
    assert aws.emails == []


# --- FCM -----------------------------------------------------------------------------------


async def register_fcm(
    service: IntegrationService, fake: FakeGoogle, *, trusted: bool = True
) -> str:
    integration_id = f"push-{uuid.uuid4().hex[:8]}"
    await service.register_integration(
        IntegrationConfig(
            integration_id=integration_id,
            name="Push",
            type=IntegrationType.NOTIFICATION,
            endpoint_url=fake.url,
            auth_type="service_account",
            auth_config={"service_account": json.dumps(fake.service_account(trusted=trusted))},
            provider="fcm",
        )
    )
    return integration_id


async def test_push_is_sent_with_a_token_from_the_signed_assertion(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        device = fake.register_device()
        result = await integrations.send_message(
            message(
                push,
                "send_push",
                token=device,
                title="상담 예약",
                body="내일 오전 10시에 연락드립니다",
                data={"ticket_id": "T-1"},
            )
        )

    (sent,) = fake.sent
    assert result["data"] == {"message_name": sent["name"]}
    assert sent["message"] == {
        "token": device,
        "notification": {"title": "상담 예약", "body": "내일 오전 10시에 연락드립니다"},
        "data": {"ticket_id": "T-1"},
    }
    (claims,) = fake.assertions
    assert claims["iss"] == fake.client_email
    assert claims["aud"] == fake.token_uri
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["exp"] - claims["iat"] == 3600
    assert sent["authorization"].removeprefix("Bearer ") in fake.access_tokens


async def test_access_token_is_fetched_once_for_two_pushes(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        for _ in range(2):
            await integrations.send_message(message(push, "send_push", topic="news", body="x"))

    assert len(fake.calls("/token")) == 1
    assert [s["message"]["topic"] for s in fake.sent] == ["news", "news"]
    assert fake.sent[0]["authorization"] == fake.sent[1]["authorization"]


async def test_refused_access_token_is_refreshed_once_then_the_push_succeeds(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        device = fake.register_device()
        await integrations.send_message(message(push, "send_push", token=device, body="1"))
        fake.expire_tokens()
        result = await integrations.send_message(message(push, "send_push", token=device, body="2"))

    assert result["status"] == "delivered"
    assert len(fake.calls("/token")) == 2
    assert len(fake.calls("messages:send")) == 3
    assert fake.sent[0]["authorization"] != fake.sent[1]["authorization"]


async def test_unregistered_device_token_is_a_terminal_provider_error(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message(push, "send_push", token="uninstalled-app", title="x")
            )

    details = failed.value.details
    assert (details["provider_code"], details["outcome"]) == ("UNREGISTERED", "terminal")
    assert details["provider_status"] == 404


@pytest.mark.parametrize(
    ("status", "name", "code", "outcome"),
    [
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "throttled"),
        (503, "UNAVAILABLE", "UNAVAILABLE", "retryable"),
    ],
)
async def test_quota_and_outage_errors_carry_the_retry_after(
    integrations: IntegrationService, status: int, name: str, code: str, outcome: str
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        device = fake.register_device()
        fake.fail(fcm_fault(status, name, code, retry_after=30))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message(push, "send_push", token=device, body="x"))

    details = failed.value.details
    assert (details["provider_code"], details["outcome"]) == (code, outcome)
    assert details["retry_after"] == 30.0
    assert failed.value.headers["Retry-After"] == "30"
    assert fake.sent == []


async def test_key_google_does_not_know_needs_reauth(integrations: IntegrationService) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake, trusted=False)
        with pytest.raises(NeedsReauth):
            await integrations.send_message(message(push, "send_push", topic="news", body="x"))

    assert fake.calls("messages:send") == []
    assert (await integrations.get_integration(push))["status"] == "needs_reauth"


async def test_data_values_that_are_not_strings_are_refused_before_sending(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(
                message(push, "send_push", topic="news", data={"count": 3, "ok": "yes"})
            )

    assert refused.value.details[0]["loc"] == ["payload", "data"]
    assert "count" in refused.value.details[0]["msg"]
    assert fake.requests == []


async def test_validate_only_push_is_checked_but_not_delivered(
    integrations: IntegrationService,
) -> None:
    fake = FakeGoogle()
    async with fake.running():
        push = await register_fcm(integrations, fake)
        device = fake.register_device()
        result = await integrations.send_message(
            message(push, "send_push", token=device, title="x", validate_only=True)
        )
        health = await integrations.integration_health(push)

    assert result["status"] == "delivered"
    assert fake.sent == []
    assert [m.get("token") or m["topic"] for m in fake.validated] == [device, "aicc-health"]
    assert health["status"] == "healthy"
