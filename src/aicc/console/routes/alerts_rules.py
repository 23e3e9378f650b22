"""Alert rules: the list with each rule's current alerts, and create, edit, delete with the
monitoring API's body; its validation errors are shown next to the fields."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import Response
from starlette.datastructures import FormData

from aicc.console.dependencies import Visit
from aicc.console.errors import UpstreamError
from aicc.console.routes.alerts_common import (
    FormErrors,
    Manager,
    Reader,
    can_manage,
    duration_text,
    go,
    lines,
    pairs_text,
    parse_pairs,
    seconds_or_raw,
    text,
    texts,
)
from aicc.console.routing import page_router

router = page_router()
RuleName = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_:.\-]+$")]
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
AGGREGATIONS = ("latest", "avg", "rate", "increase", "p50", "p90", "p95", "p99")
METRICS = ("cpu_usage_percent", "memory_usage_percent", "disk_usage_percent", "active_sessions",
           "api_requests_total", "api_duration_seconds", "db_connections_active",
           "db_query_duration_seconds")  # fmt: skip
"""Suggestions for the metric field (the spec's, by their short names); the service knows
every metric it has scraped too."""
FIELDS = ("rule_name", "metric", "aggregation", "window", "by", "operator", "threshold", "for",
          "keep_firing_for", "level", "labels", "matchers", "summary", "description",
          "annotations", "channels")  # fmt: skip
API_NAMES = {
    "for_seconds": "for",
    "keep_firing_for_seconds": "keep_firing_for",
    "window_seconds": "window",
    "annotations.summary": "summary",
    "annotations.description": "description",
}
BLANK = dict.fromkeys(FIELDS, "") | {"operator": ">", "level": "warning", "channels": []}


def condition(rule: dict[str, Any]) -> str:
    """What the rule compares, in a PromQL-like line (``p95(x[5m]) by (service) > 5``)."""
    aggregation = rule.get("aggregation") or "latest"
    selector = [f'{k}="{v}"' for k, v in sorted((rule.get("labels") or {}).items())]
    selector += list(rule.get("matchers") or [])
    series = rule["metric"] + ("{" + ", ".join(selector) + "}" if selector else "")
    if aggregation != "latest":
        series = f"{aggregation}({series}[{duration_text(rule.get('window_seconds'))}])"
    by = rule.get("by")
    grouped = f" by ({', '.join(by)})" if by else ""
    return f"{series}{grouped} {rule['operator']} {rule['threshold']:g}"


@router.get("/alerts/rules")
async def rules(visit: Reader) -> Response:
    found, current = await asyncio.gather(
        visit.api.get("monitoring", "/alerts/rules"), visit.api.get("monitoring", "/alerts")
    )
    states = Counter((a["rule_name"], a["state"]) for a in current["alerts"])
    listed = [
        {
            **rule,
            "condition": condition(rule),
            "for_text": duration_text(rule.get("for_seconds")),
            "firing": states[(rule["rule_name"], "firing")],
            "pending": states[(rule["rule_name"], "pending")],
        }
        for rule in found["rules"]
    ]
    return visit.render(
        "alerts/rules.html",
        rules=listed,
        manage=can_manage(visit),
        notice=await visit.take_notice(),
        page_title="rules.title",
    )


def rule_values(rule: dict[str, Any]) -> dict[str, Any]:
    """A stored rule as the form shows it."""
    annotations = dict(rule.get("annotations") or {})
    return {
        "rule_name": rule["rule_name"],
        "metric": rule["metric"],
        "aggregation": rule.get("aggregation") or "",
        "window": duration_text(rule.get("window_seconds")),
        "by": ", ".join(rule["by"]) if rule.get("by") else "",
        "operator": rule["operator"],
        "threshold": f"{rule['threshold']:g}",
        "for": duration_text(rule.get("for_seconds")),
        "keep_firing_for": duration_text(rule.get("keep_firing_for_seconds")),
        "level": rule["level"],
        "labels": pairs_text(rule.get("labels")),
        "matchers": "\n".join(rule.get("matchers") or []),
        "summary": annotations.pop("summary", ""),
        "description": annotations.pop("description", ""),
        "annotations": pairs_text(annotations),
        "channels": list(rule.get("channels") or []),
    }


def form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name, 4000) for name in FIELDS}
    values["channels"] = texts(form, "channels", 200)
    return values


def rule_body(visit: Visit, values: dict[str, Any], errors: FormErrors) -> dict[str, Any]:
    """The API's body from the form; what only the console reads (``key=value`` lines)
    is checked here, everything else by the service."""
    body: dict[str, Any] = {
        "rule_name": values["rule_name"],
        "metric": values["metric"],
        "operator": values["operator"],
        "level": values["level"],
        "threshold": values["threshold"] or None,
        "for_seconds": seconds_or_raw(values["for"]),
        "keep_firing_for_seconds": seconds_or_raw(values["keep_firing_for"]),
        "window_seconds": seconds_or_raw(values["window"]),
        "aggregation": values["aggregation"] or None,
        "by": [p.strip() for p in values["by"].split(",") if p.strip()] or None,
        "matchers": lines(values["matchers"]),
        "channels": values["channels"],
    }
    labels, bad = parse_pairs(values["labels"])
    for line in bad:
        errors.add("labels", visit.t("rules.bad_pair", line=line))
    annotations, bad = parse_pairs(values["annotations"])
    for line in bad:
        errors.add("annotations", visit.t("rules.bad_pair", line=line))
    for key in ("summary", "description"):
        if values[key]:
            annotations[key] = values[key]
    body["labels"] = labels
    body["annotations"] = annotations
    return {k: v for k, v in body.items() if v is not None}


async def _form(
    visit: Visit,
    values: dict[str, Any],
    *,
    editing: bool,
    errors: FormErrors | None = None,
    known: list[str] | None = None,
    status: int = 200,
) -> Response:
    found = await visit.api.get("monitoring", "/alerts/channels")
    names = [c["name"] for c in found["channels"]]
    names += [n for n in values["channels"] if n not in names]
    return visit.render(
        "alerts/rule_form.html",
        status=status,
        values=values,
        editing=editing,
        errors=errors or FormErrors(),
        known_metrics=known,
        channel_names=names,
        operators=[(op, op) for op in OPERATORS],
        aggregations=[("", visit.t("rules.aggregation_default"))] + [(a, a) for a in AGGREGATIONS],
        metrics=METRICS,
        page_title="rules.edit" if editing else "rules.new",
    )


async def _refused(
    visit: Visit, values: dict[str, Any], exc: UpstreamError, *, editing: bool
) -> Response:
    errors = FormErrors()
    known = None
    if exc.code == "unknown_metric" and isinstance(exc.details, dict):
        known = [str(m) for m in exc.details.get("known") or []]
        errors.add("metric", exc.message)
    elif exc.code == "rule_exists":
        errors.add("rule_name", visit.t("rules.exists"))
    else:
        errors = FormErrors.from_upstream(exc, FIELDS, API_NAMES)
    return await _form(visit, values, editing=editing, errors=errors, known=known, status=422)


@router.get("/alerts/rules/new")
async def new_rule(visit: Manager) -> Response:
    return await _form(visit, dict(BLANK), editing=False)


@router.post("/alerts/rules")
async def create_rule(visit: Manager) -> Response:
    values = form_values(await visit.request.form())
    errors = FormErrors()
    body = rule_body(visit, values, errors)
    if errors:
        return await _form(visit, values, editing=False, errors=errors, status=422)
    try:
        await visit.api.post("monitoring", "/alerts/rules", body)
    except UpstreamError as exc:
        return await _refused(visit, values, exc, editing=False)
    await visit.leave_notice("rules.created")
    return go("/alerts/rules")


@router.get("/alerts/rules/{name}/edit")
async def edit_rule(visit: Manager, name: RuleName) -> Response:
    rule = await visit.api.get("monitoring", f"/alerts/rules/{name}")
    return await _form(visit, rule_values(rule), editing=True)


@router.post("/alerts/rules/{name}/edit")
async def replace_rule(visit: Manager, name: RuleName) -> Response:
    values = form_values(await visit.request.form()) | {"rule_name": name}
    errors = FormErrors()
    body = rule_body(visit, values, errors)
    if errors:
        return await _form(visit, values, editing=True, errors=errors, status=422)
    try:
        await visit.api.put("monitoring", f"/alerts/rules/{name}", body)
    except UpstreamError as exc:
        return await _refused(visit, values, exc, editing=True)
    await visit.leave_notice("rules.saved")
    return go("/alerts/rules")


@router.post("/alerts/rules/{name}/delete")
async def delete_rule(visit: Manager, name: RuleName) -> Response:
    await visit.api.delete("monitoring", f"/alerts/rules/{name}")
    await visit.leave_notice("rules.deleted")
    return go("/alerts/rules")
