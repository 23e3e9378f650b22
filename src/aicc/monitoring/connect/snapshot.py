"""What one poll of Amazon Connect saw: the queue × channel metrics and the agents' states.

A :class:`Snapshot` is plain data; :meth:`Snapshot.to_dict` gives the JSON of
``GET /connect/metrics`` (and what a deployment stores or caches so every replica serves the
same snapshot), :meth:`Snapshot.from_dict` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ConnectMetric:
    """One ``GetCurrentMetricData`` metric and the gauge it becomes."""

    name: str
    """Connect's name (``CurrentMetricName``)."""
    unit: str
    """What Connect is asked for: ``COUNT`` or ``SECONDS``."""
    gauge: str
    help: str
    fill: float | None
    """The value of a polled queue × channel for which Connect returned no row (Connect
    answers only where there is data; nothing happening is 0), or None to leave it absent."""


METRICS: tuple[ConnectMetric, ...] = (
    ConnectMetric(
        "AGENTS_ONLINE", "COUNT", "aicc_connect_agents_online",
        "Agents logged in and in a status other than Offline", 0.0,
    ),
    ConnectMetric(
        "AGENTS_AVAILABLE", "COUNT", "aicc_connect_agents_available",
        "Agents in the Available status, able to take a contact", 0.0,
    ),
    ConnectMetric(
        "AGENTS_ON_CONTACT", "COUNT", "aicc_connect_agents_on_contact",
        "Agents handling a contact", 0.0,
    ),
    ConnectMetric(
        "AGENTS_AFTER_CONTACT_WORK", "COUNT", "aicc_connect_agents_after_contact_work",
        "Agents in after-contact work", 0.0,
    ),
    ConnectMetric(
        "AGENTS_NON_PRODUCTIVE", "COUNT", "aicc_connect_agents_non_productive",
        "Agents in a custom (non-productive) status", 0.0,
    ),
    ConnectMetric(
        "AGENTS_ERROR", "COUNT", "aicc_connect_agents_error",
        "Agents in the Error state", 0.0,
    ),
    ConnectMetric(
        "AGENTS_STAFFED", "COUNT", "aicc_connect_agents_staffed",
        "Agents logged in and Available, on contact or in after-contact work", 0.0,
    ),
    ConnectMetric(
        "CONTACTS_IN_QUEUE", "COUNT", "aicc_connect_contacts_in_queue",
        "Contacts waiting in the queue", 0.0,
    ),
    ConnectMetric(
        "CONTACTS_SCHEDULED", "COUNT", "aicc_connect_contacts_scheduled",
        "Contacts scheduled for a callback", 0.0,
    ),
    ConnectMetric(
        "OLDEST_CONTACT_AGE", "SECONDS", "aicc_connect_oldest_contact_age_seconds",
        "Age of the contact that has waited longest in the queue", 0.0,
    ),
    ConnectMetric(
        "SLOTS_ACTIVE", "COUNT", "aicc_connect_slots_active",
        "Agent slots in use (an agent has one slot per concurrent contact allowed)", 0.0,
    ),
    ConnectMetric(
        "SLOTS_AVAILABLE", "COUNT", "aicc_connect_slots_available",
        "Agent slots free to take a contact", 0.0,
    ),
    ConnectMetric(
        "ESTIMATED_WAIT_TIME", "SECONDS", "aicc_connect_estimated_wait_time_seconds",
        "Connect's estimate of how long a new contact would wait", None,
    ),
)  # fmt: skip
METRICS_BY_NAME: Mapping[str, ConnectMetric] = {m.name: m for m in METRICS}

CHANNELS = frozenset({"VOICE", "CHAT", "TASK", "EMAIL"})

AVAILABLE = "Available"
INCOMING = "Incoming"
ON_CONTACT = "On contact"
AFTER_CONTACT_WORK = "After contact work"
MISSED = "Missed"
REJECTED = "Rejected"
ERROR = "Error"
ACTIVITIES = (AVAILABLE, INCOMING, ON_CONTACT, AFTER_CONTACT_WORK, MISSED, REJECTED, ERROR)
"""The activities always reported (0 when no agent is in them); an agent's own custom status
(Break, Lunch, ...) is reported under its name when some agent is in it."""

_CONTACT_ACTIVITY = (
    ({"CONNECTED", "CONNECTED_ONHOLD"}, ON_CONTACT),
    ({"INCOMING", "PENDING", "CONNECTING"}, INCOMING),
    ({"ENDED"}, AFTER_CONTACT_WORK),
    ({"MISSED"}, MISSED),
    ({"REJECTED"}, REJECTED),
    ({"ERROR"}, ERROR),
)


