"""The integration service's requests: a ``rest`` integration on the local receiver, a SYNC
call, ASYNC messages the receiver refuses (dead letters: replayed, discarded), a signed
webhook, a throttled message's delivery job; the integration is removed at the end."""

from __future__ import annotations

from postman_spec import POLL, Req, check

BASE = "{{integration_url}}"
ONE = BASE + "/integrations/{{integration_id}}"
JOBS = BASE + "/integrations/jobs"
INTEGRATION = {
    "integration_id": "string",
    "name": "string",
    "type": "string",
    "provider": "string",
    "endpoint_url": "string",
    "auth_type": "string",
    "auth_config": "object",
    "options": "object",
    "status": "string",
    "breaker": "string",
    "created_at": "string",
}
MESSAGE = {
    "message_id": "string",
    "integration_id": "string",
    "message_type": "string",
    "status": "string",
    "attempts": "number",
    "payload": "object",
    "created_at": "string",
}
QUEUED = {"message_id": "string", "integration_id": "string", "status": "string"}
JOB = {
    "id": "number",
    "kind": "string",
    "state": "string",
    "attempt": "number",
    "payload.message_id": "string",
    "last_error": "string|null",
}
REFUSED = {"method": "request", "http_method": "POST", "path": "reject", "json": {"order": 7}}
SIGN = """\
const CJS = require("crypto-js");
const event = {id: "evt-" + pm.collectionVariables.get("run_id"), type: "order.paid"};
const payload = JSON.stringify(event);
const t = Math.floor(Date.now() / 1000).toString();
const mac = CJS.HmacSHA256(t + "." + payload, pm.collectionVariables.get("webhook_secret"));
pm.collectionVariables.set("webhook_body", payload);
pm.collectionVariables.set("webhook_timestamp", t);
pm.collectionVariables.set("webhook_signature", "sha256=" + mac.toString());"""
DEAD = (
    "(b) => b.messages.filter((m) => m.message_id.endsWith("
    'pm.collectionVariables.get("run_id"))).length >= 2'
)


def _send(name: str, status: int, body: dict[str, object], **extra: str) -> Req:
    shape = QUEUED | {"duplicate": "boolean"} if status == 202 else QUEUED
    return Req(name, "POST", f"{ONE}/messages", status, shape, json=body, headers=extra)


