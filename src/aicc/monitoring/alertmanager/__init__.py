"""Alertmanager's semantics for the monitoring service: matchers, durations, the routing
tree, inhibition, silences, aggregation groups and their notification schedule, and the
merging of pushed alerts. Pure functions over explicit state (times are Unix seconds,
state serializes to plain dicts); the service owns storage, clocks and delivery.

One round at ``now``, as the evaluator or a pushed alert drives it::

    stored[a.fingerprint] = put(stored.get(a.fingerprint), a, now)
    for m in routing.match(a.labels, extra_receivers=rule_channels):
        groups[m.group_id] = update(groups.get(m.group_id) or GroupState.new(m), [a], now)
    is_muted = muter(routing.inhibit_rules, stored.values(), silences, now)
    for gid, g in groups.items():
        if due(g, now):
            notification, groups[gid] = flush(g, now, send_resolved=..., is_muted=is_muted)
            # in one transaction: save groups[gid]; enqueue notification.to_dict()
            # under key notification.idempotency_key
    # drop groups that are disposable(g, now)
"""

from aicc.monitoring.alertmanager.alerts import (
    DEFAULT_RESOLVE_TIMEOUT,
    Alert,
    merge,
    postable_alert,
    postable_alerts,
    put,
)
from aicc.monitoring.alertmanager.durations import format_duration, parse_duration
from aicc.monitoring.alertmanager.groups import (
    GroupState,
    LogEntry,
    disposable,
    due,
    flush,
    needs_update,
    update,
)
from aicc.monitoring.alertmanager.inhibit import Inhibitor, InhibitRule
from aicc.monitoring.alertmanager.labels import fingerprint
from aicc.monitoring.alertmanager.matchers import (
    Matcher,
    MatchType,
    matches_all,
    parse_matcher,
    parse_matchers,
)
from aicc.monitoring.alertmanager.mute import muter
from aicc.monitoring.alertmanager.notification import Notification, NotifiedAlert, NotifyReason
from aicc.monitoring.alertmanager.routes import RouteConfig, RouteMatch
from aicc.monitoring.alertmanager.routing import RoutingConfig
from aicc.monitoring.alertmanager.silences import (
    Silence,
    SilenceSpec,
    SilenceState,
    expire_silence,
    is_muted,
    matches_filter,
    parse_silence,
    save_silence,
    silenced_by,
    sort_silences,
)
from aicc.monitoring.alertmanager.times import ZERO_TIME, format_time, parse_time

__all__ = [
    "DEFAULT_RESOLVE_TIMEOUT",
    "ZERO_TIME",
    "Alert",
    "GroupState",
    "InhibitRule",
    "Inhibitor",
    "LogEntry",
    "MatchType",
    "Matcher",
    "Notification",
    "NotifiedAlert",
    "NotifyReason",
    "RouteConfig",
    "RouteMatch",
    "RoutingConfig",
    "Silence",
    "SilenceSpec",
    "SilenceState",
    "disposable",
    "due",
    "expire_silence",
    "fingerprint",
    "flush",
    "format_duration",
    "format_time",
    "is_muted",
    "matches_all",
    "matches_filter",
    "merge",
    "muter",
    "needs_update",
    "parse_duration",
    "parse_matcher",
    "parse_matchers",
    "parse_silence",
    "parse_time",
    "postable_alert",
    "postable_alerts",
    "put",
    "save_silence",
    "silenced_by",
    "sort_silences",
    "update",
]
