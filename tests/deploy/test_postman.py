"""The Postman collection (``deploy/postman``): it covers every route of the four services'
OpenAPI, it is what ``generate.py`` writes, and newman (from the npm registry) runs it against a
live ``aicc up`` with every assertion passing.

The run needs a few things around the stack, as ``generate.py`` describes: a local receiver
(alert notifications, the ``rest`` integration's endpoint, refused status callbacks, an OpenID
provider's discovery document), status callbacks pointed at it and an SSO provider on it. The
administrator the collection signs in as is made with the real CLI (``aicc users create``).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import json
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.live_stack import LiveStack, start_stack
from tests.deploy.tools import ROOT, npm_tool
from tests.processes import run_aicc

POSTMAN = ROOT / "deploy" / "postman"
COLLECTION = POSTMAN / "aicc.postman_collection.json"
ENVIRONMENT = POSTMAN / "aicc.postman_environment.json"
SERVICES = ("monitoring", "recording", "integration", "auth")
SERVICE_OF_HOST = {f"{{{{{name}_url}}}}": name for name in SERVICES}
VARIABLE = re.compile(r"\{\{[A-Za-z0-9_]+\}\}")
SSO_PROVIDER = "corp"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the collection's requests make the services call: one local HTTP server."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self, method: str, prefix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        as_json = {"Content-Type": "application/json"}
        if method == "GET" and path == "/idp/.well-known/openid-configuration":
            idp = f"{self.url}/idp"
            document = {
                "issuer": idp,
                "authorization_endpoint": f"{idp}/authorize",
                "token_endpoint": f"{idp}/token",
                "jwks_uri": f"{idp}/jwks",
            }
            return 200, as_json, json.dumps(document).encode()
        if method == "GET" and path.startswith("/rest"):
            return 200, as_json, b'{"id": "42", "name": "Kim Min-jun"}'
        if method == "POST" and path.startswith(("/callback", "/rest/reject")):
            return 400, as_json, b'{"error": "refused by the test receiver"}'
        if method == "POST" and path.startswith("/rest/throttle"):
            return 429, {**as_json, "Retry-After": "120"}, b"{}"
        if method == "POST" and path.startswith("/alertmanager"):
            return 200, as_json, b"{}"
        return 404, as_json, b"{}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.seen.append(Seen(self.command, self.path, headers, body))
            status, extra, payload = receiver.answer(self.command, self.path)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, *_: Any) -> None:
            return

    return Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def callback_secret() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, callback_secret: str
) -> Iterator[LiveStack]:
    sso = {
        "name": SSO_PROVIDER,
        "issuer": f"{receiver.url}/idp",
        "client_id": "aicc",
        "client_secret": secrets.token_hex(16),
        "redirect_uri": f"https://aicc.example.com/auth/sso/{SSO_PROVIDER}/callback",
    }
    with start_stack(
        tmp_path_factory.mktemp("postman"),
        AICC_RECORDING_CALLBACK_URL=f"{receiver.url}/callback",
        AICC_RECORDING_CALLBACK_SECRET=callback_secret,
        AICC_AUTH_SSO_PROVIDERS=json.dumps([sso]),
        AICC_RECORDING_STOP_WAIT="30",
    ) as running:
        yield running


def _requests(collection: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(folder, item)`` for every request, in run order."""
    return [(folder["name"], item) for folder in collection["item"] for item in folder["item"]]


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str, str]]:
    """``(service, METHOD, path)`` as each wing's ``create_app`` (what ``aicc up`` and
    ``aicc serve`` run) publishes it at ``/openapi.json``."""
    found: set[tuple[str, str, str]] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AICC_DATA_DIR", str(tmp_path_factory.mktemp("openapi") / "var"))
        for service in SERVICES:
            app = importlib.import_module(f"aicc.{service}.app").create_app()
            for path, operations in app.openapi()["paths"].items():
                found |= {(service, method.upper(), path) for method in operations}
    return found


