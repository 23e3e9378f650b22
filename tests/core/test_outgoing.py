"""The outgoing-HTTP policy against real sockets: the SSRF guard at connection time, on
redirects and after DNS resolution; timeouts, limits, HTTP versions and proxies."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest
from fastapi import FastAPI, Request, Response

from aicc.core.config import load_settings
from aicc.core.outgoing import (
    BlockedDestination,
    BlockReason,
    build_internal_client,
    build_user_url_client,
    check_user_url,
)
from tests.asgi import live_app
from tests.backends import free_port
from tests.core.outgoing_support import (
    HangingResolver,
    RebindingResolver,
    RecordingBackend,
    StaticResolver,
    answer_ok,
    http_response,
    local_http_server,
    never_answer,
    redirect_to,
    settings_for,
)

PUBLIC = "203.0.113.10"
"""Stands in for a provider's public address; RecordingBackend routes it to a local server."""


async def _refusal(client: httpx2.AsyncClient, url: str) -> BlockReason:
    with pytest.raises(BlockedDestination) as caught:
        await client.get(url, follow_redirects=True)
    return caught.value.reason


@pytest.mark.parametrize("env", ["development", "test"])
async def test_loopback_is_reachable_outside_production(env: str) -> None:
    async with (
        local_http_server(answer_ok) as server,
        build_user_url_client(settings_for(env)) as client,
    ):
        response = await client.get(server.url())
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.http_version == "HTTP/1.1"


async def test_loopback_is_refused_in_production() -> None:
    async with (
        local_http_server(answer_ok) as server,
        build_user_url_client(settings_for("production")) as client,
    ):
        assert await _refusal(client, server.url()) is BlockReason.LOOPBACK
    assert server.accepted == 0


async def test_allow_private_networks_opens_loopback_in_production() -> None:
    settings = settings_for("production", allow_private_networks=True)
    async with local_http_server(answer_ok) as server, build_user_url_client(settings) as client:
        response = await client.get(server.url())
    assert response.status_code == 200


async def test_host_name_is_judged_by_what_it_resolves_to() -> None:
    async with (
        local_http_server(answer_ok) as server,
        build_user_url_client(settings_for("production")) as client,
    ):
        reason = await _refusal(client, server.url(host="localhost"))
    assert reason is BlockReason.LOOPBACK
    assert server.accepted == 0


async def test_redirect_to_cloud_metadata_is_refused_even_in_development() -> None:
    sockets = RecordingBackend()
    metadata = "http://169.254.169.254/latest/meta-data/"
    async with (
        local_http_server(redirect_to(metadata)) as server,
        build_user_url_client(settings_for(), network_backend=sockets) as client,
    ):
        assert await _refusal(client, server.url()) is BlockReason.CLOUD_METADATA
    assert sockets.attempts == [("127.0.0.1", server.port)]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://10.0.0.5/admin", BlockReason.PRIVATE_NETWORK),
        ("http://localhost/", BlockReason.LOOPBACK),
        ("http://[fd12:3456::1]/", BlockReason.PRIVATE_NETWORK),
        ("file:///etc/passwd", BlockReason.SCHEME_NOT_ALLOWED),
    ],
)
async def test_redirect_away_from_a_public_host_is_checked_again(
    location: str, reason: BlockReason
) -> None:
    resolver = StaticResolver({"hooks.partner.test": [PUBLIC], "localhost": ["127.0.0.1"]})
    async with local_http_server(redirect_to(location)) as server:
        sockets = RecordingBackend({PUBLIC: server.port})
        settings = settings_for("production")
        async with build_user_url_client(
            settings, network_backend=sockets, resolver=resolver
        ) as client:
            assert await _refusal(client, "http://hooks.partner.test/hook") is reason
    assert sockets.attempts == [(PUBLIC, 80)]


async def test_public_host_is_reached_at_the_address_that_was_vetted() -> None:
    resolver = StaticResolver({"api.partner.test": [PUBLIC]})
    async with local_http_server(answer_ok) as server:
        sockets = RecordingBackend({PUBLIC: server.port})
        settings = settings_for("production")
        async with build_user_url_client(
            settings, network_backend=sockets, resolver=resolver
        ) as client:
            response = await client.get("http://api.partner.test/v1/contacts")
    assert response.status_code == 200
    assert sockets.attempts == [(PUBLIC, 80)]
    assert resolver.lookups == ["api.partner.test"]
    assert "host: api.partner.test" in server.request_heads[0].lower()


