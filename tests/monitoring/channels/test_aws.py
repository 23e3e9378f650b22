"""The SNS and SES channels, through the service's AWS client factory, on moto's server."""

from __future__ import annotations

import email.header
import json
import uuid

import pytest

from aicc.monitoring.channels import (
    ChannelConfig,
    ChannelContext,
    ChannelError,
    dedup_key,
    parse_channel_config,
    send,
    state_key,
)
from tests.monitoring.channels.conftest import REGION
from tests.monitoring.channels.fakes import MotoNotify
from tests.monitoring.channels.samples import alert, notification

UNMODELLED = pytest.mark.filterwarnings("ignore:Exception.SNSException. with code:UserWarning")
"""moto warns when an injected error code is not in SNS's model (these are AWS-wide codes)."""


def sns_channel(arn: str, **settings: str) -> ChannelConfig:
    return parse_channel_config(
        {"name": "ops-sns", "type": "sns", "settings": {"topic_arn": arn, **settings}}
    )


def ses_channel(sender: str, *to: str) -> ChannelConfig:
    return parse_channel_config(
        {"name": "ops-mail", "type": "ses", "settings": {"from": sender, "to": list(to)}}
    )


async def test_sns_publishes_subject_full_text_and_a_short_sms_to_the_topic(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    arn = aws.create_topic()
    firing = notification(alert("mon-1"), alert("mon-2", status="resolved"))

    result = await send(sns_channel(arn), firing, aws_ctx)

    ((message_id, message, subject, attributes, group),) = aws.published(arn)
    variants = json.loads(message)
    assert result.detail == {"message_id": message_id}
    assert subject == "[FIRING:1] HighCPU (critical)"
    assert variants["sms"] == "[FIRING:1] HighCPU (critical): CPU 91.2% on mon-1"
    text = variants["default"]
    assert text.startswith("[FIRING:1] HighCPU (critical)\n\nFiring:\n- HighCPU [critical], since")
    assert "Summary: CPU 91.2% on mon-1" in text
    assert "Resolved:\n- HighCPU [critical], resolved 2026-11-26 18:07:30 UTC" in text
    assert "Alerts: http://mon.example.com:8000" in text
    assert attributes["status"] == {"Type": "String", "Value": "firing"}
    assert attributes["severity"] == {"Type": "String", "Value": "critical"}
    assert group is None


async def test_sns_resolved_notification_says_so(aws: MotoNotify, aws_ctx: ChannelContext) -> None:
    arn = aws.create_topic()

    await send(sns_channel(arn), notification(alert(status="resolved")), aws_ctx)

    ((_, message, subject, attributes, _),) = aws.published(arn)
    assert subject == "[RESOLVED] HighCPU (mon-1 critical)"
    assert json.loads(message)["default"].startswith("[RESOLVED]")
    assert attributes["status"]["Value"] == "resolved"


async def test_sns_subject_is_ascii_one_line_and_under_100_characters(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    arn = aws.create_topic()
    korean = notification(
        alert("상담-서버-1"),
        group_labels={"alertname": "HighCPU", "team": "콜센터 운영팀\n" + "é" * 150},
    )

    await send(sns_channel(arn), korean, aws_ctx)

    ((_, message, subject, _, _),) = aws.published(arn)
    assert subject.isascii()
    assert "\n" not in subject
    assert len(subject) < 100
    assert subject.startswith("[FIRING:1] HighCPU ? ? eeeee")
    assert subject.endswith("...")
    assert "콜센터 운영팀" in json.loads(message)["default"]


async def test_sns_reaches_a_topic_in_its_own_region(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    arn = aws.create_topic(region="us-west-2")

    await send(sns_channel(arn), notification(), aws_ctx)

    assert len(aws.published(arn)) == 1


async def test_sns_fifo_topic_gets_the_group_and_the_group_state_as_ids(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    arn = aws.create_topic(fifo=True)
    firing = notification()

    await send(sns_channel(arn), firing, aws_ctx)

    (call,) = aws.publish_calls
    assert call["group_id"] == dedup_key(firing)
    assert call["deduplication_id"] == state_key(firing)
    assert state_key(firing) != state_key(notification(alert(status="resolved")))


async def test_sns_missing_topic_is_terminal(aws: MotoNotify, aws_ctx: ChannelContext) -> None:
    arn = f"arn:aws:sns:{REGION}:123456789012:missing-{uuid.uuid4().hex[:8]}"

    with pytest.raises(ChannelError) as failed:
        await send(sns_channel(arn), notification(), aws_ctx)

    assert not failed.value.retryable
    assert failed.value.message.startswith("SNS Publish failed: NotFound:")


@UNMODELLED
@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("Throttling", True),
        ("InternalError", True),
        ("AuthorizationError", False),
        ("KMSDisabled", False),
    ],
)
async def test_sns_errors_are_classified(
    aws: MotoNotify, aws_ctx: ChannelContext, code: str, retryable: bool
) -> None:
    arn = aws.create_topic()
    aws.fail_publish(code, "injected")

    with pytest.raises(ChannelError) as failed:
        await send(sns_channel(arn), notification(), aws_ctx)

    assert failed.value.retryable is retryable
    assert f": {code}: " in failed.value.message


async def test_ses_sends_utf8_text_and_html_from_a_verified_identity(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    domain = aws.verified_domain()
    config = ses_channel(f"AICC 알림 <alerts@{domain}>", "oncall@example.com", "lead@example.com")
    firing = notification(alert("mon-1", summary="CPU 사용률 91.2% <높음>"))

    result = await send(config, firing, aws_ctx)

    (request,) = aws.emails
    assert result.detail["message_id"]
    assert request["Destination"] == {"ToAddresses": ["oncall@example.com", "lead@example.com"]}
    name, address = email.utils.parseaddr(request["FromEmailAddress"])
    decoded = str(email.header.make_header(email.header.decode_header(name)))
    assert (decoded, address) == ("AICC 알림", f"alerts@{domain}")
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": "[FIRING:1] HighCPU (mon-1 critical)", "Charset": "UTF-8"}
    assert "Summary: CPU 사용률 91.2% <높음>" in simple["Body"]["Text"]["Data"]
    assert simple["Body"]["Text"]["Charset"] == "UTF-8"
    html = simple["Body"]["Html"]["Data"]
    assert "CPU 사용률 91.2% &lt;높음&gt;" in html
    assert '<a href="http://mon.example.com:8000">View alerts</a>' in html
    assert simple["Body"]["Html"]["Charset"] == "UTF-8"


async def test_ses_resolved_mail_has_the_resolved_subject(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    config = ses_channel(f"alerts@{aws.verified_domain()}", "oncall@example.com")

    await send(config, notification(alert(status="resolved")), aws_ctx)

    subject = aws.emails[0]["Content"]["Simple"]["Subject"]["Data"]
    assert subject == "[RESOLVED] HighCPU (mon-1 critical)"


async def test_ses_from_an_unverified_sender_is_terminal(
    aws: MotoNotify, aws_ctx: ChannelContext
) -> None:
    config = ses_channel("alerts@unverified.example.org", "oncall@example.com")

    with pytest.raises(ChannelError) as failed:
        await send(config, notification(), aws_ctx)

    assert not failed.value.retryable
    assert "MessageRejected" in failed.value.message
    assert aws.emails == []
