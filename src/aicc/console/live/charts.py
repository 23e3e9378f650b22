"""Small line charts drawn on the server as SVG coordinates (no script needed to show them;
the event stream replaces them whole)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aicc.console.live.collector import HISTORY

WIDTH = 300
HEIGHT = 64
PAD = 3


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    """Message key."""
    unit: str
    ceiling: float | None = None
    """Fixed top of the scale (percentages); None: scaled to the data."""
    floor_top: float = 1.0
    """The smallest top of a data-scaled chart (a flat zero line stays at the bottom)."""
    connect: bool = False
    """Shown only when Amazon Connect figures exist."""


FIGURES = (
    Figure("rps", "figure.rps", "/s"),
    Figure("error_pct", "figure.error_rate", "%", floor_top=5.0),
    Figure("p95_ms", "figure.p95", "ms", floor_top=10.0),
    Figure("cpu", "figure.cpu", "%", ceiling=100.0),
    Figure("memory", "figure.memory", "%", ceiling=100.0),
    Figure("disk", "figure.disk", "%", ceiling=100.0),
    Figure("in_queue", "figure.in_queue", "", connect=True),
    Figure("agents", "figure.agents", "", connect=True),
)


@dataclass(frozen=True)
class Chart:
    figure: Figure
    value: float | None
    top: float
    lines: list[str]
    """``points`` attributes of the polylines (one per run of values without a gap)."""
    areas: list[str]
    """The same runs closed down to the baseline (a light fill under each line)."""
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def level(self) -> str:
        """``high`` past 90 % of a fixed scale, ``warn`` past 75 %, else ``ok``."""
        if self.figure.ceiling is None or self.value is None:
            return "ok"
        share = self.value / self.figure.ceiling
        return "high" if share >= 0.9 else "warn" if share >= 0.75 else "ok"


def charts(snapshot: dict[str, Any] | None) -> list[Chart]:
    points: list[dict[str, Any]] = (snapshot or {}).get("points", [])
    has_connect = bool((snapshot or {}).get("connect"))
    return [
        chart(figure, [p.get(figure.key) for p in points])
        for figure in FIGURES
        if has_connect or not figure.connect
    ]


def chart(figure: Figure, values: list[float | None]) -> Chart:
    values = values[-HISTORY:]
    present = [v for v in values if v is not None]
    top = figure.ceiling or max([figure.floor_top, *present]) * 1.15
    step = (WIDTH - 2 * PAD) / (HISTORY - 1)
    offset = HISTORY - len(values)  # the newest point at the right edge
    lines: list[str] = []
    run: list[str] = []
    for index, value in enumerate(values):
        if value is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        x = PAD + (offset + index) * step
        share = min(max(value / top, 0.0), 1.0)
        y = HEIGHT - PAD - share * (HEIGHT - 2 * PAD)
        run.append(f"{x:.1f},{y:.1f}")
    if len(run) > 1:
        lines.append(" ".join(run))
    elif len(run) == 1:
        only_x, only_y = run[0].split(",")
        lines.append(f"{float(only_x) - 2:.1f},{only_y} {only_x},{only_y}")
    areas = [_area(line) for line in lines]
    return Chart(
        figure=figure,
        value=present[-1] if present else None,
        top=top,
        lines=lines,
        areas=areas,
    )


def _area(line: str) -> str:
    first_x = line.split(",", 1)[0]
    last_x = line.rsplit(" ", 1)[-1].split(",", 1)[0]
    bottom = f"{HEIGHT - PAD:.1f}"
    return f"{first_x},{bottom} {line} {last_x},{bottom}"
