"""Every connector, by provider name and alias, and how ``provider`` is inferred when a
registration leaves it out."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.aws_ses import AwsSesConnector
from aicc.integration.connectors.aws_sns import AwsSnsConnector
from aicc.integration.connectors.base import Connector
from aicc.integration.connectors.dynamics import DynamicsConnector
from aicc.integration.connectors.fcm import FcmConnector
from aicc.integration.connectors.hubspot import HubSpotConnector
from aicc.integration.connectors.inicis import InicisConnector
from aicc.integration.connectors.meta import FacebookConnector, InstagramConnector
from aicc.integration.connectors.rest import RestConnector
from aicc.integration.connectors.salesforce import SalesforceConnector
from aicc.integration.connectors.sap_odata import SapODataConnector
from aicc.integration.connectors.toss import TossConnector
from aicc.integration.connectors.twitter import TwitterConnector

CONNECTORS: tuple[type[Connector], ...] = (
    SalesforceConnector,
    HubSpotConnector,
    DynamicsConnector,
    FacebookConnector,
    InstagramConnector,
    TwitterConnector,
    TossConnector,
    InicisConnector,
    SapODataConnector,
    AwsSnsConnector,
    AwsSesConnector,
    FcmConnector,
    RestConnector,
)


def _by_name(classes: Iterable[type[Connector]]) -> dict[str, type[Connector]]:
    names: dict[str, type[Connector]] = {}
    for cls in classes:
        for name in (cls.provider, *cls.aliases):
            names[name] = cls
    return names


class Registry:
    """One instance of each connector (they hold no state)."""

    def __init__(self, classes: Iterable[type[Connector]] = CONNECTORS) -> None:
        self.classes = tuple(classes)
        self._names = _by_name(self.classes)
        self._instances = {cls.provider: cls() for cls in self.classes}

    @property
    def providers(self) -> list[str]:
        return [cls.provider for cls in self.classes]

    def canonical(self, name: str) -> str:
        cls = self._names.get(name.strip().lower())
        if cls is None:
            raise ValidationFailed(
                f"unknown provider {name!r}",
                code="unknown_provider",
                details={"choices": sorted(self._names)},
            )
        return cls.provider

    def get(self, provider: str) -> Connector:
        return self._instances[self.canonical(provider)]

    def infer(self, endpoint_url: str, integration_id: str, type_: str | None) -> str:
        """The provider an endpoint's host and an integration id point at.

        The host decides when it belongs to exactly one provider; otherwise words in the id
        (``crm_salesforce``) do; a generic host and id with no hint is ``rest``. Two or more
        equally good candidates are a 422 listing them.
        """
        host = (urlsplit(endpoint_url).hostname or "").lower()
        by_host = {c.provider for c in self.classes if any(_host_matches(host, h) for h in c.hosts)}
        words = _words(integration_id)
        by_id = {
            c.provider
            for c in self.classes
            if any(k in words for k in (c.provider, *c.aliases, *c.keywords))
        }
        candidates = by_host & by_id or by_host or by_id
        typed_all = {c.provider for c in self.classes if c.type.value == type_}
        if type_ is not None:
            typed = candidates & typed_all
            if typed:
                candidates = typed
            elif not by_host:
                candidates = typed_all if type_ != "custom" else set()
        if len(candidates) == 1:
            return candidates.pop()
        if not candidates and "rest" in self._instances:
            return "rest"
        raise ValidationFailed(
            "cannot tell which provider this integration is for; set `provider`",
            code="ambiguous_provider",
            details={"choices": sorted(candidates) or self.providers},
        )


def _host_matches(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


def _words(text: str) -> set[str]:
    lowered = text.lower()
    for sep in "-./:":
        lowered = lowered.replace(sep, "_")
    return {w for w in lowered.split("_") if w} | {lowered}
