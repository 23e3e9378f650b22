"""Whether an alert is muted at one instant: inhibited, or matched by an active silence
(Alertmanager's two mute stages, which run before deduplication)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aicc.monitoring.alertmanager.alerts import Alert
from aicc.monitoring.alertmanager.inhibit import Inhibitor, InhibitRule
from aicc.monitoring.alertmanager.labels import Labels
from aicc.monitoring.alertmanager.silences import Silence, SilenceState


def muter(
    inhibit_rules: Iterable[InhibitRule],
    alerts: Iterable[Alert],
    silences: Iterable[Silence],
    now: float,
) -> Callable[[Labels], bool]:
    """A predicate for ``groups.flush(is_muted=...)``. ``alerts`` are all alerts known at
    ``now`` (the inhibition sources); build it once per flush round."""
    inhibitor = Inhibitor(inhibit_rules, alerts, now)
    active = [s for s in silences if s.state(now) is SilenceState.ACTIVE]

    def is_muted(labels: Labels) -> bool:
        return inhibitor.mutes(labels) or any(s.matches(labels) for s in active)

    return is_muted
