"""One Postman request as the generator's tables write it, and the scripts made from it.

A request names its route by its URL (``{{auth_url}}/auth/users/{{agent_id}}``): literal path
segments match the route's literal segments and segments holding a ``{{variable}}`` its path
parameters, which is how the coverage test maps requests to the services' OpenAPI.

Every request gets a test script asserting its status and the shape of its answer: ``shape``
maps dotted paths (``items.0.id``; ``""`` is the body itself) to JSON types (``string``,
``number``, ``boolean``, ``array``, ``object``, ``null``; ``string|null`` for either), and
``error`` asserts the common error body ``{"error": {"code", "message", "request_id"}}`` with
that code. ``save`` stores answer fields in collection variables for later requests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SERVICE_OF_HOST = {
    "{{monitoring_url}}": "monitoring",
    "{{recording_url}}": "recording",
    "{{integration_url}}": "integration",
    "{{auth_url}}": "auth",
}

HELPERS = """\
function kind(v) { return v === null ? "null" : Array.isArray(v) ? "array" : typeof v; }
function at(o, path) {
  if (path === "") { return o; }
  return path.split(".").reduce(function (x, k) {
    return x === null || x === undefined ? undefined : x[k];
  }, o);
}
let body;
try { body = pm.response.json(); } catch (e) { body = undefined; }"""

POLL = """\
function poll(url, done, tries, next) {
  const token = pm.collectionVariables.get("access_token");
  const request = {
    url: pm.variables.replaceIn(url),
    method: "GET",
    header: [{key: "Authorization", value: "Bearer " + token}],
  };
  pm.sendRequest(request, function (err, res) {
    let ok = false;
    try { ok = !err && done(res.json()); } catch (e) { ok = false; }
    if (ok || tries <= 1) { if (next) { next(); } return; }
    setTimeout(function () { poll(url, done, tries - 1, next); }, 100);
  });
}"""
"""A pre-request helper: wait (up to ``tries`` × 100 ms) until a GET answers what a step needs,
such as a message that became a dead letter in a background job. When it never does, the
step's own assertions fail."""

TOTP = """\
const CJS = require("crypto-js");
function totp(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  secret.replace(/=+$/, "").toUpperCase().split("").forEach(function (c) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  });
  let key = "";
  for (let i = 0; i + 8 <= bits.length; i += 8) {
    key += parseInt(bits.substr(i, 8), 2).toString(16).padStart(2, "0");
  }
  const counter = Math.floor(Date.now() / 30000).toString(16).padStart(16, "0");
  const mac = CJS.HmacSHA1(CJS.enc.Hex.parse(counter), CJS.enc.Hex.parse(key))
    .toString();
  const offset = parseInt(mac.substr(-1), 16);
  const value = (parseInt(mac.substr(offset * 2, 8), 16) & 0x7fffffff) % 1000000;
  return value.toString().padStart(6, "0");
}"""
"""RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes the code."""

JWT_CLAIMS = """\
const CJS = require("crypto-js");
function claims(token) {
  let part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  while (part.length % 4) { part += "="; }
  return JSON.parse(CJS.enc.Base64.parse(part).toString(CJS.enc.Utf8));
}"""

_VAR = re.compile(r"\{\{[A-Za-z0-9_]+\}\}")
"""A path segment holding a variable (``{{voice_id}}``, ``refused-1-{{run_id}}``) is a value:
it stands for a path parameter, never for a literal segment."""


@dataclass
class Req:
    """One request of the collection and what its answer must be."""

    name: str
    method: str
    url: str
    status: int
    shape: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    auth: str = "admin"
    """``admin`` (the collection's bearer token), ``agent``, a ``{{variable}}``, or ``none``."""
    json: Any = None
    raw: str | None = None
    file: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    save: dict[str, str] = field(default_factory=dict)
    tests: str = ""
    pre: str = ""
    follow_redirects: bool = True
    media: str = "json"
    """What the answer is: ``json``, ``empty`` (no body), or ``other`` (``tests`` check it)."""

    @property
    def host(self) -> str:
        return self.url.split("/", 1)[0]

    @property
    def path(self) -> list[str]:
        rest = self.url.split("/", 1)[1] if "/" in self.url else ""
        return [segment for segment in rest.split("/") if segment]

    @property
    def service(self) -> str:
        return SERVICE_OF_HOST[self.host]

    def matches(self, method: str, template: str) -> bool:
        """Whether this request exercises the OpenAPI route ``method template``."""
        wanted = [segment for segment in template.split("/") if segment]
        if method.upper() != self.method or len(wanted) != len(self.path):
            return False
        for ours, theirs in zip(self.path, wanted, strict=True):
            if theirs.startswith("{") != bool(_VAR.search(ours)):
                return False
            if not theirs.startswith("{") and ours != theirs:
                return False
        return True


