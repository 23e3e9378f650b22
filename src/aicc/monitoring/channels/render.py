"""Human-readable text of a notification: plain text (SNS, SES), HTML (SES) and a short line
(SMS), firing alerts first, each with its name, severity, times, summary, description, other
annotations, labels and source link."""

from __future__ import annotations

import html
from datetime import datetime

from aicc.monitoring.channels.notification import AlertItem, Notification, subject, utc

SHOWN_ALERTS = 50
"""Alerts spelled out in one message; the rest are counted."""
_HIDDEN_LABELS = frozenset({"alertname", "severity"})
_PROSE = ("summary", "description")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def clock(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def ordered(notification: Notification) -> list[AlertItem]:
    return notification.firing + notification.resolved


def hidden_count(notification: Notification, shown: int) -> int:
    return max(0, len(notification.alerts) - shown) + notification.truncated_alerts


def when(alert: AlertItem) -> str:
    if alert.status == "resolved" and alert.ends_at is not None:
        return f"resolved {clock(alert.ends_at)} (started {clock(alert.starts_at)})"
    return f"since {clock(alert.starts_at)}"


def title(alert: AlertItem) -> str:
    name = alert.name or "alert"
    severity = alert.labels.get("severity")
    return f"{name} [{severity}]" if severity else name


def label_text(alert: AlertItem) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _HIDDEN_LABELS)


def other_annotations(alert: AlertItem) -> list[tuple[str, str]]:
    return [(k, v) for k, v in sorted(alert.annotations.items()) if k not in _PROSE]


def text_body(notification: Notification) -> str:
    lines = [subject(notification), ""]
    alerts = ordered(notification)[:SHOWN_ALERTS]
    for status in ("firing", "resolved"):
        group = [a for a in alerts if a.status == status]
        if not group:
            continue
        lines.append(f"{status.capitalize()}:")
        for alert in group:
            lines.append(f"- {title(alert)}, {when(alert)}")
            for key in _PROSE:
                if alert.annotations.get(key):
                    lines.append(f"  {key.capitalize()}: {alert.annotations[key]}")
            lines += [f"  {k}: {v}" for k, v in other_annotations(alert)]
            if labels := label_text(alert):
                lines.append(f"  Labels: {labels}")
            if alert.generator_url:
                lines.append(f"  Source: {alert.generator_url}")
        lines.append("")
    if more := hidden_count(notification, len(alerts)):
        lines += [f"... and {more} more alerts", ""]
    if notification.external_url:
        lines.append(f"Alerts: {notification.external_url}")
    return "\n".join(lines).rstrip() + "\n"


def html_body(notification: Notification) -> str:
    e = html.escape
    firing = notification.status == "firing"
    colour = "#d72b3f" if firing else "#2eb67d"
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family:sans-serif;font-size:14px">',
        f'<h2 style="color:{colour}">{e(subject(notification))}</h2>',
    ]
    alerts = ordered(notification)[:SHOWN_ALERTS]
    for alert in alerts:
        state = "#d72b3f" if alert.status == "firing" else "#2eb67d"
        parts.append(f'<div style="border-left:4px solid {state};padding:4px 10px;margin:8px 0">')
        parts.append(f"<strong>{e(title(alert))}</strong> &middot; {e(when(alert))}")
        for key in _PROSE:
            if alert.annotations.get(key):
                parts.append(f"<p>{e(alert.annotations[key])}</p>")
        rows = [*other_annotations(alert), *sorted(alert.labels.items())]
        if rows:
            parts.append('<table style="font-size:12px;color:#555">')
            parts += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows]
            parts.append("</table>")
        if alert.generator_url:
            parts.append(f'<a href="{e(alert.generator_url)}">Source</a>')
        parts.append("</div>")
    if more := hidden_count(notification, len(alerts)):
        parts.append(f"<p>... and {more} more alerts</p>")
    if notification.external_url:
        parts.append(f'<p><a href="{e(notification.external_url)}">View alerts</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def short_text(notification: Notification, limit: int) -> str:
    """One line for SMS: the subject and the first alert's summary."""
    text = subject(notification)
    first = ordered(notification)[:1]
    if first and (summary := first[0].annotations.get("summary")):
        text += f": {summary}"
    return truncate(" ".join(text.split()), limit)
