"""Alert rules: stored in the database, the spec's four defaults installed on first start,
evaluated every ``AICC_ALERT_EVAL_INTERVAL`` by one evaluator per deployment (a periodic task
run in the leading replica's own process, where its sample history lives: it scrapes the
watched services, then runs Prometheus' state machine), with each rule's
state persisted so a restart neither re-fires nor forgets a firing alert."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import generate_latest
from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import Conflict, NotFound, ValidationFailed
from aicc.core.jobs import JobContext, PeriodicTask
from aicc.monitoring import models
from aicc.monitoring.alerting import (
    AlertRule,
    RuleState,
    SampleStore,
    active_alerts,
    default_rules,
    evaluate,
    rules_file,
)
from aicc.monitoring.alertmanager import postable_alerts
from aicc.monitoring.base import MonitoringBase

DEFAULTS_KEY = "default_rules_installed"
EVALUATE_KIND = "monitoring.evaluate"
METRIC_NAMES_KEY = "monitoring:metric-names"
WAKE_MARGIN = 0.05
"""An extra evaluation runs this long after a pending alert's ``for`` period ends."""


def _now() -> datetime:
    return datetime.now(UTC)


def parse_rule(body: Any) -> AlertRule:
    """A rule from a request body or dict; a 422 naming each bad field."""
    if isinstance(body, AlertRule):
        return body
    try:
        return AlertRule.model_validate(body)
    except ValidationError as exc:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        raise ValidationFailed("Invalid alert rule", details=details) from None