def check(expression: str, title: str) -> str:
    """A named test that ``expression`` (JavaScript, ``body`` in scope) is true."""
    expect = f"pm.expect({expression}).to.equal(true);"
    return f"pm.test({json.dumps(title)}, function () {{ {expect} }});"


def _type_check(path: str, expected: str) -> str:
    kinds = json.dumps(expected.split("|"))
    return f"  pm.expect(kind(at(body, {json.dumps(path)})), {json.dumps(path or 'body')})" + (
        f".to.be.oneOf({kinds});"
    )


def test_script(req: Req) -> str:
    """Status, shape (or the common error body), saved variables, then the table's own tests."""
    label = f"{req.method} {'/'.join(['', *req.path])}"
    lines = [
        HELPERS,
        f"pm.test({json.dumps(f'{label} answers {req.status}')}, function () {{",
        f"  pm.response.to.have.status({req.status});",
        "});",
    ]
    if req.error is not None or req.media == "json":
        lines += [
            'pm.test("the answer is JSON", function () {',
            '  pm.expect(pm.response.headers.get("Content-Type")).to.include("application/json");',
            '  pm.expect(body, "a JSON body").to.not.equal(undefined);',
            "});",
        ]
    if req.error is not None:
        lines += [
            f"pm.test({json.dumps(f'the common error body, code {req.error}')}, function () {{",
            '  pm.expect(kind(body.error), "error").to.equal("object");',
            f"  pm.expect(body.error.code).to.equal({json.dumps(req.error)});",
            '  pm.expect(body.error.message).to.be.a("string").and.not.empty;',
            '  pm.expect(body.error.request_id).to.be.a("string").and.not.empty;',
            "});",
        ]
    elif req.media == "empty":
        lines += [
            'pm.test("no body", function () {',
            '  pm.expect(pm.response.text()).to.equal("");',
            "});",
        ]
    if req.shape:
        lines.append('pm.test("the answer has the documented shape", function () {')
        lines += [_type_check(path, expected) for path, expected in req.shape.items()]
        lines.append("});")
    lines += [
        f"pm.collectionVariables.set({json.dumps(var)}, at(body, {json.dumps(path)}));"
        for var, path in req.save.items()
    ]
    if req.tests:
        lines.append(req.tests.strip("\n"))
    return "\n".join(lines)


def _url(req: Req) -> dict[str, Any]:
    raw = req.url
    if req.query:
        raw += "?" + "&".join(f"{k}={v}" for k, v in req.query)
    url: dict[str, Any] = {"raw": raw, "host": [req.host], "path": req.path}
    if req.query:
        url["query"] = [{"key": k, "value": v} for k, v in req.query]
    return url


def _auth(req: Req) -> dict[str, Any] | None:
    if req.auth == "admin":
        return None
    if req.auth == "none":
        return {"type": "noauth"}
    token = "{{agent_token}}" if req.auth == "agent" else req.auth
    return {"type": "bearer", "bearer": [{"key": "token", "value": token, "type": "string"}]}


def _body(req: Req) -> tuple[dict[str, Any] | None, str | None]:
    if req.json is not None:
        raw = json.dumps(req.json, indent=2, ensure_ascii=False)
        return {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}, (
            "application/json"
        )
    if req.raw is not None:
        return {"mode": "raw", "raw": req.raw}, req.content_type or "text/plain"
    if req.file is not None:
        return {"mode": "file", "file": {"src": req.file}}, (
            req.content_type or "application/octet-stream"
        )
    return None, None


def _script(kind: str, source: str) -> dict[str, Any]:
    return {"listen": kind, "script": {"type": "text/javascript", "exec": source.split("\n")}}


def item(req: Req, item_id: str) -> dict[str, Any]:
    """The Postman v2.1 item for ``req``; ``item_id`` lets a run's report name it."""
    body, content_type = _body(req)
    headers = dict(req.headers)
    if content_type is not None:
        headers.setdefault("Content-Type", content_type)
    request: dict[str, Any] = {
        "method": req.method,
        "header": [{"key": k, "value": v} for k, v in headers.items()],
        "url": _url(req),
    }
    if body is not None:
        request["body"] = body
    auth = _auth(req)
    if auth is not None:
        request["auth"] = auth
    events = [_script("prerequest", req.pre.strip("\n"))] if req.pre else []
    events.append(_script("test", test_script(req)))
    out: dict[str, Any] = {"id": item_id, "name": req.name, "event": events, "request": request}
    if not req.follow_redirects:
        out["protocolProfileBehavior"] = {"followRedirects": False}
    return out
