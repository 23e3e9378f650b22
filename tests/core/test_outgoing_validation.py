"""Checking a user-supplied URL when it is submitted: 422 ``url_not_allowed`` with a reason."""

from __future__ import annotations

import time

import pytest

from aicc.core.errors import ValidationFailed
from aicc.core.outgoing import BlockReason, UrlNotAllowed, check_user_url
from tests.core.outgoing_support import HangingResolver, StaticResolver, settings_for

PUBLIC = "203.0.113.10"


async def test_acceptable_url_passes_validation() -> None:
    resolver = StaticResolver({"api.partner.test": [PUBLIC]})
    url = "https://api.partner.test/v1/webhook?token=abc"
    await check_user_url(url, settings_for("production"), resolver=resolver)
    await check_user_url("http://localhost:9000/callback", settings_for("development"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.partner.test/", "scheme_not_allowed"),
        ("javascript:alert(1)", "scheme_not_allowed"),
        ("api.partner.test/no-scheme", "scheme_not_allowed"),
        ("http:///path-only", "invalid_host"),
        ("http://exa mple.test/", "invalid_host"),
        ("http://[::1/", "invalid_host"),
        ("http://1.2.3.4.5/", "invalid_host"),
        ("http://host.0x10/", "invalid_host"),
        ("http://169.254.169.254/latest/meta-data/", "cloud_metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud_metadata"),
        ("http://0251.0376.0251.0376/", "cloud_metadata"),
        ("http://2852039166/", "cloud_metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud_metadata"),
        ("http://[fe80::1%25eth0]/", "link_local"),
        ("http://localhost:8003/.well-known/jwks.json", "loopback"),
        ("http://192.168.1.10/", "private_network"),
        ("http://nowhere.partner.test/", "unresolvable_host"),
    ],
)
async def test_unacceptable_url_is_refused_with_url_not_allowed(url: str, reason: str) -> None:
    resolver = StaticResolver(
        {"metadata.google.internal": ["169.254.169.254"], "localhost": ["127.0.0.1"]}
    )
    with pytest.raises(UrlNotAllowed) as caught:
        await check_user_url(
            url, settings_for("production"), resolver=resolver, field="endpoint_url"
        )
    error = caught.value
    assert isinstance(error, ValidationFailed)
    assert (error.status_code, error.error_code) == (422, "url_not_allowed")
    assert error.details == [{"reason": reason, "field": "endpoint_url"}]
    assert error.message.startswith("URL not allowed: ")


async def test_validation_message_leaks_neither_credentials_nor_addresses() -> None:
    resolver = StaticResolver({"intranet.test": ["10.9.8.7"]})
    url = "https://admin:hunter2@intranet.test/hook?api_key=s3cret"
    with pytest.raises(UrlNotAllowed) as caught:
        await check_user_url(url, settings_for("production"), resolver=resolver)
    text = f"{caught.value.message} {caught.value.details}"
    for secret in ("hunter2", "s3cret", "admin", "10.9.8.7", "intranet"):
        assert secret not in text


async def test_validation_gives_up_on_a_slow_resolver() -> None:
    settings = settings_for("production", connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(UrlNotAllowed) as caught:
        await check_user_url("https://slow.test/", settings, resolver=HangingResolver())
    assert caught.value.reason is BlockReason.UNRESOLVABLE_HOST
    assert time.monotonic() - started < 2
