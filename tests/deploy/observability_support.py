"""What test_observability.py drives: the live stack with its stand-ins, a little real
traffic through every service, the real Prometheus on a config rendered from the committed
one, and reading the Grafana dashboard's queries as Grafana would send them."""

from __future__ import annotations

import calendar
import io
import os
import re
import secrets
import signal
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml

from tests.backends import free_port
from tests.deploy.live_stack import (
    SERVICES,
    LiveStack,
    StandIns,
    connect_env,
    contact_center,
    free_ports,
    start_stack,
)
from tests.deploy.tools import ROOT, system_tool
from tests.integration.fakes.rest import FakeRest
from tests.monitoring.connect.fakes import FakeConnect

PACK = ROOT / "deploy" / "observability"
PROMETHEUS_YML = PACK / "prometheus" / "prometheus.yml"
RULES = PACK / "prometheus" / "rules"
PROMTOOL_TESTS = PACK / "prometheus" / "tests"
DASHBOARD = PACK / "grafana" / "dashboards" / "aicc-overview.json"

GRAFANA = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
"""What Grafana puts in for a 5-minute view with the provisioned data source (timeInterval
15s): ``$__interval`` is at least the scrape interval, ``$__rate_interval`` four of them."""
ALL = ".*"
CHUNK = 8000
"""Half a second of 8 kHz 16-bit mono audio."""
PROTECTED = {
    "monitoring": "/alerts",
    "recording": "/recordings",
    "integration": "/integrations",
    "auth": "/auth/me",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf"}


@dataclass
class Observed:
    stack: LiveStack
    prometheus: str
    config: Path
    token_file: Path
    metrics_token: str
    admin_token: str
    rounds: int
    live_bytes: int
    import_bytes: int


def wait_for(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = 20,
    failures: list[str] | None = None,
) -> None:
    """Poll ``check`` until it holds; ``failures`` says what was still wrong at the end."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while not check():
        if time.monotonic() > deadline:
            detail = "\n".join(failures or [])
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def exported_part(path: Path) -> str:
    """A rules file without the comment lines that head it."""
    lines = path.read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']} / {target['refId']}", target["expr"]


def substitute(expr: str, *, service: str | None = None) -> str:
    """The query Grafana sends: its interval variables, All (or one service) elsewhere."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in GRAFANA:
            return GRAFANA[name]
        if name == "service" and service is not None:
            return service
        if name in ("service", "queue", "channel"):
            return ALL
        raise AssertionError(f"unknown variable ${name} in {expr}")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label_values(...) included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"label_values\(([^,()]+),[^)]*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match[0].lower() in KEYWORDS:
            continue
        names.add(match[0])
    return names


def render_config(ports: dict[str, int], token_file: Path, interval: str) -> dict[str, Any]:
    """The committed prometheus.yml pointed at a stack on ``ports``: the token file, the rules
    by absolute path and a short interval. Relabelling and auth stay as committed."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    config["rule_files"] = [str(RULES / Path(pattern).name) for pattern in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {f"aicc-{name}" for name in SERVICES}
    for name in SERVICES:
        job = jobs[f"aicc-{name}"]
        (group,) = job["static_configs"]
        assert group["targets"] == [f"{name}:{8000 + SERVICES.index(name)}"]
        group["targets"] = [f"127.0.0.1:{ports[name]}"]
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token_file)
    assert "authorization" in jobs["aicc-monitoring"]
    return config


@contextmanager
def run_prometheus(config: Path, folder: Path) -> Iterator[str]:
    binary = system_tool("prometheus", "prometheus")
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (folder / "prometheus.log").read_text()
        try:
            return httpx2.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    try:
        wait_for(ready, "Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wav_file(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(os.urandom(int(seconds * 8000) * 2))
    return buffer.getvalue()


def traffic(stack: LiveStack, admin: str, audio: bytes) -> None:
    """One round of what a contact center does: sign-ins (one refused), calls without a
    token, a live recording in two chunks (the first sent twice) then stopped, an imported
    file, integration messages (SYNC delivered, SYNC refused by the provider, ASYNC), and
    reads of the monitoring service's rules and Connect figures."""
    headers = stack.bearer(admin)
    with httpx2.Client(timeout=30) as http:
        stack.login()
        refused = http.post(
            stack.url("auth") + "/auth/login",
            json={"username": stack.admin_user, "password": "not-the-password"},
        )
        assert refused.status_code == 401, refused.text
        for service, path in PROTECTED.items():
            assert http.get(stack.url(service) + path).status_code == 401
        recordings = stack.url("recording") + "/recordings"
        who = {"session_id": "s-1", "agent_id": "agent001", "customer_id": "c-1"}
        started = http.post(
            f"{recordings}/voice/start", json={**who, "format": "wav"}, headers=headers
        )
        assert started.status_code == 201, started.text
        voice = f"{recordings}/voice/{started.json()['recording_id']}"
        for offset in (0, 0, CHUNK):
            sent = http.post(
                f"{voice}/audio",
                params={"offset": offset},
                content=audio[offset : offset + CHUNK],
                headers=headers,
            )
            assert sent.status_code == 200, sent.text
        stopped = http.post(f"{voice}/stop", headers=headers)
        assert stopped.json()["status"] == "completed", stopped.text
        imported = http.post(
            f"{recordings}/import", params=who, content=wav_file(), headers=headers
        )
        assert imported.status_code == 201 and imported.json()["status"] == "completed"
        messages = stack.url("integration") + "/integrations/observed/messages"
        order = {"method": "request", "http_method": "POST", "path": "/api/orders", "json": {}}
        ok = http.post(messages, json={"message_type": "SYNC", "payload": order}, headers=headers)
        assert ok.status_code == 200, ok.text
        lost = {**order, "path": "/nowhere"}
        failed = http.post(
            messages, json={"message_type": "SYNC", "payload": lost}, headers=headers
        )
        assert failed.status_code == 502, failed.text
        later = http.post(
            messages, json={"message_type": "ASYNC", "payload": order}, headers=headers
        )
        assert later.status_code == 202, later.text
        monitoring = stack.url("monitoring")
        assert http.get(f"{monitoring}/alerts/rules/export", headers=headers).status_code == 200
        connect = http.get(f"{monitoring}/connect/metrics", headers=headers)
        assert connect.status_code == 200, connect.text


def register_integration(stack: LiveStack, admin: str, url: str) -> None:
    body = {
        "integration_id": "observed",
        "name": "Observed REST",
        "type": "custom",
        "endpoint_url": url,
        "provider": "rest",
        "auth_type": "none",
        "auth_config": {},
    }
    created = httpx2.post(
        stack.url("integration") + "/integrations",
        json=body,
        headers=stack.bearer(admin),
        timeout=10,
    )
    assert created.status_code == 201, created.text


def scraped_since(prometheus: str, moment: float) -> bool:
    """Every target scraped successfully after ``moment`` (epoch seconds)."""
    targets = httpx2.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
    active = targets["activeTargets"]
    if len(active) != len(SERVICES):
        return False
    for target in active:
        last = target["lastScrape"]
        if target["health"] != "up" or last.startswith("0001"):
            return False
        stamp = calendar.timegm(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S"))
        if stamp < moment:
            return False
    return True


@contextmanager
def observed_stack(folder: Path) -> Iterator[Observed]:
    """The stack after two rounds of traffic, Prometheus having scraped between them (so
    counters and histograms that first appear in round one have increased by round two)."""
    with ExitStack() as cleanup:
        connect, rest = FakeConnect(), FakeRest()
        contact_center(connect)
        stand_ins = StandIns(connect, rest)
        cleanup.callback(stand_ins.close)
        connect_url, rest_url = stand_ins.urls
        metrics_token = secrets.token_urlsafe(24)
        token_file = folder / "metrics-token"
        token_file.write_text(metrics_token)
        token_file.chmod(0o600)
        ports = free_ports()
        config = folder / "prometheus.yml"
        rendered = render_config(ports, token_file, "1s")
        config.write_text(yaml.safe_dump(rendered, sort_keys=False))
        prometheus = cleanup.enter_context(run_prometheus(config, folder))
        stack = cleanup.enter_context(
            start_stack(
                folder / "stack",
                ports,
                AICC_METRICS_TOKEN=metrics_token,
                **connect_env(connect, connect_url),
            )
        )
        cleanup.callback(stack.process.proc.send_signal, signal.SIGTERM)
        admin = stack.login()
        register_integration(stack, admin, rest_url)
        audio = os.urandom(2 * CHUNK)
        traffic(stack, admin, audio)
        first_round = time.time() + 1
        wait_for(lambda: scraped_since(prometheus, first_round), "a scrape after round one")
        traffic(stack, admin, audio)
        yield Observed(
            stack=stack,
            prometheus=prometheus,
            config=config,
            token_file=token_file,
            metrics_token=metrics_token,
            admin_token=admin,
            rounds=2,
            live_bytes=2 * CHUNK,
            import_bytes=len(wav_file()),
        )