class RulesMixin(MonitoringBase):
    """Rules, and the evaluator that scrapes the watched services itself (every
    ``AICC_MONITORING_SCRAPE_INTERVAL``) so the samples it evaluates are in its own process."""

    _store: SampleStore | None = None
    _scraped_at = float("-inf")
    _evaluating: asyncio.Lock | None = None

    @property
    def samples(self) -> SampleStore:
        """This process's recent samples (the evaluator's replica holds the history)."""
        if self._store is None:
            self._store = SampleStore()
        return self._store

    async def on_start(self) -> None:
        await super().on_start()
        await self._install_defaults()

    def on_scraped(self, service: str, text: str) -> None:
        super().on_scraped(service, text)
        self.samples.ingest(text, time.time(), {"service": service})

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        every = self.settings.monitoring.eval_interval
        evaluate_task = PeriodicTask(
            EVALUATE_KIND, every=every, run=self._evaluate_job, in_leader=True
        )
        inherited = [t for t in super().periodic_tasks() if t.name != "monitoring.scrape"]
        return [*inherited, evaluate_task]

    async def _evaluate_job(self, _: JobContext) -> None:
        await self.evaluate_rules()

    async def known_metrics(self) -> set[str]:
        """Metric names rules may use: the spec's, and every one scraped so far, by this
        process or by the evaluator's replica (which shares the names through the cache)."""
        raw = await self.resources.cache.get(METRIC_NAMES_KEY)
        shared: list[str] = orjson.loads(raw) if raw else []
        return self.samples.metric_names() | set(shared)

    async def _share_metric_names(self) -> None:
        names = orjson.dumps(sorted(self.samples.metric_names()))
        ttl = max(600.0, 10 * self.settings.monitoring.scrape_interval)
        await self.resources.cache.set(METRIC_NAMES_KEY, names, ttl=ttl)

    async def _install_defaults(self) -> None:
        """The spec's default rules, once per deployment (an operator may change or remove
        them afterwards; they are not put back)."""
        database = self.resources.database
        async with database.locked_transaction("monitoring:default-rules") as conn:
            found = await conn.execute(
                select(models.setting.c.key).where(models.setting.c.key == DEFAULTS_KEY)
            )
            if found.first() is not None:
                return
            at = _now()
            for rule in default_rules():
                await _upsert_rule(conn, rule, builtin=True, at=at)
            await conn.execute(
                insert(models.setting).values(key=DEFAULTS_KEY, value=True, updated_at=at)
            )

    async def create_rule(self, body: Any) -> dict[str, Any]:
        rule = parse_rule(body).resolved(await self.known_metrics())
        async with self.resources.database.transaction() as conn:
            if await _load_rule(conn, rule.rule_name) is not None:
                raise Conflict(f"rule {rule.rule_name!r} exists", code="rule_exists")
            await _upsert_rule(conn, rule, builtin=False, at=_now())
        return rule.model_dump()

    async def replace_rule(self, name: str, body: Any) -> dict[str, Any]:
        """Replace a rule; its alerts carry on (an alert the new condition no longer holds
        resolves at the next evaluation, and is notified as resolved)."""
        data = dict(body) if isinstance(body, dict) else parse_rule(body).model_dump()
        data.setdefault("rule_name", name)
        rule = parse_rule(data).resolved(await self.known_metrics())
        if rule.rule_name != name:
            raise ValidationFailed("rule_name cannot change", code="rule_name_mismatch")
        async with self.resources.database.transaction() as conn:
            if await _load_rule(conn, name) is None:
                raise NotFound(f"no rule {name!r}", code="rule_not_found")
            await _upsert_rule(conn, rule, builtin=False, at=_now())
        return rule.model_dump()

    async def delete_rule(self, name: str) -> None:
        async with self.resources.database.transaction() as conn:
            result = await conn.execute(delete(models.rule).where(models.rule.c.name == name))
            if not result.rowcount:
                raise NotFound(f"no rule {name!r}", code="rule_not_found")
            await conn.execute(
                delete(models.rule_state).where(models.rule_state.c.rule_name == name)
            )

    async def get_rule(self, name: str) -> dict[str, Any]:
        async with self.resources.database.connect() as conn:
            rule = await _load_rule(conn, name)
        if rule is None:
            raise NotFound(f"no rule {name!r}", code="rule_not_found")
        return rule.model_dump()

    async def list_rules(self) -> list[AlertRule]:
        async with self.resources.database.connect() as conn:
            rows = await conn.execute(select(models.rule.c.definition).order_by(models.rule.c.name))
            return [AlertRule.model_validate(row[0]) for row in rows]

    async def export_rules(self) -> str:
        """The rules as a Prometheus rules file (``promtool check rules`` accepts it)."""
        return rules_file(await self.list_rules())

    async def evaluate_rules(self, now: float | None = None) -> dict[str, Any]:
        """One evaluation cycle: scrape, evaluate every rule, persist states and history,
        hand firing and resolved alerts to notification. Returns a summary.

        Cycles in one process run one at a time (the periodic run and a direct call must not
        both read the stored states and then each write their own)."""
        if self._evaluating is None:
            self._evaluating = asyncio.Lock()
        async with self._evaluating:
            return await self._evaluate_once(now)

    async def _evaluate_once(self, now: float | None) -> dict[str, Any]:
        interval = self.settings.monitoring.eval_interval
        at = time.time() if now is None else now
        if time.monotonic() - self._scraped_at >= self.settings.monitoring.scrape_interval:
            self._scraped_at = time.monotonic()
            for status in await self.scrape():
                if not status.up:
                    self.samples.target_down({"service": status.name}, at)
            await self._share_metric_names()
        own = generate_latest(self.metrics.registry).decode()
        self.samples.ingest(own, at, {"service": "monitoring"})
        rules = await self.list_rules()
        database = self.resources.database
        async with database.connect() as conn:
            rows = await conn.execute(select(models.rule_state))
            states = {r.rule_name: RuleState.from_dict(r.state) for r in rows}
        coverage = 2 * self.settings.monitoring.scrape_interval
        outgoing: list[dict[str, Any]] = []
        receivers: dict[str, list[str]] = {}
        history: list[dict[str, Any]] = []
        new_states: dict[str, dict[str, Any]] = {}
        for rule in rules:
            state = states.get(rule.rule_name)
            result = evaluate(
                rule,
                self.samples,
                state,
                at,
                interval=interval,
                min_coverage=coverage if _carried(state, self.samples) else 0.0,
            )
            new_states[rule.rule_name] = result.state.to_dict()
            for sent in result.to_send:
                outgoing.append(sent.to_alertmanager())
                if rule.channels:
                    receivers[sent.fingerprint] = list(rule.channels)
            history.extend(
                {
                    "rule_name": t.rule_name,
                    "fingerprint": t.fingerprint,
                    "level": rule.level,
                    "labels": t.labels,
                    "from_state": t.from_state,
                    "to_state": t.to_state,
                    "value": t.value if t.value == t.value else None,
                    "at": datetime.fromtimestamp(t.at, UTC),
                }
                for t in result.transitions
            )
        wake = _next_for_end(rules, new_states, at, interval)
        async with database.transaction() as conn:
            await _save_states(conn, new_states)
            if history:
                await conn.execute(insert(models.history), history)
        if wake is not None and self._worker is not None:
            self._worker.scheduler.wake(EVALUATE_KIND, wake + WAKE_MARGIN)
        if outgoing:
            alerts, _ = postable_alerts(outgoing, at)
            await self.dispatch_alerts(alerts, receivers)
        return {"rules": len(rules), "sent": len(outgoing), "transitions": len(history)}

    async def current_alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts of every rule, as last evaluated."""
        async with self.resources.database.connect() as conn:
            rows = await conn.execute(select(models.rule_state))
            states = [RuleState.from_dict(r.state) for r in rows]
        found = [a.to_dict() for state in states for a in active_alerts(state)]
        return sorted(found, key=lambda a: (a["rule_name"], a["fingerprint"]))

    async def alert_history(
        self,
        *,
        rule_name: str | None = None,
        level: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """State changes, newest first; ``state``: only changes to that state."""
        t = models.history
        query = select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        if rule_name:
            query = query.where(t.c.rule_name == rule_name)
        if level:
            query = query.where(t.c.level == level.lower())
        if state:
            query = query.where(t.c.to_state == state)
        if since:
            query = query.where(t.c.at >= since)
        if until:
            query = query.where(t.c.at < until)
        async with self.resources.database.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "rule_name": r.rule_name,
                "fingerprint": r.fingerprint,
                "level": r.level,
                "labels": r.labels,
                "from": r.from_state,
                "to": r.to_state,
                "value": r.value,
                "at": r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
            }
            for r in rows
        ]


def _next_for_end(
    rules: list[AlertRule], states: dict[str, dict[str, Any]], at: float, interval: float
) -> float | None:
    """When the first pending alert's ``for`` period ends before the next regular
    evaluation: an extra evaluation then fires it on time instead of up to one interval
    late (Prometheus waits for its next evaluation)."""
    ends = [
        alert.active_at + rule.for_seconds
        for rule in rules
        if rule.rule_name in states
        for alert in RuleState.from_dict(states[rule.rule_name]).alerts.values()
        if alert.state == "pending"
    ]
    upcoming = [end for end in ends if at < end < at + interval]
    return min(upcoming) if upcoming else None


def _carried(state: RuleState | None, store: SampleStore) -> bool:
    """A firing alert that fired before this process had samples (a restart, another
    replica's evaluation): wait for enough samples before deciding it has ended."""
    began = store.first_write_at
    return (
        state is not None
        and began is not None
        and any(
            a.state == "firing" and a.fired_at is not None and a.fired_at < began
            for a in state.alerts.values()
        )
    )


async def _load_rule(conn: AsyncConnection, name: str) -> AlertRule | None:
    found = await conn.execute(select(models.rule.c.definition).where(models.rule.c.name == name))
    row = found.first()
    return AlertRule.model_validate(row[0]) if row is not None else None


async def _upsert_rule(
    conn: AsyncConnection, rule: AlertRule, *, builtin: bool, at: datetime
) -> None:
    definition = rule.model_dump(mode="json")
    exists = await conn.execute(
        select(models.rule.c.name).where(models.rule.c.name == rule.rule_name)
    )
    if exists.first() is None:
        await conn.execute(
            insert(models.rule).values(
                name=rule.rule_name,
                definition=definition,
                builtin=builtin,
                version=1,
                created_at=at,
                updated_at=at,
            )
        )
        return
    await conn.execute(
        update(models.rule)
        .where(models.rule.c.name == rule.rule_name)
        .values(
            definition=definition,
            builtin=builtin,
            version=models.rule.c.version + 1,
            updated_at=at,
        )
    )


async def _save_states(conn: AsyncConnection, states: dict[str, dict[str, Any]]) -> None:
    if not states:
        return
    at = _now()
    rows = [{"rule_name": name, "state": state, "updated_at": at} for name, state in states.items()]
    postgres = conn.dialect.name == "postgresql"
    statement = (
        postgresql.insert(models.rule_state) if postgres else sqlite.insert(models.rule_state)
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["rule_name"],
            set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
        ),
        rows,
    )
