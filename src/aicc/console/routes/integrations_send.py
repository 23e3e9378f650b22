"""A test send (``integrations:send``): a form built from the parameters the connector
declares for a method (``GET /integrations/providers``), sent SYNC or ASYNC; the page shows
the provider's answer, the queued message, or why it failed.

Each form carries a fresh message id, so sending the same form twice (a reload) is the same
message: the service answers the first result again and never calls the provider twice.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit
from aicc.console.errors import ServiceDown, UpstreamError
from aicc.console.routes.integrations_base import (
    IntegrationId,
    Sender,
    integration_and,
    page_context,
    pretty,
    service_path,
    with_links,
)
from aicc.console.routing import page_router

router = page_router()
MethodName = Annotated[str, Query(max_length=100, pattern=r"^[A-Za-z0-9_.\-]*$")]
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
MAX_VALUE = 100_000
NEED_NUMBER = {"integer": "integrations.need_integer", "number": "integrations.need_number"}
PROVIDER_FAILURES = {"provider_error", "provider_timeout"}
REFUSALS = {
    "circuit_open": "integrations.refused_circuit_open",
    "needs_reauth": "integrations.refused_needs_reauth",
    "integration_rate_limited": "integrations.refused_rate_limited",
    "integration_disabled": "integrations.refused_disabled",
}


def widget_of(param: dict[str, Any]) -> str:
    kinds = set(str(param.get("type", "string")).split("|"))
    if param.get("choices"):
        return "select"
    if kinds == {"boolean"}:
        return "bool"
    if kinds in ({"integer"}, {"number"}):
        return kinds.pop()
    if kinds <= {"object", "array"}:
        return "json"
    return "text"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def parse(param: dict[str, Any], text: str) -> tuple[Any, str | None]:
    """The value a form field means for a parameter, or the message key of why not."""
    widget = widget_of(param)
    if widget == "select":
        return (text, None) if text in param["choices"] else (None, "integrations.need_choice")
    if widget == "bool":
        return (
            (text == "true", None)
            if text in ("true", "false")
            else (None, "integrations.need_bool")
        )
    if widget in ("integer", "number"):
        try:
            number = (
                float(text) if widget == "number" and not text.lstrip("-").isdigit() else int(text)
            )
        except ValueError:
            return None, NEED_NUMBER[widget]
        return number, None
    kinds = set(str(param.get("type", "string")).split("|"))
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    else:
        if _kind(value) in kinds or (_kind(value) == "integer" and "number" in kinds):
            return value, None
    if "string" in kinds:
        return text, None
    return None, "integrations.need_json"


def fields_of(
    method: dict[str, Any], values: dict[str, str], errors: dict[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "description": "",
            "choices": [],
            "required": False,
            **param,
            "id": f"arg-{param['name']}",
            "widget": widget_of(param),
            "value": values.get(param["name"], ""),
            "error": errors.get(param["name"]),
        }
        for param in method.get("params", [])
    ]


async def _setting(
    visit: Visit, integration_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    integration, providers = await integration_and(
        visit, integration_id, visit.api.get("integration", "/integrations/providers")
    )
    for provider in providers.get("providers", []):
        if provider.get("provider") == integration.get("provider"):
            return integration, list(provider.get("methods", []))
    return integration, []


def _render(
    visit: Visit,
    integration: dict[str, Any],
    methods: list[dict[str, Any]],
    chosen: dict[str, Any] | None,
    values: dict[str, str] | None = None,
    message_type: str = "sync",
    *,
    errors: dict[str, str] | None = None,
    outcome: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return visit.render(
        "integrations/send.html",
        status=status,
        **page_context(visit, integration, "send"),
        methods=methods,
        chosen=chosen,
        fields=fields_of(chosen, values or {}, errors or {}) if chosen else [],
        message_type=message_type,
        message_id="console-" + secrets.token_hex(12),
        outcome=outcome,
        page_title="integrations.send_title",
    )


@router.get("/integrations/{integration_id}/send")
async def send_form(
    visit: Sender, integration_id: IntegrationId, method: MethodName = ""
) -> Response:
    integration, methods = await _setting(visit, integration_id)
    by_name = {m["name"]: m for m in methods}
    chosen = by_name.get(method) or (methods[0] if len(methods) == 1 else None)
    return _render(visit, integration, methods, chosen)


@router.post("/integrations/{integration_id}/send")
async def send(visit: Sender, integration_id: IntegrationId) -> Response:
    form = await visit.request.form()
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    integration, methods = await _setting(visit, integration_id)
    chosen = {m["name"]: m for m in methods}.get(text.get("method", ""))
    if chosen is None:
        return _render(visit, integration, methods, None, status=422)
    message_type = "async" if text.get("message_type") == "async" else "sync"
    values = {p["name"]: text.get(f"arg.{p['name']}", "") for p in chosen.get("params", [])}
    payload: dict[str, Any] = {"method": chosen["name"]}
    errors: dict[str, str] = {}
    for param in chosen.get("params", []):
        raw = values[param["name"]]
        if len(raw) > MAX_VALUE:
            errors[param["name"]] = visit.t("integrations.too_long")
        elif raw.strip():
            value, problem = parse(param, raw.strip() if widget_of(param) != "text" else raw)
            if problem:
                errors[param["name"]] = visit.t(problem)
            else:
                payload[param["name"]] = value
        elif param.get("required"):
            errors[param["name"]] = visit.t("integrations.need_value")
    if errors:
        return _render(
            visit, integration, methods, chosen, values, message_type, errors=errors, status=422
        )
    message_id = text.get("message_id", "")
    body = {"message_type": message_type, "payload": payload}
    if MESSAGE_ID.match(message_id):
        body["message_id"] = message_id
    try:
        response = await visit.api.request(
            "integration",
            "POST",
            service_path(integration_id, "messages"),
            json=body,
            passthrough=(502, 503, 504),
        )
    except UpstreamError as exc:
        outcome, errors = _failure(integration_id, exc)
        status = 422 if errors else 200
        return _render(
            visit,
            integration,
            methods,
            chosen,
            values,
            message_type,
            errors=errors,
            outcome=outcome,
            status=status,
        )
    answer = response.json()
    (linked,) = with_links(integration_id, [answer])
    outcome = {
        "kind": "sync" if message_type == "sync" else "queued",
        "answer": linked,
        "data": pretty(answer.get("data")),
        "duplicate": bool(answer.get("duplicate")),
    }
    return _render(visit, integration, methods, chosen, values, message_type, outcome=outcome)


def _failure(
    integration_id: str, exc: UpstreamError
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """What the page shows for a refused send: per-field problems for invalid arguments, the
    provider's failure, or why the service did not call it."""
    if exc.code == "invalid_arguments" and isinstance(exc.details, list):
        errors: dict[str, str] = {}
        for problem in exc.details:
            loc = problem.get("loc") if isinstance(problem, dict) else None
            if isinstance(loc, list) and len(loc) == 2 and loc[0] == "payload":
                errors[str(loc[1])] = str(problem.get("msg", ""))
        if errors:
            return None, errors
    if exc.code in PROVIDER_FAILURES:
        details = exc.details if isinstance(exc.details, dict) else {}
        found = with_links(integration_id, [{"message_id": details.get("message_id", "")}])
        return {
            "kind": "provider_error",
            "code": exc.code,
            "message": exc.message,
            "details": details,
            "href": found[0]["href"] if details.get("message_id") else None,
        }, {}
    if exc.status >= 500 and exc.code not in REFUSALS:
        raise ServiceDown("integration", f"HTTP {exc.status}")
    return {
        "kind": "refused",
        "key": REFUSALS.get(exc.code, "integrations.refused"),
        "code": exc.code,
        "message": exc.message,
    }, {}
