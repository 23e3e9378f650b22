"""The monitoring service's requests: metrics, a rule, a channel on the local receiver, routing,
silences on both APIs, a pushed alert; everything made is removed again."""

from __future__ import annotations

from postman_spec import Req, check

RULE = {
    "rule_name": "string",
    "metric": "string",
    "threshold": "number",
    "operator": "string",
    "level": "string",
    "for_seconds": "number",
    "labels": "object",
    "annotations": "object",
    "channels": "array",
    "aggregation": "string",
}
CHANNEL = {
    "name": "string",
    "type": "string",
    "settings": "object",
    "send_resolved": "boolean",
    "created_at": "string",
    "updated_at": "string",
}
SILENCE = {
    "id": "string",
    "status.state": "string",
    "matchers": "array",
    "matchers.0.name": "string",
    "startsAt": "string",
    "endsAt": "string",
    "createdBy": "string",
    "comment": "string",
}
ALERT = {
    "labels": "object",
    "annotations": "object",
    "startsAt": "string",
    "endsAt": "string",
    "fingerprint": "string",
    "receivers": "array",
    "status.state": "string",
}
DRILL = "PostmanDrill{{run_id}}"
MATCHERS = [{"name": "alertname", "value": DRILL, "isRegex": False, "isEqual": True}]
WINDOW = """\
const now = new Date();
pm.collectionVariables.set("starts_at", now.toISOString());
pm.collectionVariables.set("ends_at", new Date(now.getTime() + 3600 * 1000).toISOString());"""
RULE_BODY = {
    "rule_name": "{{rule_name}}",
    "metric": "cpu_usage_percent",
    "threshold": 99.9,
    "operator": ">",
    "level": "warning",
}


def _list(url: str, name: str, shape: dict[str, str], found: str) -> Req:
    return Req(name, "GET", url, 200, shape, tests=check(found, "lists what was made"))


