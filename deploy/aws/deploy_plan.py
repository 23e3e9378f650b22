"""JSON work for deploy_common_services.sh: render the task definitions, build the IAM policies
and the service, listener and rule requests, and compare them with what AWS reports.

Standard library only (Python 3.9+, the interpreter the AWS CLI v1 needs anyway). Inputs are
files written by the AWS CLI and the ``DEPLOY_*`` environment the script exports; each
``plan-*`` command writes a request per change as JSON for ``aws ... --cli-input-json`` and prints
its line: the AWS CLI command, the request file and the resource's name, tab-separated. Nothing
here talks to AWS.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy_plan_base import (
    PORTS,
    SERVICES,
    canonical,
    emit,
    env,
    load,
    project_tags,
    say,
    sha256,
    tag_value,
)
from deploy_plan_iam import plan_iam
from deploy_plan_lb import plan_listeners, plan_rules, plan_target_groups

SERVICE_TAG = "aicc:service-config-sha256"
DEFINITION_TAG = "aicc:definition-sha256"
_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
TASK_ROLES = ("monitoring", "recording", "integration")
"""Services that call AWS APIs; auth and the migration call none and get no task role."""
GRACE_SECONDS = 60
"""A new task's load balancer health checks count only after this (start-up and first checks)."""
DESIRED_COUNT = 2
"""Tasks of a new service without ``--desired-count``: one per subnet (availability zone)."""


