"""The five methods every CRM connector offers, with their argument checks; each connector
supplies only how its record ids look and how it words the methods."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import Method, Param, methods

MAX_RESULTS = 100
PRIORITY_NAMES = ("low", "medium", "high")


@dataclass(frozen=True)
class CrmWording:
    """What the provider calls things, for the method descriptions."""

    customer_id: str
    read: str
    search: str
    log: str
    fields: str
    case: str


def crm_methods(id_problem: Callable[[str], str | None], wording: CrmWording) -> dict[str, Method]:
    """``get_customer_info``, ``search_customer``, ``log_interaction``, ``update_customer`` and
    ``create_case``; ``id_problem`` says why a ``customer_id`` is not one of the provider's."""

    def check(args: Mapping[str, Any]) -> None:
        if "customer_id" in args and (why := id_problem(args["customer_id"])):
            raise invalid("customer_id", why)
        if not 1 <= args.get("limit", 1) <= MAX_RESULTS:
            raise invalid("limit", f"must be between 1 and {MAX_RESULTS}")
        if args.get("duration_seconds", 0) < 0:
            raise invalid("duration_seconds", "must not be negative")
        if args.get("fields") == {}:
            raise invalid("fields", "must name at least one field")

    customer_id = Param("customer_id", description=wording.customer_id)
    return methods(
        CheckedMethod(
            "get_customer_info", (customer_id,), safe=True, check=check, description=wording.read
        ),
        CheckedMethod(
            "search_customer",
            (
                Param("phone", required=False),
                Param("email", required=False),
                Param("limit", "integer", required=False, description="1-100, default 20"),
            ),
            check=check,
            safe=True,
            one_of=(("phone", "email"),),
            description=wording.search,
        ),
        CheckedMethod(
            "log_interaction",
            (
                customer_id,
                Param("subject"),
                Param("description"),
                Param("direction", choices=("inbound", "outbound")),
                Param("duration_seconds", "integer"),
                Param("recording_id", required=False),
            ),
            check=check,
            description=wording.log,
        ),
        CheckedMethod(
            "update_customer",
            (customer_id, Param("fields", "object", description=wording.fields)),
            check=check,
        ),
        CheckedMethod(
            "create_case",
            (
                customer_id,
                Param("subject"),
                Param("description"),
                Param("priority", required=False, choices=PRIORITY_NAMES),
            ),
            check=check,
            description=wording.case,
        ),
    )