def _hits(item: dict[str, Any], routes: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The routes a request exercises: literal segments equal, ``{{variable}}`` segments
    standing for path parameters."""
    request = item["request"]
    service = SERVICE_OF_HOST[request["url"]["host"][0]]
    ours = request["url"]["path"]
    found = []
    for route in routes:
        theirs = [s for s in route[2].split("/") if s]
        if route[0] != service or route[1] != request["method"] or len(theirs) != len(ours):
            continue
        if all(
            (t.startswith("{") and VARIABLE.search(o) is not None)
            or (not t.startswith("{") and VARIABLE.search(o) is None and o == t)
            for o, t in zip(ours, theirs, strict=True)
        ):
            found.append(route)
    return found


def test_every_route_has_a_request_and_every_request_a_route(
    routes: set[tuple[str, str, str]],
) -> None:
    collection = json.loads(COLLECTION.read_text())
    covered: set[tuple[str, str, str]] = set()
    strays = []
    for folder, item in _requests(collection):
        hits = _hits(item, routes)
        covered |= set(hits)
        if len(hits) != 1:
            strays.append((folder, item["name"], hits))
    assert not strays, f"requests matching no route or several: {strays}"
    assert len(routes) > 100
    assert sorted(routes - covered) == [], "routes without a Postman request"
    folders = [folder["name"] for folder in collection["item"]]
    assert folders == ["auth", "monitoring", "recording", "integration"], "auth (login) first"


def test_the_committed_files_are_what_the_generator_writes(
    routes: set[tuple[str, str, str]],
) -> None:
    spec = importlib.util.spec_from_file_location("postman_generate", POSTMAN / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    by_service = {s: {(m, p) for service, m, p in routes if service == s} for s in SERVICES}
    assert generate.coverage_problems(by_service) == []
    stale = "is stale: run .venv/bin/python deploy/postman/generate.py"
    assert COLLECTION.read_bytes() == generate._json(generate.collection()), f"{COLLECTION} {stale}"
    assert ENVIRONMENT.read_bytes() == generate._json(generate.environment()), stale
    assert (POSTMAN / "tone.wav").read_bytes() == generate.tone(), stale


def test_the_environment_holds_no_credentials() -> None:
    values = {v["key"]: v["value"] for v in json.loads(ENVIRONMENT.read_text())["values"]}
    assert values["admin_username"] == values["admin_password"] == ""
    assert {values[f"{name}_url"] for name in SERVICES} == {
        f"http://127.0.0.1:{port}" for port in (8000, 8001, 8002, 8003)
    }


def _admin(running: LiveStack) -> tuple[str, str]:
    """An ADMIN made with ``aicc users create``, as an operator would."""
    username, password = f"postman-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    created = run_aicc(
        "users",
        "create",
        username,
        "--email",
        f"{username}@example.com",
        "--role",
        "ADMIN",
        "--password-stdin",
        env=running.env,
        cwd=running.folder,
        stdin=password + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["roles"] == ["ADMIN"]
    return username, password


def _newman(running: LiveStack, receiver: Receiver, report: Path) -> dict[str, Any]:
    newman = npm_tool("newman", "newman@6") / "newman"
    username, password = _admin(running)
    variables = {f"{name}_url": running.url(name) for name in SERVICES} | {
        "admin_username": username,
        "admin_password": password,
        "receiver_url": receiver.url,
        "sso_provider": SSO_PROVIDER,
    }
    command = [str(newman), "run", str(COLLECTION), "-e", str(ENVIRONMENT)]
    command += ["--working-dir", str(POSTMAN), "--no-insecure-file-read"]
    for key, value in variables.items():
        command += ["--env-var", f"{key}={value}"]
    command += ["--reporters", "cli,json", "--reporter-json-export", str(report)]
    command += ["--reporter-cli-no-success-assertions", "--timeout-request", "30000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert report.exists(), f"newman wrote no report: {result.stdout[-3000:]}{result.stderr}"
    run: dict[str, Any] = json.loads(report.read_text())["run"]
    failures = [
        f"{f['source'].get('name')}: {f['error'].get('test') or ''} {f['error']['message']}"
        for f in run["failures"]
    ]
    assert not failures, "\n".join(failures) + "\n" + result.stdout[-6000:]
    assert result.returncode == 0, result.stdout[-6000:]
    return run


def _signed(seen: Seen, secret: str) -> bool:
    """``X-AICC-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    parts = dict(p.split("=", 1) for p in seen.headers.get("x-aicc-signature", "").split(","))
    message = parts.get("t", "").encode() + b"." + seen.body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts.get("v1", ""), expected)


def test_newman_runs_every_request_with_every_assertion_passing(
    stack: LiveStack, receiver: Receiver, callback_secret: str, tmp_path: Path
) -> None:
    run = _newman(stack, receiver, tmp_path / "newman.json")
    items = {item["id"]: item for _, item in _requests(json.loads(COLLECTION.read_text()))}
    assertions: dict[str, int] = {}
    for execution in run["executions"]:
        item_id = execution["item"]["id"]
        assert item_id in items, execution["item"]["name"]
        assertions[item_id] = max(assertions.get(item_id, 0), len(execution["assertions"]))
    assert set(assertions) == set(items), "every request in the collection ran"
    assert run["stats"]["items"] == {"total": len(items), "pending": 0, "failed": 0}
    assert run["stats"]["assertions"]["failed"] == 0
    assert run["stats"]["assertions"]["total"] > len(items)
    assert run["stats"]["prerequestScripts"]["failed"] == run["stats"]["testScripts"]["failed"] == 0
    untested = [items[i]["name"] for i, count in assertions.items() if count < 2]
    assert not untested, f"requests with fewer than two assertions: {untested}"

    test_notice = [json.loads(s.body) for s in receiver.requests("POST", "/alertmanager")]
    assert any(n["version"] == "4" and n["status"] == "firing" for n in test_notice)
    assert len(receiver.requests("GET", "/rest/customers/42")) == 1
    assert len(receiver.requests("POST", "/rest/reject")) >= 2
    assert receiver.requests("POST", "/rest/throttle")
    assert receiver.requests("GET", "/idp/.well-known/openid-configuration")
    callbacks = receiver.requests("POST", "/callback")
    assert callbacks and all(_signed(c, callback_secret) for c in callbacks)