MONITORING = [
    Req(
        "Liveness",
        "GET",
        "{{monitoring_url}}/health",
        200,
        {"status": "string", "service": "string", "version": "string"},
        auth="none",
        tests=check('body.service === "monitoring"', "the monitoring service"),
    ),
    Req(
        "Readiness",
        "GET",
        "{{monitoring_url}}/health/ready",
        200,
        {"status": "string", "checks": "object"},
        auth="none",
    ),
    Req(
        "Prometheus metrics",
        "GET",
        "{{monitoring_url}}/metrics",
        200,
        auth="none",
        media="other",
        tests=check('pm.response.text().includes("system_cpu_usage_percent")', "the spec's names"),
    ),
    Req(
        "Every service's health",
        "GET",
        "{{monitoring_url}}/services/health",
        200,
        {"monitoring": "object", "services": "array", "services.0.name": "string"},
        tests=check("body.services.length === 3", "the other three services"),
    ),
    Req(
        "CPU, memory and disk",
        "GET",
        "{{monitoring_url}}/metrics/system",
        200,
        {
            "system_cpu_usage_percent": "number",
            "system_memory_usage_percent": "number",
            "system_disk_usage_percent": "number",
        },
    ),
    Req(
        "CloudWatch publishing",
        "GET",
        "{{monitoring_url}}/metrics/cloudwatch",
        200,
        {"enabled": "boolean", "namespace": "string", "interval_seconds": "number"},
    ),
    Req(
        "Amazon Connect metrics (no Connect instance here: the documented 404)",
        "GET",
        "{{monitoring_url}}/connect/metrics",
        404,
        error="connect_not_configured",
    ),
    Req(
        "Create an alert rule (the spec's body)",
        "POST",
        "{{monitoring_url}}/alerts/rules",
        201,
        RULE,
        json=RULE_BODY,
        pre='pm.collectionVariables.set("rule_name", '
        '"postman_cpu_" + pm.collectionVariables.get("run_id"));',
        tests=check('body.metric === "system_cpu_usage_percent"', "the spec's metric name"),
    ),
    Req(
        "A rule name in use is refused",
        "POST",
        "{{monitoring_url}}/alerts/rules",
        409,
        error="rule_exists",
        json=RULE_BODY,
    ),
    Req(
        "An unknown metric is refused",
        "POST",
        "{{monitoring_url}}/alerts/rules",
        422,
        error="unknown_metric",
        json=RULE_BODY | {"rule_name": "{{rule_name}}_x", "metric": "no_such_metric"},
    ),
    _list(
        "{{monitoring_url}}/alerts/rules",
        "All alert rules",
        {"rules": "array", "rules.0.rule_name": "string"},
        'body.rules.some((r) => r.rule_name === pm.collectionVariables.get("rule_name"))',
    ),
    Req("One alert rule", "GET", "{{monitoring_url}}/alerts/rules/{{rule_name}}", 200, RULE),
    Req(
        "Replace the alert rule",
        "PUT",
        "{{monitoring_url}}/alerts/rules/{{rule_name}}",
        200,
        RULE,
        json=RULE_BODY
        | {"threshold": 99.5, "level": "critical", "for_seconds": 60, "channels": []},
        tests=check('body.level === "critical" && body.for_seconds === 60', "replaced"),
    ),
    Req(
        "The rules as a Prometheus rules file",
        "GET",
        "{{monitoring_url}}/alerts/rules/export",
        200,
        media="other",
        tests=check(
            'pm.response.headers.get("Content-Type").includes("yaml") && pm.response.text()'
            '.includes("alert: " + pm.collectionVariables.get("rule_name"))',
            "YAML with the rule",
        ),
    ),
    Req("Pending and firing alerts", "GET", "{{monitoring_url}}/alerts", 200, {"alerts": "array"}),
    Req(
        "Alert history",
        "GET",
        "{{monitoring_url}}/alerts/history",
        200,
        {"history": "array"},
        query=[("limit", "50")],
    ),
    Req(
        "Add a webhook channel (the local receiver)",
        "POST",
        "{{monitoring_url}}/alerts/channels",
        201,
        CHANNEL,
        json={
            "name": "{{channel_name}}",
            "type": "webhook",
            "settings": {"url": "{{receiver_url}}/alertmanager"},
        },
        pre='pm.collectionVariables.set("channel_name", '
        '"postman-" + pm.collectionVariables.get("run_id"));',
        tests=check('body.settings.url.endsWith("/***")', "the URL masked"),
    ),
    _list(
        "{{monitoring_url}}/alerts/channels",
        "Notification channels",
        {"channels": "array", "channels.0.name": "string"},
        'body.channels.some((c) => c.name === pm.collectionVariables.get("channel_name"))',
    ),
    Req("One channel", "GET", "{{monitoring_url}}/alerts/channels/{{channel_name}}", 200, CHANNEL),
    Req(
        "Change the channel",
        "PUT",
        "{{monitoring_url}}/alerts/channels/{{channel_name}}",
        200,
        CHANNEL,
        json={
            "name": "{{channel_name}}",
            "type": "webhook",
            "settings": {"url": "{{receiver_url}}/alertmanager"},
            "send_resolved": False,
        },
        tests=check("body.send_resolved === false", "changed"),
    ),
    Req(
        "Send a test notification to the receiver",
        "POST",
        "{{monitoring_url}}/alerts/channels/{{channel_name}}/test",
        200,
        {"channel": "string", "sent": "boolean", "alerts": "number", "duration_seconds": "number"},
        tests=check("body.sent === true", "delivered"),
    ),
    Req(
        "The routing configuration",
        "GET",
        "{{monitoring_url}}/alerts/routing",
        200,
        {"route": "object", "inhibit_rules": "array"},
        tests='pm.collectionVariables.set("routing_before", JSON.stringify(body));',
    ),
    Req(
        "Route every alert to the channel",
        "PUT",
        "{{monitoring_url}}/alerts/routing",
        200,
        {"route": "object", "route.receiver": "string", "inhibit_rules": "array"},
        json={
            "route": {
                "receiver": "{{channel_name}}",
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "4h",
            },
            "inhibit_rules": [],
        },
    ),
    Req(
        "Create a silence",
        "POST",
        "{{monitoring_url}}/alerts/silences",
        200,
        SILENCE | {"silenceID": "string"},
        json={
            "matchers": MATCHERS,
            "startsAt": "{{starts_at}}",
            "endsAt": "{{ends_at}}",
            "comment": "Postman drill",
        },
        pre=WINDOW,
        save={"silence_id": "silenceID"},
        tests=check('body.status.state === "active"', "active"),
    ),
    _list(
        "{{monitoring_url}}/alerts/silences",
        "Silences",
        {"": "array", "0.id": "string"},
        'body.some((s) => s.id === pm.collectionVariables.get("silence_id"))',
    ),
    Req("One silence", "GET", "{{monitoring_url}}/alerts/silences/{{silence_id}}", 200, SILENCE),
    Req(
        "Alertmanager API: status",
        "GET",
        "{{monitoring_url}}/api/v2/status",
        200,
        {"cluster.status": "string", "versionInfo.version": "string", "config.original": "string"},
        tests=check(
            'body.config.original.includes(pm.collectionVariables.get("channel_name"))',
            "the routing YAML",
        ),
    ),
    Req(
        "Alertmanager API: push an alert",
        "POST",
        "{{monitoring_url}}/api/v2/alerts",
        200,
        media="empty",
        json=[
            {
                "labels": {"alertname": DRILL, "severity": "info"},
                "annotations": {"summary": "Postman drill"},
            }
        ],
    ),
    Req(
        "Alertmanager API: alerts",
        "GET",
        "{{monitoring_url}}/api/v2/alerts",
        200,
        {"": "array"} | {f"0.{k}": v for k, v in ALERT.items()},
        query=[("filter", f"alertname%3D%22{DRILL}%22")],
        tests=check(
            "body.length === 1 && body[0].receivers[0].name === "
            'pm.collectionVariables.get("channel_name")',
            "the pushed alert, routed to the channel",
        ),
    ),
    Req(
        "Alertmanager API: alert groups",
        "GET",
        "{{monitoring_url}}/api/v2/alerts/groups",
        200,
        {"": "array", "0.labels": "object", "0.receiver.name": "string", "0.alerts": "array"},
        tests=check(
            'body.some((g) => g.labels.alertname === "PostmanDrill" + '
            'pm.collectionVariables.get("run_id"))',
            "the pushed alert's group",
        ),
    ),
    Req(
        "Alertmanager API: create a silence",
        "POST",
        "{{monitoring_url}}/api/v2/silences",
        200,
        {"silenceID": "string"},
        json={
            "matchers": MATCHERS,
            "startsAt": "{{starts_at}}",
            "endsAt": "{{ends_at}}",
            "createdBy": "postman",
            "comment": "Postman drill (API v2)",
        },
        pre=WINDOW,
        save={"api_silence_id": "silenceID"},
    ),
    Req(
        "Alertmanager API: a silence without matchers is a 400",
        "POST",
        "{{monitoring_url}}/api/v2/silences",
        400,
        error="invalid_silence",
        json={"startsAt": "{{starts_at}}", "endsAt": "{{ends_at}}", "comment": "no matchers"},
    ),
    _list(
        "{{monitoring_url}}/api/v2/silences",
        "Alertmanager API: silences",
        {"": "array", "0.id": "string", "0.status.state": "string"},
        'body.some((s) => s.id === pm.collectionVariables.get("api_silence_id"))',
    ),
    Req(
        "Alertmanager API: one silence",
        "GET",
        "{{monitoring_url}}/api/v2/silence/{{api_silence_id}}",
        200,
        SILENCE,
    ),
    Req(
        "Alertmanager API: expire the silence",
        "DELETE",
        "{{monitoring_url}}/api/v2/silence/{{api_silence_id}}",
        200,
        media="empty",
    ),
    Req(
        "Expire the silence",
        "DELETE",
        "{{monitoring_url}}/alerts/silences/{{silence_id}}",
        200,
        SILENCE,
        tests=check('body.status.state === "expired"', "expired, still listed"),
    ),
    Req(
        "Delete the alert rule",
        "DELETE",
        "{{monitoring_url}}/alerts/rules/{{rule_name}}",
        204,
        media="empty",
    ),
    Req(
        "A deleted rule is gone",
        "GET",
        "{{monitoring_url}}/alerts/rules/{{rule_name}}",
        404,
        error="rule_not_found",
    ),
    Req(
        "A channel the routing uses cannot be deleted",
        "DELETE",
        "{{monitoring_url}}/alerts/channels/{{channel_name}}",
        409,
        error="channel_in_use",
    ),
    Req(
        "Put the routing configuration back",
        "PUT",
        "{{monitoring_url}}/alerts/routing",
        200,
        {"route": "object", "inhibit_rules": "array"},
        raw="{{routing_before}}",
        content_type="application/json",
        tests=check(
            'JSON.stringify(body) === pm.collectionVariables.get("routing_before")', "restored"
        ),
    ),
    Req(
        "Delete the channel",
        "DELETE",
        "{{monitoring_url}}/alerts/channels/{{channel_name}}",
        204,
        media="empty",
    ),
]
