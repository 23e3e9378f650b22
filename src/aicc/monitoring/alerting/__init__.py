"""The alert-rule engine: recent samples in memory, rules, Prometheus' alert state machine and
the rules-file export. Driven entirely by its callers: no loops, timers or storage of its own.
"""

from aicc.monitoring.alerting.evaluator import (
    RESOLVED_RETENTION,
    Evaluation,
    active_alerts,
    evaluate,
)
from aicc.monitoring.alerting.labels import Labels, Matcher, fingerprint
from aicc.monitoring.alerting.rules import (
    DEFAULT_RULES,
    HISTOGRAM_METRICS,
    SHORT_NAMES,
    SPEC_METRICS,
    AlertRule,
    default_rules,
    duration,
    resolve_metric,
    rules_file,
)
from aicc.monitoring.alerting.samples import QUANTILES, Aggregation, SampleStore
from aicc.monitoring.alerting.state import (
    ActiveAlert,
    AlertInstance,
    OutgoingAlert,
    RuleState,
    Transition,
    iso,
)

__all__ = [
    "DEFAULT_RULES",
    "HISTOGRAM_METRICS",
    "QUANTILES",
    "RESOLVED_RETENTION",
    "SHORT_NAMES",
    "SPEC_METRICS",
    "ActiveAlert",
    "Aggregation",
    "AlertInstance",
    "AlertRule",
    "Evaluation",
    "Labels",
    "Matcher",
    "OutgoingAlert",
    "RuleState",
    "SampleStore",
    "Transition",
    "active_alerts",
    "default_rules",
    "duration",
    "evaluate",
    "fingerprint",
    "iso",
    "resolve_metric",
    "rules_file",
]