INTEGRATION_REQUESTS = [
    Req(
        "Liveness",
        "GET",
        f"{BASE}/health",
        200,
        {"status": "string", "service": "string", "version": "string"},
        auth="none",
        tests=check('body.service === "integration"', "the integration service"),
    ),
    Req(
        "Readiness",
        "GET",
        f"{BASE}/health/ready",
        200,
        {"status": "string", "checks": "object"},
        auth="none",
    ),
    Req(
        "Prometheus metrics",
        "GET",
        f"{BASE}/metrics",
        200,
        auth="none",
        media="other",
        tests=check('pm.response.text().includes("aicc_api_requests_total")', "request metrics"),
    ),
    Req(
        "Providers, auth types and methods",
        "GET",
        f"{BASE}/integrations/providers",
        200,
        {"providers": "array", "providers.0.provider": "string", "providers.0.methods": "array"},
        tests=check('body.providers.some((p) => p.provider === "rest")', "the rest provider"),
    ),
    Req(
        "Register a rest integration (the local receiver)",
        "POST",
        f"{BASE}/integrations",
        201,
        INTEGRATION,
        json={
            "integration_id": "{{integration_id}}",
            "name": "Partner API (Postman)",
            "type": "custom",
            "provider": "rest",
            "endpoint_url": "{{receiver_url}}/rest",
            "auth_type": "none",
            "auth_config": {"webhook_secret": "{{webhook_secret}}"},
            "options": {"timeout_seconds": 5, "max_attempts": 3},
        },
        pre="""\
const run = pm.collectionVariables.get("run_id");
pm.collectionVariables.set("integration_id", "postman-rest-" + run);
const secret = require("crypto-js").lib.WordArray.random(16).toString();
pm.collectionVariables.set("webhook_secret", secret);""",
        tests=check('body.auth_config.webhook_secret === "***"', "the secret masked"),
    ),
    Req(
        "An endpoint on the cloud metadata address is refused",
        "POST",
        f"{BASE}/integrations",
        422,
        error="url_not_allowed",
        json={
            "integration_id": "postman-metadata-{{run_id}}",
            "name": "Metadata",
            "type": "custom",
            "provider": "rest",
            "endpoint_url": "http://169.254.169.254/latest/meta-data",
        },
    ),
    Req(
        "List integrations",
        "GET",
        f"{BASE}/integrations",
        200,
        {"integrations": "array", "integrations.0.integration_id": "string"},
        tests=check(
            "body.integrations.some((i) => i.integration_id === "
            'pm.collectionVariables.get("integration_id"))',
            "the new integration",
        ),
    ),
    Req("One integration", "GET", ONE, 200, INTEGRATION),
    Req(
        "Change the integration",
        "PATCH",
        ONE,
        200,
        INTEGRATION,
        json={"name": "Partner API", "options": {"breaker_threshold": 3}},
        tests=check('body.name === "Partner API" && body.options.breaker_threshold === 3', "ok"),
    ),
    Req(
        "The provider's health",
        "GET",
        f"{ONE}/health",
        200,
        {"integration_id": "string", "status": "string", "breaker": "string"},
        tests=check('body.status === "healthy"', "the receiver answers"),
    ),
    Req(
        "SYNC call: the provider's answer in the response",
        "POST",
        f"{ONE}/messages",
        200,
        QUEUED | {"data": "object", "attempts": "number", "latency_ms": "number"},
        json={
            "message_id": "sync-{{run_id}}",
            "payload": {"method": "request", "http_method": "GET", "path": "customers/42"},
        },
        tests=check(
            'body.status === "delivered" && body.data.status_code === 200 && '
            'body.data.body.id === "42"',
            "the customer",
        ),
    ),
    _send(
        "ASYNC message the receiver refuses (202)",
        202,
        {"message_type": "async", "message_id": "refused-1-{{run_id}}", "payload": REFUSED},
    ),
    _send(
        "Another, with an Idempotency-Key header",
        202,
        {"message_type": "ASYNC", "payload": REFUSED},
        **{"Idempotency-Key": "refused-2-{{run_id}}"},
    ),
    Req(
        "The same message id again is not sent twice",
        "POST",
        f"{ONE}/messages",
        200,
        QUEUED | {"duplicate": "boolean"},
        json={"message_type": "async", "message_id": "refused-1-{{run_id}}", "payload": REFUSED},
        tests=check("body.duplicate === true", "a duplicate"),
    ),
    Req(
        "The message log",
        "GET",
        f"{ONE}/messages",
        200,
        {"messages": "array", "next_before": "string|null"}
        | {f"messages.0.{k}": v for k, v in MESSAGE.items()},
        query=[("limit", "50")],
        tests=check("body.messages.length === 3", "three messages"),
    ),
    Req(
        "One message, dead after a terminal answer",
        "GET",
        ONE + "/messages/refused-1-{{run_id}}",
        200,
        MESSAGE | {"error": "object", "error.outcome": "string"},
        pre=POLL + f'\npoll("{ONE}/messages/refused-1-{{{{run_id}}}}", '
        '(b) => b.status === "dead", 300);',
        tests=check('body.status === "dead" && body.error.outcome === "terminal"', "dead"),
    ),
    Req(
        "Dead letters",
        "GET",
        f"{ONE}/dead-letters",
        200,
        {"messages": "array", "next_before": "string|null"}
        | {f"messages.0.{k}": v for k, v in MESSAGE.items()},
        pre=POLL + f'\npoll("{ONE}/dead-letters", {DEAD}, 300);',
        tests=check("body.messages.length === 2", "both refused messages"),
    ),
    Req(
        "Replay a dead letter",
        "POST",
        ONE + "/dead-letters/refused-1-{{run_id}}/replay",
        202,
        QUEUED,
        tests=check('body.status === "queued"', "queued"),
    ),
    Req(
        "Discard a dead letter",
        "DELETE",
        ONE + "/dead-letters/refused-2-{{run_id}}",
        204,
        media="empty",
    ),
    Req(
        "A signed webhook event",
        "POST",
        BASE + "/webhooks/{{integration_id}}",
        200,
        {"received": "number", "stored": "number"},
        auth="none",
        raw="{{webhook_body}}",
        content_type="application/json",
        headers={"X-Timestamp": "{{webhook_timestamp}}", "X-Signature": "{{webhook_signature}}"},
        pre=SIGN,
        tests=check("body.received === 1 && body.stored === 1", "stored once"),
    ),
    Req(
        "A webhook with a wrong signature is refused",
        "POST",
        BASE + "/webhooks/{{integration_id}}",
        401,
        error="webhook_unverified",
        auth="none",
        raw="{{webhook_body}}",
        content_type="application/json",
        headers={"X-Timestamp": "{{webhook_timestamp}}", "X-Signature": "sha256=00"},
    ),
    Req(
        "Webhook handshake (rest has none: the documented 404)",
        "GET",
        BASE + "/webhooks/{{integration_id}}",
        404,
        error="no_webhook_handshake",
        auth="none",
    ),
    Req(
        "Verified webhook events",
        "GET",
        f"{ONE}/events",
        200,
        {"events": "array", "events.0.event_id": "string", "events.0.data": "object"},
        tests=check('body.events.length === 1 && body.events[0].event_type === "order.paid"', "ok"),
    ),
    _send(
        "ASYNC message the receiver throttles (Retry-After)",
        202,
        {
            "message_type": "async",
            "message_id": "throttled-{{run_id}}",
            "payload": {"method": "request", "http_method": "POST", "path": "throttle"},
        },
    ),
    Req(
        "Delivery jobs waiting",
        "GET",
        JOBS,
        200,
        {"items": "array", "total": "number"},
        query=[("state", "queued"), ("kind", "integration.deliver")],
        pre=POLL
        + f'\npoll("{JOBS}?state=queued&kind=integration.deliver", (b) => b.items.some((j) => '
        'j.payload.message_id === "throttled-" + pm.collectionVariables.get("run_id") && '
        "j.attempt >= 1), 300);",
        tests="""\
const wanted = "throttled-" + pm.collectionVariables.get("run_id");
const job = body.items.find((j) => j.payload.message_id === wanted);
pm.test("the throttled message's job", function () { pm.expect(job).to.be.an("object"); });
pm.collectionVariables.set("integration_job_id", job && job.id);""",
    ),
    Req(
        "One delivery job",
        "GET",
        JOBS + "/{{integration_job_id}}",
        200,
        JOB,
        tests=check('body.state === "queued" && body.last_error !== null', "waiting to retry"),
    ),
    Req(
        "Discard the job",
        "POST",
        JOBS + "/{{integration_job_id}}/discard",
        200,
        JOB,
        tests=check('body.state === "discarded"', "discarded"),
    ),
    Req(
        "Replay the job",
        "POST",
        JOBS + "/{{integration_job_id}}/replay",
        200,
        JOB,
        tests=check('body.state === "queued" && body.attempt === 0', "queued again"),
    ),
    Req("Remove the integration", "DELETE", ONE, 204, media="empty"),
    Req(
        "A removed integration is gone",
        "GET",
        ONE,
        404,
        error="integration_not_found",
    ),
]