async def test_next_vetted_address_is_tried_when_one_refuses_the_connection() -> None:
    unanswered = "203.0.113.11"
    resolver = StaticResolver(
        {"multi.partner.test": [unanswered, PUBLIC], "dead.partner.test": [unanswered]}
    )
    async with local_http_server(answer_ok) as server:
        sockets = RecordingBackend({unanswered: free_port(), PUBLIC: server.port})
        async with build_user_url_client(
            settings_for("production"), network_backend=sockets, resolver=resolver
        ) as client:
            response = await client.get("http://multi.partner.test/")
            with pytest.raises(httpx2.ConnectError) as caught:
                await client.get("http://dead.partner.test/")
    assert response.status_code == 200
    assert sockets.attempts == [(unanswered, 80), (PUBLIC, 80), (unanswered, 80)]
    assert "203.0.113" not in str(caught.value)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", BlockReason.CLOUD_METADATA),
        ("169.254.170.2", BlockReason.CLOUD_METADATA),
        ("fd00:ec2::254", BlockReason.CLOUD_METADATA),
        ("::ffff:169.254.169.254", BlockReason.CLOUD_METADATA),
        ("169.254.1.1", BlockReason.LINK_LOCAL),
        ("fe80::1", BlockReason.LINK_LOCAL),
        ("224.0.0.1", BlockReason.NON_ROUTABLE),
        ("10.1.2.3", BlockReason.PRIVATE_NETWORK),
        ("100.64.0.1", BlockReason.PRIVATE_NETWORK),
        ("::1", BlockReason.LOOPBACK),
    ],
)
async def test_name_resolving_to_a_forbidden_address_is_refused(
    address: str, reason: BlockReason
) -> None:
    sockets = RecordingBackend()
    resolver = StaticResolver({"evil.test": [address]})
    settings = settings_for("production")
    async with build_user_url_client(settings, network_backend=sockets, resolver=resolver) as c:
        assert await _refusal(c, "https://evil.test/") is reason
    assert sockets.attempts == []


async def test_one_forbidden_address_refuses_the_whole_host() -> None:
    sockets = RecordingBackend()
    resolver = StaticResolver({"mixed.test": [PUBLIC, "169.254.169.254"]})
    async with build_user_url_client(
        settings_for(), network_backend=sockets, resolver=resolver
    ) as client:
        assert await _refusal(client, "http://mixed.test/") is BlockReason.CLOUD_METADATA
    assert sockets.attempts == []


async def test_dns_rebinding_after_validation_is_caught_at_connection_time() -> None:
    resolver = RebindingResolver(PUBLIC, "169.254.169.254")
    settings = settings_for("production")
    await check_user_url("https://rebind.test/hook", settings, resolver=resolver)
    sockets = RecordingBackend()
    async with build_user_url_client(settings, network_backend=sockets, resolver=resolver) as c:
        assert await _refusal(c, "https://rebind.test/hook") is BlockReason.CLOUD_METADATA
    assert sockets.attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://0xA9.0xFE.0xA9.0xFE/",
        "http://169.254.43518/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://169.254.170.2/v2/credentials",
    ],
)
async def test_every_spelling_of_a_metadata_address_is_refused(url: str) -> None:
    sockets = RecordingBackend()
    async with build_user_url_client(settings_for(), network_backend=sockets) as client:
        assert await _refusal(client, url) is BlockReason.CLOUD_METADATA
    assert sockets.attempts == []


async def test_octal_dotted_spelling_cannot_be_sent_at_all() -> None:
    async with build_user_url_client(settings_for()) as client:
        with pytest.raises(httpx2.InvalidURL):
            await client.get("http://0251.0376.0251.0376/")


@pytest.mark.parametrize("host", ["0", "0.0.0.0", "[::]"])
async def test_unspecified_address_is_refused_even_in_development(host: str) -> None:
    async with (
        local_http_server(answer_ok) as server,
        build_user_url_client(settings_for()) as client,
    ):
        assert await _refusal(client, server.url(host=host)) is BlockReason.NON_ROUTABLE
    assert server.accepted == 0


async def test_short_loopback_spelling_is_read_as_loopback() -> None:
    async with (
        local_http_server(answer_ok) as server,
        build_user_url_client(settings_for()) as development,
        build_user_url_client(settings_for("production")) as production,
    ):
        assert (await development.get(server.url(host="127.1"))).status_code == 200
        assert await _refusal(production, server.url(host="127.1")) is BlockReason.LOOPBACK


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "ws://x.test/"]
)
async def test_only_http_and_https_are_sent(url: str) -> None:
    async with build_user_url_client(settings_for()) as client:
        assert await _refusal(client, url) is BlockReason.SCHEME_NOT_ALLOWED


