"""Alert rules: the spec's ``POST /alerts/rules`` body plus Prometheus' rule fields, metric
name resolution, the spec's four default rules, and the export as a Prometheus rules file.

Series selection: ``labels`` is a map of label equalities (``{"queue": "VIP"}``); their values
also become labels of the rule's alerts, as a Prometheus rule's ``labels`` do. ``matchers``
holds further Alertmanager/PromQL matcher strings for inequality and regular expressions
(``["service=~\\"rec.*\\"", "route!=\\"/health\\""]``).

What is compared with the threshold (``aggregation`` over ``window_seconds``; ``by`` the
labels kept when series are combined, default none combined):

======================  ======================================================================
``latest`` (gauges)     newest value (5-minute lookback); ``sum by (<by>)`` with ``by``
``avg``                 ``avg_over_time`` per series, ``avg by`` with ``by``; for a histogram
                        the mean observation, ``rate(x_sum) / rate(x_count)``
``rate``/``increase``   of a counter (or a histogram's ``_count``), ``sum by`` with ``by``
``p50|p90|p95|p99``     ``histogram_quantile(q, sum by (le, <by>) (rate(x_bucket[w])))``
======================  ======================================================================

Without ``aggregation``, histograms (the spec's two, or any name in ``HISTOGRAM_METRICS``)
use ``p95`` and everything else ``latest``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alerting import templates
from aicc.monitoring.alerting.labels import LABEL_NAME, Labels, Matcher, labels_of
from aicc.monitoring.alerting.samples import QUANTILES, Aggregation

SPEC_METRICS: tuple[str, ...] = (
    "system_cpu_usage_percent",
    "system_memory_usage_percent",
    "system_disk_usage_percent",
    "aicc_active_sessions_total",
    "aicc_api_requests_total",
    "aicc_api_duration_seconds",
    "aicc_db_connections_active",
    "aicc_db_query_duration_seconds",
)
HISTOGRAM_METRICS: frozenset[str] = frozenset(
    {
        "aicc_api_duration_seconds",
        "aicc_db_query_duration_seconds",
        "aicc_job_duration_seconds",
        "aicc_integration_duration_seconds",
    }
)
SHORT_NAMES: dict[str, str] = {
    "cpu": "system_cpu_usage_percent",
    "cpu_usage": "system_cpu_usage_percent",
    "cpu_usage_percent": "system_cpu_usage_percent",
    "memory": "system_memory_usage_percent",
    "memory_usage": "system_memory_usage_percent",
    "memory_usage_percent": "system_memory_usage_percent",
    "disk": "system_disk_usage_percent",
    "disk_usage": "system_disk_usage_percent",
    "disk_usage_percent": "system_disk_usage_percent",
    "active_sessions": "aicc_active_sessions_total",
    "active_sessions_total": "aicc_active_sessions_total",
    "sessions": "aicc_active_sessions_total",
    "api_requests": "aicc_api_requests_total",
    "api_requests_total": "aicc_api_requests_total",
    "requests": "aicc_api_requests_total",
    "api_duration": "aicc_api_duration_seconds",
    "api_duration_seconds": "aicc_api_duration_seconds",
    "response_time": "aicc_api_duration_seconds",
    "db_connections": "aicc_db_connections_active",
    "db_connections_active": "aicc_db_connections_active",
    "db_query_duration": "aicc_db_query_duration_seconds",
    "db_query_duration_seconds": "aicc_db_query_duration_seconds",
}
_PREFIXES = ("system_", "aicc_", "aicc_connect_")
_OPERATOR_WORDS = {"gt": ">", "gte": ">=", "ge": ">=", "lt": "<", "lte": "<=", "le": "<="}
_OPERATOR_WORDS |= {"eq": "==", "ne": "!=", "neq": "!=", "=": "=="}
_RESERVED_LABELS = frozenset({"alertname", "severity", "le", "__name__"})
MAX_DURATION = 30 * 86400.0
MAX_WINDOW = 3600.0

Operator = Literal[">", ">=", "<", "<=", "==", "!="]
Level = Literal["info", "warning", "critical"]


def _operator(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        return _OPERATOR_WORDS.get(stripped.lower(), stripped)
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def resolve_metric(name: str, known: Collection[str]) -> str:
    """The metric a rule's ``metric`` names: itself when known, else the spec's name for a
    short one (``cpu_usage_percent`` → ``system_cpu_usage_percent``), else the known name with
    a ``system_``, ``aicc_`` or ``aicc_connect_`` prefix. The spec's metrics are always known.
    An unknown name is a 422 ``unknown_metric`` whose details list the known ones."""
    everything = set(known) | set(SPEC_METRICS)
    candidate = name.strip()
    if candidate in everything:
        return candidate
    short = SHORT_NAMES.get(candidate.lower())
    if short is not None and short in everything:
        return short
    for prefix in _PREFIXES:
        if prefix + candidate in everything:
            return prefix + candidate
    raise ValidationFailed(
        f"Unknown metric {name!r}",
        code="unknown_metric",
        details={"known": sorted(everything)},
    )


def _default_aggregation(metric: Any) -> Aggregation:
    name = SHORT_NAMES.get(metric, metric) if isinstance(metric, str) else metric
    return "p95" if name in HISTOGRAM_METRICS else "latest"


class AlertRule(BaseModel):
    """One alerting rule: an alert per series (or ``by`` group) whose value compares true
    with ``threshold``, pending until true for ``for_seconds``, then firing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_:.\-]+$")
    metric: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")
    threshold: float = Field(allow_inf_nan=False)
    operator: Annotated[Operator, BeforeValidator(_operator)]
    level: Annotated[Level, BeforeValidator(_lower)]
    for_seconds: float = Field(default=0.0, ge=0, le=MAX_DURATION)
    keep_firing_for_seconds: float = Field(default=0.0, ge=0, le=MAX_DURATION)
    labels: dict[str, str] = Field(default_factory=dict)
    matchers: list[str] = Field(default_factory=list, max_length=20)
    annotations: dict[str, str] = Field(default_factory=dict)
    channels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list
    )
    aggregation: Aggregation | None = None
    window_seconds: float = Field(default=300.0, gt=0, le=MAX_WINDOW)
    by: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_aggregation(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("aggregation") is None:
            return {**data, "aggregation": _default_aggregation(data.get("metric"))}
        return data

    @model_validator(mode="after")
    def _check(self) -> AlertRule:
        for name in [*self.labels, *(self.by or [])]:
            if not LABEL_NAME.match(name) or name in _RESERVED_LABELS:
                raise ValueError(f"{name!r} cannot be used as a label name here")
        if any(not value for value in self.labels.values()):
            raise ValueError("labels need values; match a missing label with matchers: ['x=\"\"']")
        for text in self.matchers:
            Matcher.parse(text)
        for key, text in self.annotations.items():
            if not LABEL_NAME.match(key):
                raise ValueError(f"annotation name {key!r} is not a valid label name")
            templates.validate(text)
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels are listed twice")
        if self.aggregation == "latest" and self.metric in HISTOGRAM_METRICS:
            raise ValueError(
                f"{self.metric} is a histogram: use p50, p90, p95, p99, avg, rate or increase"
            )
        return self

    @cached_property
    def selector(self) -> tuple[Matcher, ...]:
        """The label matchers that pick the rule's series."""
        equal = [Matcher(name, "=", value) for name, value in sorted(self.labels.items())]
        return (*equal, *(Matcher.parse(text) for text in self.matchers))

    @property
    def histogram(self) -> bool:
        return self.aggregation in QUANTILES or self.metric in HISTOGRAM_METRICS

    @cached_property
    def alert_labels(self) -> Labels:
        """Labels every alert of the rule carries besides its series' own, sorted."""
        return labels_of({**self.labels, "severity": self.level, "alertname": self.rule_name})

    def resolved(self, known: Collection[str]) -> AlertRule:
        """The rule with its metric resolved by :func:`resolve_metric` (a 422 when unknown).
        Derive changed rules this way or with ``model_validate``, not ``model_copy(update=)``,
        which skips validation."""
        metric = resolve_metric(self.metric, known)
        if metric == self.metric:
            return self
        return AlertRule.model_validate({**self.model_dump(), "metric": metric})

    def holds(self, value: float) -> bool:
        return _COMPARE[self.operator](value, self.threshold)

    def expr(self) -> str:
        """The PromQL expression Prometheus would alert on for this rule."""
        window = f"[{duration(self.window_seconds)}]"
        name = self.metric
        aggregation = self.aggregation or "latest"
        if aggregation in QUANTILES:
            inner = f"rate({self._vector(name + '_bucket')}{window})"
            if self.by is not None:
                inner = _aggregate("sum", [*self.by, "le"], inner)
            value = f"histogram_quantile({templates.go_float(QUANTILES[aggregation])}, {inner})"
        elif aggregation == "latest":
            value = _aggregate("sum", self.by, self._vector(name))
        elif aggregation == "avg" and self.histogram:
            total = _aggregate("sum", self.by, f"rate({self._vector(name + '_sum')}{window})")
            count = _aggregate("sum", self.by, f"rate({self._vector(name + '_count')}{window})")
            value = f"{total} / {count}"
        elif aggregation == "avg":
            value = _aggregate("avg", self.by, f"avg_over_time({self._vector(name)}{window})")
        else:
            source = name + "_count" if self.histogram else name
            value = _aggregate("sum", self.by, f"{aggregation}({self._vector(source)}{window})")
        return f"{value} {self.operator} {templates.go_float(self.threshold)}"

    def _vector(self, name: str) -> str:
        if not self.selector:
            return name
        return name + "{" + ", ".join(m.promql() for m in self.selector) + "}"

    def to_prometheus(self) -> dict[str, Any]:
        """The rule as an entry of a Prometheus rules-file group."""
        rule: dict[str, Any] = {"alert": self.rule_name, "expr": self.expr()}
        if self.for_seconds:
            rule["for"] = duration(self.for_seconds)
        if self.keep_firing_for_seconds:
            rule["keep_firing_for"] = duration(self.keep_firing_for_seconds)
        rule["labels"] = {**self.labels, "severity": self.level}
        if self.annotations:
            rule["annotations"] = {
                key: templates.for_prometheus(text, threshold=self.threshold)
                for key, text in self.annotations.items()
            }
        return rule


_COMPARE = {
    ">": float.__gt__,
    ">=": float.__ge__,
    "<": float.__lt__,
    "<=": float.__le__,
    "==": float.__eq__,
    "!=": float.__ne__,
}


def _aggregate(function: str, by: Iterable[str] | None, inner: str) -> str:
    if by is None:
        return inner
    names = sorted(set(by))
    return f"{function} by ({', '.join(names)}) ({inner})" if names else f"{function}({inner})"


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: ``5m``, ``1h30m``, ``1s500ms``, ``0s``."""
    remaining = round(seconds * 1000)
    if remaining <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)


def rules_file(
    rules: Iterable[AlertRule], *, group: str = "aicc", interval_seconds: float | None = None
) -> str:
    """The rules as a Prometheus rules file (YAML) that ``promtool check rules`` accepts."""
    body: dict[str, Any] = {"name": group}
    if interval_seconds is not None:
        body["interval"] = duration(interval_seconds)
    body["rules"] = [rule.to_prometheus() for rule in rules]
    text: str = yaml.safe_dump(
        {"groups": [body]}, sort_keys=False, allow_unicode=True, width=100_000
    )
    return text


DEFAULT_RULES: tuple[Mapping[str, Any], ...] = (
    {
        "rule_name": "cpu_usage_high",
        "metric": "system_cpu_usage_percent",
        "threshold": 80,
        "operator": ">",
        "level": "warning",
        "for_seconds": 300,
        "annotations": {
            "summary": "CPU usage above {{ $threshold }}% for 5 minutes",
            "description": 'CPU usage is {{ $value | printf "%.1f" }}% '
            "(threshold {{ $threshold }}%).",
        },
    },
    {
        "rule_name": "memory_usage_high",
        "metric": "system_memory_usage_percent",
        "threshold": 85,
        "operator": ">",
        "level": "warning",
        "for_seconds": 300,
        "annotations": {
            "summary": "Memory usage above {{ $threshold }}% for 5 minutes",
            "description": 'Memory usage is {{ $value | printf "%.1f" }}% '
            "(threshold {{ $threshold }}%).",
        },
    },
    {
        "rule_name": "disk_usage_high",
        "metric": "system_disk_usage_percent",
        "threshold": 90,
        "operator": ">",
        "level": "critical",
        "for_seconds": 60,
        "annotations": {
            "summary": "Disk {{ $labels.path }} above {{ $threshold }}% for 1 minute",
            "description": "The file system holding {{ $labels.path }} is "
            '{{ $value | printf "%.1f" }}% full (threshold {{ $threshold }}%).',
        },
    },
    {
        "rule_name": "api_response_time_high",
        "metric": "aicc_api_duration_seconds",
        "threshold": 5,
        "operator": ">",
        "level": "warning",
        "for_seconds": 180,
        "aggregation": "p95",
        "window_seconds": 300,
        "by": ["service"],
        "annotations": {
            "summary": "API p95 response time above {{ $threshold }} s on {{ $labels.service }}",
            "description": "95% of {{ $labels.service }} requests over the last 5 minutes "
            "took up to {{ $value | humanizeDuration }} (threshold {{ $threshold }} s) "
            "for 3 minutes.",
        },
    },
)
"""The spec's alert rules (CPU > 80 % for 5 min, memory > 85 % for 5 min, disk > 90 % for
1 min, API response time > 5 s for 3 min), as request bodies; none is named
``high_cpu_usage``, the name of the spec's own example."""


def default_rules() -> list[AlertRule]:
    return [AlertRule.model_validate(body) for body in DEFAULT_RULES]