def agent_activity(user: Mapping[str, Any]) -> str:
    """An agent's activity, as Connect's real-time report names it, from one
    ``GetCurrentUserData`` entry.

    The contacts decide first, in this order: any connected (or on hold) contact is
    "On contact"; else one ringing is "Incoming"; else one ended is "After contact work"
    (Connect keeps an ended contact on the agent until after-contact work is done); else a
    missed one is "Missed", a rejected one "Rejected", a failed one "Error". An agent with no
    contact is in its chosen status: "Available" or a custom status by name.
    """
    states = {c.get("AgentContactState") for c in user.get("Contacts") or ()}
    for wanted, activity in _CONTACT_ACTIVITY:
        if states & wanted:
            return activity
    name = (user.get("Status") or {}).get("StatusName")
    return str(name) if name else "Unknown"


@dataclass(frozen=True, slots=True)
class QueueInfo:
    id: str
    arn: str
    name: str


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True)
class Snapshot:
    """One poll's result.

    ``values`` maps (queue id, channel) to Connect metric name to value (seconds for the
    ``SECONDS`` metrics; None where Connect could not compute one). ``agent_states`` maps a
    queue id to activity to agents able to take that queue's contacts (an agent counts in
    every queue of its routing profile, as Connect's per-queue agent metrics do);
    ``instance_agent_states`` counts each agent once.
    """

    instance_id: str
    taken_at: float
    channels: tuple[str, ...]
    metrics: tuple[str, ...]
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    values: dict[tuple[str, str], dict[str, float | None]] = field(default_factory=dict)
    agent_states: dict[str, dict[str, int]] | None = None
    instance_agent_states: dict[str, int] | None = None
    data_snapshot_time: float | None = None
    """Connect's own time of the metric data (``DataSnapshotTime``), the latest seen."""
    truncated: bool = False
    """The instance has more STANDARD queues than the poller's ``max_queues``."""
    calls: int = 0
    throttled: int = 0
    duration_seconds: float = 0.0

    def value(self, queue_id: str, channel: str, metric: str) -> float | None:
        return self.values.get((queue_id, channel), {}).get(metric)

    def to_dict(self) -> dict[str, Any]:
        queues = []
        for queue in self.queues.values():
            entry: dict[str, Any] = {
                "id": queue.id,
                "arn": queue.arn,
                "name": queue.name,
                "channels": {
                    channel: dict(self.values.get((queue.id, channel), {}))
                    for channel in self.channels
                },
            }
            if self.agent_states is not None:
                entry["agent_states"] = dict(self.agent_states.get(queue.id, {}))
            queues.append(entry)
        return {
            "instance_id": self.instance_id,
            "taken_at": _iso(self.taken_at),
            "data_snapshot_time": _iso(self.data_snapshot_time),
            "channels": list(self.channels),
            "metrics": list(self.metrics),
            "queues": queues,
            "agent_states": (
                None if self.instance_agent_states is None else dict(self.instance_agent_states)
            ),
            "truncated": self.truncated,
            "poll": {
                "calls": self.calls,
                "throttled": self.throttled,
                "duration_seconds": round(self.duration_seconds, 6),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        taken_at = _epoch(data["taken_at"])
        assert taken_at is not None
        channels = tuple(data["channels"])
        queues: dict[str, QueueInfo] = {}
        values: dict[tuple[str, str], dict[str, float | None]] = {}
        instance_states = data.get("agent_states")
        states: dict[str, dict[str, int]] | None = None if instance_states is None else {}
        for entry in data["queues"]:
            queue = QueueInfo(entry["id"], entry["arn"], entry["name"])
            queues[queue.id] = queue
            for channel, found in entry["channels"].items():
                if found:
                    values[(queue.id, channel)] = dict(found)
            if states is not None:
                states[queue.id] = dict(entry.get("agent_states") or {})
        poll = data.get("poll") or {}
        return cls(
            instance_id=data["instance_id"],
            taken_at=taken_at,
            channels=channels,
            metrics=tuple(data["metrics"]),
            queues=queues,
            values=values,
            agent_states=states,
            instance_agent_states=None if instance_states is None else dict(instance_states),
            data_snapshot_time=_epoch(data.get("data_snapshot_time")),
            truncated=bool(data.get("truncated", False)),
            calls=int(poll.get("calls", 0)),
            throttled=int(poll.get("throttled", 0)),
            duration_seconds=float(poll.get("duration_seconds", 0.0)),
        )