async def test_refusal_is_permanent_and_says_nothing_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = StaticResolver({"internal.corp.test": ["10.20.30.40"]})
    async with build_user_url_client(settings_for("production"), resolver=resolver) as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            await client.post("https://user:hunter2@internal.corp.test/hook?token=s3cret")
    error = caught.value
    assert isinstance(error, BlockedDestination)
    assert isinstance(error, httpx2.RequestError)
    assert not isinstance(error, httpx2.TransportError)
    assert error.retryable is False
    assert error.reason == "private_network"
    assert error.request.url.host == "internal.corp.test"
    for secret in ("hunter2", "s3cret", "10.20.30.40", "internal.corp"):
        assert secret not in str(error)
    [record] = [r for r in caplog.records if r.getMessage() == "outgoing request blocked"]
    assert getattr(record, "metadata", None) == {
        "reason": "private_network",
        "host": "internal.corp.test",
    }


# Timeouts, limits, HTTP versions and proxies.


async def test_read_timeout_applies_to_a_server_that_never_answers() -> None:
    settings = settings_for(read_timeout=0.3)
    async with local_http_server(never_answer) as server:
        for client in (build_user_url_client(settings), build_internal_client(settings)):
            started = time.monotonic()
            async with client:
                with pytest.raises(httpx2.ReadTimeout):
                    await client.get(server.url())
            assert 0.25 < time.monotonic() - started < 3


async def test_connect_timeout_covers_name_resolution() -> None:
    settings = settings_for(connect_timeout=0.3, read_timeout=30)
    started = time.monotonic()
    async with build_user_url_client(settings, resolver=HangingResolver()) as client:
        with pytest.raises(httpx2.ConnectTimeout):
            await client.get("https://slow-dns.test/")
    assert time.monotonic() - started < 3


async def test_unresolvable_name_is_an_ordinary_connect_error() -> None:
    async with build_user_url_client(settings_for(), resolver=StaticResolver({})) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("https://nowhere.test/")


@pytest.mark.parametrize("max_connections", [1, 3])
async def test_connection_limit_is_applied(max_connections: int) -> None:
    async def slowly(target: str) -> bytes:
        await asyncio.sleep(0.2)
        return http_response()

    settings = settings_for(max_connections=max_connections)
    async with local_http_server(slowly) as server:
        for client in (build_user_url_client(settings), build_internal_client(settings)):
            server.peak_connections = 0
            async with client:
                responses = await asyncio.gather(*(client.get(server.url()) for _ in range(3)))
            assert [r.status_code for r in responses] == [200, 200, 200]
            assert server.peak_connections == max_connections


async def test_environment_proxy_is_ignored_by_the_guarded_client_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def proxied(target: str) -> bytes:
        return http_response(body=b"via proxy")

    async with local_http_server(answer_ok) as server, local_http_server(proxied) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url(""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with build_user_url_client(settings_for()) as client:
            assert (await client.get(server.url())).text == "ok"
        assert proxy.accepted == 0
        async with build_internal_client(settings_for()) as client:
            assert (await client.get(server.url())).text == "via proxy"


async def test_internal_client_is_not_guarded_and_takes_an_injected_transport() -> None:
    settings = settings_for("production")
    async with local_http_server(answer_ok) as server, build_internal_client(settings) as client:
        assert (await client.get(server.url())).status_code == 200

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"keys": []})

    transport = httpx2.MockTransport(handler)
    async with build_internal_client(settings, transport=transport) as client:
        response = await client.get("http://169.254.169.254/.well-known/jwks.json")
    assert response.json() == {"keys": []}


async def test_clients_carry_the_configured_timeouts() -> None:
    settings = settings_for(connect_timeout=1.5, read_timeout=7)
    for client in (build_user_url_client(settings), build_internal_client(settings)):
        async with client:
            assert (client.timeout.connect, client.timeout.read) == (1.5, 7)


async def test_the_user_url_client_keeps_no_cookies() -> None:
    settings = load_settings({"http.allow_private_networks": True}, env_file=None)
    seen: list[str | None] = []
    app = FastAPI()

    @app.get("/set")
    async def set_cookie(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        response = Response("ok")
        response.set_cookie("SAP_SESSIONID", "secret-session")
        return response

    async with live_app(app) as url:
        client = build_user_url_client(settings)
        try:
            await client.get(f"{url}/set")
            await client.get(f"{url}/set")
        finally:
            await client.aclose()
    assert seen == [None, None]
