"""How console routes are made: every router from :func:`page_router`, so every
state-changing route passes the CSRF check; :func:`check_csrf_coverage` refuses to build an
app where one does not."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from aicc.console.security import SAFE_METHODS, csrf_protect


def page_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` for console pages: hidden from the API schema, CSRF-checked."""
    dependencies = [Depends(csrf_protect), *kwargs.pop("dependencies", [])]
    return APIRouter(include_in_schema=False, dependencies=dependencies, **kwargs)


def check_csrf_coverage(routers: Iterable[APIRouter]) -> None:
    """Every console route that changes state depends on :func:`csrf_protect` (checked on
    the routers before the app includes them)."""
    unprotected = []
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not (set(route.methods or ()) - SAFE_METHODS):
            continue
        calls = {dependant.call for dependant in route.dependant.dependencies}
        if csrf_protect not in calls:
            unprotected.append(f"{sorted(route.methods or ())} {route.path}")
    if unprotected:
        raise RuntimeError(
            "console routes without the CSRF check (use page_router()): " + ", ".join(unprotected)
        )
