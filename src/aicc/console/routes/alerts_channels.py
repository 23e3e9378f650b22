"""Notification channels: the list (secrets masked as the service returns them), create, edit,
delete, and a test notification with its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from fastapi.responses import Response
from starlette.datastructures import FormData

from aicc.console.dependencies import Visit
from aicc.console.errors import UpstreamError
from aicc.console.routes.alerts_common import (
    FormErrors,
    Manager,
    Reader,
    can_manage,
    go,
    lines,
    pairs_text,
    parse_pairs,
    text,
)
from aicc.console.routing import page_router

router = page_router()
ChannelName = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
ChannelType = Literal["slack", "pagerduty", "sns", "ses", "webhook"]


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Literal["text", "secret", "lines", "pairs", "headers", "number"] = "text"
    required: bool = False


TYPES: dict[str, tuple[Setting, ...]] = {
    "slack": (Setting("webhook_url", "secret", True), Setting("channel"), Setting("username")),
    "pagerduty": (
        Setting("routing_key", "secret", True),
        Setting("url"),
        Setting("severity", "pairs"),
    ),
    "sns": (Setting("topic_arn", required=True), Setting("region")),
    "ses": (Setting("from", required=True), Setting("to", "lines", True), Setting("region")),
    "webhook": (
        Setting("url", "secret", True),
        Setting("headers", "headers"),
        Setting("max_alerts", "number"),
    ),
}
TARGET = {"slack": "webhook_url", "pagerduty": "routing_key", "sns": "topic_arn",
          "ses": "to", "webhook": "url"}  # fmt: skip
"""The setting that says where a channel's notifications go, shown in the list."""


def _target(channel: dict[str, Any]) -> str:
    value = channel.get("settings", {}).get(TARGET.get(channel.get("type", ""), ""), "")
    return ", ".join(value) if isinstance(value, list) else str(value)


async def _list(
    visit: Visit,
    *,
    tested: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    found = await visit.api.get("monitoring", "/alerts/channels")
    channels = [{**c, "target": _target(c)} for c in found["channels"]]
    return visit.render(
        "alerts/channels.html",
        status=status,
        channels=channels,
        tested=tested,
        error=error,
        manage=can_manage(visit),
        types=list(TYPES),
        notice=await visit.take_notice(),
        page_title="channels.title",
    )


@router.get("/alerts/channels")
async def channels(visit: Reader) -> Response:
    return await _list(visit)


def _form(
    visit: Visit,
    kind: str,
    values: dict[str, Any],
    *,
    editing: bool,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return visit.render(
        "alerts/channel_form.html",
        status=status,
        kind=kind,
        settings=TYPES[kind],
        values=values,
        editing=editing,
        errors=errors or FormErrors(),
        types=list(TYPES),
        page_title="channels.edit" if editing else "channels.new",
    )


def channel_values(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel as the service returned it (secrets masked) as the form shows it; masked
    values sent back unchanged keep what is stored."""
    values: dict[str, Any] = {"name": channel["name"], "send_resolved": channel["send_resolved"]}
    shown = channel.get("settings") or {}
    for setting in TYPES[channel["type"]]:
        value = shown.get(setting.name)
        if value is None:
            values[setting.name] = ""
        elif setting.kind == "lines":
            values[setting.name] = "\n".join(value)
        elif setting.kind in ("pairs", "headers"):
            values[setting.name] = pairs_text(value, ": " if setting.kind == "headers" else "=")
        else:
            values[setting.name] = str(value)
    return values


def channel_body(visit: Visit, kind: str, form: FormData, errors: FormErrors) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for setting in TYPES[kind]:
        raw = text(form, f"setting-{setting.name}", 10_000)
        if not raw:
            continue
        if setting.kind == "lines":
            settings[setting.name] = lines(raw)
        elif setting.kind in ("pairs", "headers"):
            pairs, bad = parse_pairs(raw)
            for line in bad:
                errors.add(setting.name, visit.t("rules.bad_pair", line=line))
            settings[setting.name] = pairs
        else:
            settings[setting.name] = raw
    return {
        "name": text(form, "name", 200),
        "type": kind,
        "settings": settings,
        "send_resolved": form.get("send_resolved") == "on",
    }


def _fields(kind: str) -> list[str]:
    return ["name", "type", "send_resolved", *(s.name for s in TYPES[kind])]


def _posted(form: FormData, kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {s.name: text(form, f"setting-{s.name}", 10_000) for s in TYPES[kind]}
    return values | {"name": text(form, "name", 200), "send_resolved": "send_resolved" in form}


@router.get("/alerts/channels/new")
async def new_channel(visit: Manager, type: Annotated[ChannelType, Query()] = "slack") -> Response:
    values: dict[str, Any] = {s.name: "" for s in TYPES[type]} | {
        "name": "",
        "send_resolved": True,
    }
    return _form(visit, type, values, editing=False)


@router.post("/alerts/channels")
async def create_channel(visit: Manager) -> Response:
    form = await visit.request.form()
    kind = text(form, "type", 20)
    if kind not in TYPES:
        return go("/alerts/channels/new")
    errors = FormErrors()
    body = channel_body(visit, kind, form, errors)
    if not errors:
        try:
            await visit.api.post("monitoring", "/alerts/channels", body)
        except UpstreamError as exc:
            errors = _refusal(visit, exc, kind)
    if errors:
        return _form(visit, kind, _posted(form, kind), editing=False, errors=errors, status=422)
    await visit.leave_notice("channels.created")
    return go("/alerts/channels")


def _refusal(visit: Visit, exc: UpstreamError, kind: str) -> FormErrors:
    if exc.code == "channel_exists":
        errors = FormErrors()
        errors.add("name", visit.t("channels.exists"))
        return errors
    return FormErrors.from_upstream(exc, _fields(kind))


@router.get("/alerts/channels/{name}/edit")
async def edit_channel(visit: Manager, name: ChannelName) -> Response:
    channel = await visit.api.get("monitoring", f"/alerts/channels/{name}")
    return _form(visit, channel["type"], channel_values(channel), editing=True)


@router.post("/alerts/channels/{name}/edit")
async def replace_channel(visit: Manager, name: ChannelName) -> Response:
    form = await visit.request.form()
    kind = text(form, "type", 20)
    if kind not in TYPES:
        return go(f"/alerts/channels/{name}/edit")
    errors = FormErrors()
    body = channel_body(visit, kind, form, errors) | {"name": name}
    if not errors:
        try:
            await visit.api.put("monitoring", f"/alerts/channels/{name}", body)
        except UpstreamError as exc:
            errors = _refusal(visit, exc, kind)
    if errors:
        values = _posted(form, kind) | {"name": name}
        return _form(visit, kind, values, editing=True, errors=errors, status=422)
    await visit.leave_notice("channels.saved")
    return go("/alerts/channels")


@router.post("/alerts/channels/{name}/delete")
async def delete_channel(visit: Manager, name: ChannelName) -> Response:
    try:
        await visit.api.delete("monitoring", f"/alerts/channels/{name}")
    except UpstreamError as exc:
        if exc.code != "channel_in_use":
            raise
        return await _list(visit, error=visit.t("channels.in_use", name=name), status=409)
    await visit.leave_notice("channels.deleted")
    return go("/alerts/channels")


@router.post("/alerts/channels/{name}/test")
async def test_channel(visit: Manager, name: ChannelName) -> Response:
    result = await visit.api.post("monitoring", f"/alerts/channels/{name}/test")
    tested = {"error": None, "status": None, "retryable": None, "detail": {}, **result}
    return await _list(visit, tested=tested | {"name": name})
