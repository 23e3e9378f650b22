"""The load balancer aicc-alb for deploy_common_services.sh: a target group per service, a
listener per service port (8000-8003), and the shared listener routing API paths by prefix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from deploy_plan_base import PORTS, SERVICES, canonical, emit, env, load, project_tags

PATHS = {
    "auth": ["/auth", "/auth/*", "/.well-known/*"],
    "recording": ["/recordings", "/recordings/*"],
    "integration": ["/integrations", "/integrations/*", "/webhooks/*"],
    "monitoring": ["/alerts*", "/api/v2/*", "/connect/*", "/services/*"],
}
"""Path rules of the shared listener (80, or 443 with a certificate): each service's API
prefixes. ``/health``, ``/metrics`` and ``/docs`` exist in every service, so they are reached on
the service's own port (8000-8003)."""
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
NOT_FOUND = {
    "Type": "fixed-response",
    "FixedResponseConfig": {
        "StatusCode": "404",
        "ContentType": "application/json",
        "MessageBody": '{"error": {"code": "not_found", "message": "no service at this path"}}',
    },
}


def target_group_request(service: str) -> dict[str, Any]:
    return {
        "Name": f"aicc-{service}",
        "Protocol": "HTTP",
        "Port": PORTS[service],
        "VpcId": env("VPC_ID"),
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 15,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200"},
    }


_FIXED = ("Protocol", "Port", "VpcId", "TargetType")


def plan_target_groups(current_file: str, out_dir: str) -> None:
    current = {g["TargetGroupName"]: g for g in (load(current_file) or [])}
    out = Path(out_dir)
    for service in SERVICES:
        want = target_group_request(service)
        group = current.get(want["Name"])
        if group is None:
            emit(
                out,
                "elbv2 create-target-group",
                service,
                {**want, "Tags": project_tags("Key", "Value")},
            )
            continue
        fixed = [k for k in _FIXED if group.get(k) != want[k]]
        if fixed:
            sys.exit(
                f"target group {want['Name']} differs in {', '.join(fixed)}, which cannot change: "
                "delete it (after its service) and run again"
            )
        health = {
            k: v
            for k, v in want.items()
            if k.startswith("Health")
            or k in ("HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher")
        }
        if any(group.get(k) != v for k, v in health.items()):
            emit(
                out,
                "elbv2 modify-target-group",
                service,
                {"TargetGroupArn": group["TargetGroupArn"], **health},
            )


def _action(action: dict[str, Any]) -> dict[str, Any]:
    kind = action["Type"]
    if kind == "forward":
        arn = (
            action.get("TargetGroupArn")
            or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]
        )
        return {"Type": "forward", "TargetGroupArn": arn}
    key = {"redirect": "RedirectConfig", "fixed-response": "FixedResponseConfig"}[kind]
    return {"Type": kind, key: action.get(key)}


def _listener(listener: dict[str, Any]) -> dict[str, Any]:
    shape = {
        "Protocol": listener["Protocol"],
        "Port": listener["Port"],
        "DefaultActions": [_action(a) for a in listener["DefaultActions"]],
    }
    certificates = [c["CertificateArn"] for c in listener.get("Certificates") or []]
    if listener["Protocol"] == "HTTPS":
        shape["Certificates"] = [{"CertificateArn": arn} for arn in certificates[:1]]
        shape["SslPolicy"] = listener.get("SslPolicy")
    return shape


def shared_port() -> int:
    return 443 if env("CERTIFICATE_ARN") else 80


def wanted_listeners() -> list[dict[str, Any]]:
    """A listener per service port (8000-8003) forwarding everything to that service, and the
    shared listener (443 with a certificate, else 80) routing API paths by prefix; with a
    certificate, 80 only redirects to 443."""
    certificate = env("CERTIFICATE_ARN")
    tls: dict[str, Any] = (
        {"Certificates": [{"CertificateArn": certificate}], "SslPolicy": TLS_POLICY}
        if certificate
        else {}
    )
    protocol = "HTTPS" if certificate else "HTTP"
    listeners = [
        {
            "Protocol": protocol,
            "Port": PORTS[s],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": env(f"TG_{s.upper()}")}],
            **tls,
        }
        for s in SERVICES
    ]
    listeners.append(
        {"Protocol": protocol, "Port": shared_port(), "DefaultActions": [NOT_FOUND], **tls}
    )
    if certificate:
        redirect = {
            "Protocol": "HTTPS",
            "Port": "443",
            "Host": "#{host}",
            "Path": "/#{path}",
            "Query": "#{query}",
            "StatusCode": "HTTP_301",
        }
        listeners.append(
            {
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [{"Type": "redirect", "RedirectConfig": redirect}],
            }
        )
    return listeners


def plan_listeners(current_file: str, out_dir: str) -> None:
    current = {item["Port"]: item for item in (load(current_file) or [])}
    out = Path(out_dir)
    for want in wanted_listeners():
        listener = current.get(want["Port"])
        name = str(want["Port"])
        if listener is None:
            request = {
                "LoadBalancerArn": env("LB_ARN"),
                **want,
                "Tags": project_tags("Key", "Value"),
            }
            emit(out, "elbv2 create-listener", name, request)
        elif canonical(_listener(listener)) != canonical(want):
            emit(
                out, "elbv2 modify-listener", name, {"ListenerArn": listener["ListenerArn"], **want}
            )


def _conditions(rule: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for condition in rule.get("Conditions") or []:
        config = condition.get("PathPatternConfig") or {}
        values += config.get("Values") or condition.get("Values") or []
    return sorted(values)


def plan_rules(current_file: str, out_dir: str) -> None:
    current = {str(r["Priority"]): r for r in (load(current_file) or []) if not r.get("IsDefault")}
    out = Path(out_dir)
    for index, service in enumerate(("auth", "recording", "integration", "monitoring")):
        priority = str(10 * (index + 1))
        conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": PATHS[service]}}]
        actions = [{"Type": "forward", "TargetGroupArn": env(f"TG_{service.upper()}")}]
        rule = current.get(priority)
        if rule is None:
            request = {
                "ListenerArn": env("SHARED_LISTENER_ARN"),
                "Priority": int(priority),
                "Conditions": conditions,
                "Actions": actions,
                "Tags": project_tags("Key", "Value"),
            }
            emit(out, "elbv2 create-rule", service, request)
        elif (
            _conditions(rule) != sorted(PATHS[service])
            or [_action(a) for a in rule["Actions"]] != actions
        ):
            request = {"RuleArn": rule["RuleArn"], "Conditions": conditions, "Actions": actions}
            emit(out, "elbv2 modify-rule", service, request)