def render(template: Path, values: dict[str, str]) -> dict[str, Any]:
    """Fill each ``${NAME}`` in the template's strings; leave out environment variables and
    secrets whose value came out empty (optional settings) and empty top-level strings (a task
    role the service does not need)."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            missing = [m for m in _PLACEHOLDER.findall(node) if m not in values]
            if missing:
                sys.exit(f"{template}: no value for {', '.join(missing)}")
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
        return node

    definition: dict[str, Any] = fill(load(str(template)))
    definition = {k: v for k, v in definition.items() if v != ""}
    for container in definition["containerDefinitions"]:
        for key, field in (("environment", "value"), ("secrets", "valueFrom")):
            if key in container:
                container[key] = [e for e in container[key] if e[field] != ""]
    return definition


def task_definitions(work: str) -> None:
    """Render ``task-definition-<family>.json`` with the ``DEPLOY_*`` values into
    ``<work>/td-<family>.json``; print each family and, tab-separated, the latest revision's ARN
    when that revision was registered from the same rendering (its tag holds the hash), or
    nothing (register it). Each family runs the image of its name (``aicc-<family>``)."""
    values = {k[len("DEPLOY_") :]: v for k, v in os.environ.items() if k.startswith("DEPLOY_")}
    folder = Path(__file__).resolve().parent
    for family in (*SERVICES, "migrate"):
        role = env("ROLE_PREFIX") + f"aicc-{family}-task" if family in TASK_ROLES else ""
        definition = render(
            folder / f"task-definition-{family}.json",
            {
                **values,
                "IMAGE": f"{env('REGISTRY')}/aicc-{family}:{env('IMAGE_TAG')}",
                "TASK_ROLE_ARN": role,
            },
        )
        digest = sha256(definition)
        tags = [{"key": DEFINITION_TAG, "value": digest}, *project_tags("key", "value")]
        Path(work, f"td-{family}.json").write_text(json.dumps({**definition, "tags": tags}))
        described = Path(work, f"td-{family}")
        current = (load(str(described)) or {}) if described.exists() else {}
        same = tag_value(current.get("tags"), DEFINITION_TAG) == digest
        arn = current["taskDefinition"]["taskDefinitionArn"] if same else ""
        say(f"{family}\t{arn}")


def current_images(work: str) -> None:
    """Print each family and, tab-separated, the image its latest revision runs (if any)."""
    for family in (*SERVICES, "migrate"):
        described = Path(work, f"td-{family}")
        current = (load(str(described)) or {}) if described.exists() else {}
        containers = (current.get("taskDefinition") or {}).get("containerDefinitions") or [{}]
        say(f"{family}\t{containers[0].get('image', '')}")


def service_settings(service: str) -> dict[str, Any]:
    """What create-service and update-service both set; its hash is tagged on the service."""
    return {
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": sorted(env("SUBNETS").split(",")),
                "securityGroups": sorted(env("SECURITY_GROUPS").split(",")),
                "assignPublicIp": "DISABLED",
            }
        },
        "loadBalancers": [
            {
                "targetGroupArn": env(f"TG_{service.upper()}"),
                "containerName": service,
                "containerPort": PORTS[service],
            }
        ],
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "healthCheckGracePeriodSeconds": GRACE_SECONDS,
        "platformVersion": "LATEST",
        "enableExecuteCommand": False,
    }


def plan_services(described_file: str, out_dir: str) -> None:
    """``migrate`` first when a service gets a new task definition (or is new): the schema
    moves before any task of the new release starts."""
    described = {
        s["serviceName"]: s for s in (load(described_file) or []) if s.get("status") != "INACTIVE"
    }
    out = Path(out_dir)
    desired = env("DESIRED_COUNT")
    lines: list[tuple[str, str, Any]] = []
    migrate = False
    for service in SERVICES:
        name = f"aicc-{service}"
        definition = env(f"TD_{service.upper()}")
        settings = service_settings(service)
        digest = sha256(settings)
        current = described.get(name)
        if current is None:
            migrate = True
            request = {
                "cluster": env("CLUSTER"),
                "serviceName": name,
                "taskDefinition": definition,
                "desiredCount": int(desired or DESIRED_COUNT),
                "launchType": "FARGATE",
                "propagateTags": "SERVICE",
                "enableECSManagedTags": True,
                "tags": [{"key": SERVICE_TAG, "value": digest}, *project_tags("key", "value")],
                **settings,
            }
            lines.append(("ecs create-service", service, request))
            continue
        new_definition = current.get("taskDefinition") != definition
        migrate = migrate or new_definition
        count_differs = bool(desired) and current.get("desiredCount") != int(desired)
        network = canonical(_network(current.get("networkConfiguration")))
        drifted = (
            tag_value(current.get("tags"), SERVICE_TAG) != digest
            or network != canonical(settings["networkConfiguration"])
            or canonical(_balancers(current.get("loadBalancers")))
            != canonical(settings["loadBalancers"])
        )
        if new_definition or count_differs or drifted:
            request = {
                "cluster": env("CLUSTER"),
                "service": name,
                "taskDefinition": definition,
                **settings,
                **({"desiredCount": int(desired)} if desired else {}),
            }
            lines.append(("ecs update-service", service, request))
            if drifted:
                tags = {
                    "resourceArn": current["serviceArn"],
                    "tags": [{"key": SERVICE_TAG, "value": digest}],
                }
                lines.append(("ecs tag-resource", service, tags))
    if migrate:
        say("migrate\t-\t-")
    for command, service, request in lines:
        emit(out, command, service, request)


def _network(config: Any) -> Any:
    vpc = dict((config or {}).get("awsvpcConfiguration") or {})
    for key in ("subnets", "securityGroups"):
        vpc[key] = sorted(vpc.get(key) or [])
    vpc.setdefault("assignPublicIp", "DISABLED")
    return {"awsvpcConfiguration": vpc}


def _balancers(balancers: Any) -> Any:
    keys = ("targetGroupArn", "containerName", "containerPort")
    return [{k: b.get(k) for k in keys} for b in balancers or []]


def column(file: str, key: str, field: str) -> None:
    """Print the ``key`` and ``field`` of each item of the list in ``file``, tab-separated."""
    for item in load(file) or []:
        say(f"{item.get(key)}\t{item.get(field, '')}")


COMMANDS: dict[str, Callable[..., None]] = {
    "column": column,
    "task-definitions": task_definitions,
    "current-images": current_images,
    "plan-iam": plan_iam,
    "plan-target-groups": plan_target_groups,
    "plan-listeners": plan_listeners,
    "plan-rules": plan_rules,
    "plan-services": plan_services,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        sys.exit(f"usage: deploy_plan.py {{{'|'.join(COMMANDS)}}} ARGS...")
    COMMANDS[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
