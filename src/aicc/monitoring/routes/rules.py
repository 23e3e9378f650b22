"""Alert rules (the spec's ``POST /alerts/rules``), current alerts and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from aicc.core.security import require_permission
from aicc.core.tokens import Principal

router = APIRouter(prefix="/alerts", tags=["alert rules"])
Reader = Annotated[Principal, Depends(require_permission("alerts:read"))]
Manager = Annotated[Principal, Depends(require_permission("alerts:manage"))]
RuleName = Annotated[str, Query(min_length=1, max_length=200)]
RuleBody = Annotated[
    dict[str, Any],
    Body(
        examples=[
            {
                "rule_name": "high_cpu_usage",
                "metric": "cpu_usage_percent",
                "threshold": 80,
                "operator": ">",
                "level": "warning",
            }
        ]
    ),
]


def _service(request: Request) -> Any:
    return request.app.state.aicc_service


Service = Annotated[Any, Depends(_service)]


@router.post("/rules", status_code=201, summary="Create an alert rule")
async def create(body: RuleBody, service: Service, _: Manager) -> dict[str, Any]:
    rule: dict[str, Any] = await service.create_rule(body)
    return rule


@router.get("/rules", summary="All alert rules")
async def listing(service: Service, _: Reader) -> dict[str, Any]:
    return {"rules": [r.model_dump() for r in await service.list_rules()]}


@router.get(
    "/rules/export",
    summary="The rules as a Prometheus rules file",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
)
async def export(service: Service, _: Reader) -> Response:
    return Response(await service.export_rules(), media_type="application/yaml")


@router.get("/rules/{rule_name}", summary="One alert rule")
async def one(rule_name: str, service: Service, _: Reader) -> dict[str, Any]:
    rule: dict[str, Any] = await service.get_rule(rule_name)
    return rule


@router.put("/rules/{rule_name}", summary="Replace an alert rule")
async def replace(rule_name: str, body: RuleBody, service: Service, _: Manager) -> dict[str, Any]:
    rule: dict[str, Any] = await service.replace_rule(rule_name, body)
    return rule


@router.delete("/rules/{rule_name}", status_code=204, summary="Delete an alert rule")
async def remove(rule_name: str, service: Service, _: Manager) -> Response:
    await service.delete_rule(rule_name)
    return Response(status_code=204)


@router.get("", summary="Pending and firing alerts")
async def current(service: Service, _: Reader) -> dict[str, Any]:
    return {"alerts": await service.current_alerts()}


@router.get("/history", summary="Alert state changes, newest first")
async def history(
    service: Service,
    _: Reader,
    rule_name: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[Literal["info", "warning", "critical"] | None, Query()] = None,
    state: Annotated[Literal["pending", "firing", "resolved", "inactive"] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    items = await service.alert_history(
        rule_name=rule_name, level=level, state=state, since=since, until=until, limit=limit
    )
    return {"history": items}
