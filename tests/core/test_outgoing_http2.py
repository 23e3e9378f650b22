"""HTTP/2 over TLS where the peer offers it (ALPN), against a local h2 server with a
self-signed certificate trusted through an injected SSL context."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aicc.core.outgoing import build_internal_client, build_user_url_client
from tests.core.outgoing_support import (
    RecordingBackend,
    StaticResolver,
    http_response,
    serving,
    settings_for,
)

PUBLIC = "203.0.113.20"


@dataclass
class TlsServer:
    port: int = 0
    protocols: list[str | None] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@dataclass
class Certificate:
    pem: bytes
    cert_file: Path
    key_file: Path

    def trusted_by(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.pem.decode())


def make_certificate(directory: Path, *names: str) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / f"{names[0]}.crt", directory / f"{names[0]}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(pem, cert_file, key_file)


async def _serve_h2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    while data := await reader.read(65536):
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                connection.send_headers(
                    event.stream_id, [(":status", "200"), ("content-length", "2")]
                )
                connection.send_data(event.stream_id, b"ok", end_stream=True)
        writer.write(connection.data_to_send())
        await writer.drain()


async def _serve_http11(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(http_response(headers=["Connection: close"]))
    await writer.drain()


@asynccontextmanager
async def local_tls_server(certificate: Certificate, alpn: list[str]) -> AsyncIterator[TlsServer]:
    state = TlsServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    context.set_alpn_protocols(alpn)

    def remember_name(_: Any, server_name: str | None, __: Any) -> None:
        state.server_names.append(server_name)

    context.sni_callback = remember_name
    async with serving() as serve:

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            protocol = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            state.protocols.append(protocol)
            await (_serve_h2 if protocol == "h2" else _serve_http11)(reader, writer)

        server = await asyncio.start_server(serve.track(handle), "127.0.0.1", 0, ssl=context)
        state.port = server.sockets[0].getsockname()[1]
        async with server:
            yield state


@pytest.fixture
def localhost_certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path, "localhost")


async def test_http2_is_negotiated_with_a_peer_that_offers_it(
    localhost_certificate: Certificate,
) -> None:
    trust = localhost_certificate.trusted_by()
    async with local_tls_server(localhost_certificate, ["h2", "http/1.1"]) as server:
        for client in (
            build_user_url_client(settings_for(), verify=trust),
            build_internal_client(settings_for(), verify=trust),
        ):
            async with client:
                response = await client.get(f"https://localhost:{server.port}/")
            assert (response.status_code, response.text) == (200, "ok")
            assert response.http_version == "HTTP/2"
    assert server.protocols == ["h2", "h2"]
    assert server.server_names == ["localhost", "localhost"]


async def test_http11_with_a_peer_that_offers_only_http11(
    localhost_certificate: Certificate,
) -> None:
    trust = localhost_certificate.trusted_by()
    async with (
        local_tls_server(localhost_certificate, ["http/1.1"]) as server,
        build_user_url_client(settings_for(), verify=trust) as client,
    ):
        response = await client.get(f"https://localhost:{server.port}/")
    assert response.http_version == "HTTP/1.1"
    assert server.protocols == ["http/1.1"]


async def test_http2_setting_off_keeps_http11(localhost_certificate: Certificate) -> None:
    trust = localhost_certificate.trusted_by()
    async with (
        local_tls_server(localhost_certificate, ["h2", "http/1.1"]) as server,
        build_user_url_client(settings_for(http2=False), verify=trust) as client,
    ):
        response = await client.get(f"https://localhost:{server.port}/")
    assert response.http_version == "HTTP/1.1"
    assert server.protocols == ["http/1.1"]


async def test_tls_checks_the_host_name_while_connecting_to_the_vetted_address(
    tmp_path: Path,
) -> None:
    certificate = make_certificate(tmp_path, "api.partner.test")
    resolver = StaticResolver({"api.partner.test": [PUBLIC], "other.partner.test": [PUBLIC]})
    async with local_tls_server(certificate, ["h2", "http/1.1"]) as server:
        sockets = RecordingBackend({PUBLIC: server.port})
        async with build_user_url_client(
            settings_for("production"),
            network_backend=sockets,
            resolver=resolver,
            verify=certificate.trusted_by(),
        ) as client:
            response = await client.get("https://api.partner.test/v1")
            with pytest.raises(httpx2.ConnectError):
                await client.get("https://other.partner.test/v1")
    assert (response.status_code, response.http_version) == (200, "HTTP/2")
    assert sockets.attempts == [(PUBLIC, 443), (PUBLIC, 443)]
    assert server.server_names == ["api.partner.test", "other.partner.test"]
