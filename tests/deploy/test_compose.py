"""The compose file (deploy/compose.yaml) and its balancer, proven without a Docker engine.

checkov has no framework for compose files (its ``yaml`` and ``json`` frameworks run only custom
policies; its ``secrets`` scan of the compose files is in test_images.py), so compose-lint lints
it and the tests read it: it parses, names only real ``aicc`` commands and existing files, takes
every secret from ``deploy/.env``, health-checks each service and starts it after the migration,
and gives each an environment the production check accepts. HAProxy (Debian's ``haproxy``)
checks the balancer's configuration, then balances two stand-in replicas per service round
robin and skips one that is gone. The compose_spec parser (PyPI ``compose-spec``) validates the
file against the Compose Specification, as ``docker compose config`` would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from aicc.cli import main as aicc
from aicc.core.config import Settings, check_production, load_settings
from aicc.monitoring.targets import resolve_targets
from tests.backends import free_port
from tests.deploy.dockerfiles import PORTS, final_stage, instructions, values
from tests.deploy.tools import ROOT, python_tool, system_tool

COMPOSE = ROOT / "deploy" / "compose.yaml"
HAPROXY = ROOT / "deploy" / "compose" / "haproxy.cfg"
ENV_EXAMPLE = ROOT / "deploy" / "compose" / "env.example"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(?:^|_)KEY(?:_|$)|AUTH$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([^}]*)\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _aicc_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in spec["services"].items()
        if str(service.get("image", "")).startswith("aicc-") and name != "migrate"
    }


def test_compose_names_real_commands_and_existing_files() -> None:
    spec = compose()
    commands: set[tuple[str, ...]] = set()
    for name, service in spec["services"].items():
        if "build" in service:
            dockerfile = (
                ROOT / "deploy" / service["build"]["context"] / service["build"]["dockerfile"]
            )
            assert dockerfile.exists(), f"{name}: {dockerfile} is missing"
            steps = final_stage(instructions(dockerfile))
            assert json.loads(values(steps, "ENTRYPOINT")[0]) == ["aicc"]
            assert service["command"] == json.loads(values(steps, "CMD")[0])
            commands.add(tuple(service["command"]))
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).is_file(), f"{name}: {source} is missing"
    assert len(commands) == 5
    for command in commands:
        with pytest.raises(SystemExit) as parsed:
            aicc([*command, "--help"])
        assert parsed.value.code == 0, f"aicc {' '.join(command)} is not a command"
    with pytest.raises(SystemExit) as parsed:
        aicc(["serve", "recordings", "--help"])
    assert parsed.value.code == 2


VALIDATE = """
import json, sys
from compose_spec import PyCompose
for document in json.load(sys.stdin):
    try:
        PyCompose.from_json(json.dumps(document))
        print("valid")
    except ValueError as exc:
        print(f"invalid: {exc}")
"""


def test_compose_follows_the_compose_specification() -> None:
    """The compose_spec parser (Rust, through its Python binding) reads the file as Compose
    does after interpolation and YAML merges; a misspelt key beside it must be refused."""
    python = python_tool("compose-spec", "compose-spec==0.2.1") / "python"
    resolved = yaml.safe_load(INTERPOLATION.sub("filled-in", COMPOSE.read_text()))
    misspelt = json.loads(json.dumps(resolved))
    misspelt["services"]["auth"]["healthcheck"]["intervall"] = "5s"
    result = subprocess.run(
        [str(python), "-c", VALIDATE],
        input=json.dumps([resolved, misspelt]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    verdicts = result.stdout.splitlines()
    assert verdicts[0] == "valid", verdicts[0]
    assert verdicts[1].startswith("invalid") and "intervall" in verdicts[1], verdicts[1]


def test_the_one_off_shell_scripts_parse(tmp_path: Path) -> None:
    for name, service in compose()["services"].items():
        if service.get("entrypoint", [])[:1] != ["/bin/sh"]:
            continue
        script = tmp_path / f"{name}.sh"
        script.write_text(service["command"][0].replace("$$", "$"))
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_compose_takes_every_secret_from_the_env_file() -> None:
    text = COMPOSE.read_text()
    references = INTERPOLATION.findall(text)
    assert references and all(re.fullmatch(r"\w+:\?.+", ref) for ref in references), references
    required = {ref.split(":", 1)[0] for ref in references}
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(example) == required and set(example.values()) == {""}
    for name, service in compose()["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        for key, value in environment.items():
            value = str(value)
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}: {key} is literal"
            for password in re.findall(r"://[^:/@]*:([^@]+)@", value):
                assert INTERPOLATION.fullmatch(password), f"{name}: {key} has a literal password"


def test_every_service_is_checked_hardened_and_starts_after_the_migration() -> None:
    spec = compose()
    services = _aicc_services(spec)
    assert sorted(services) == sorted([*PORTS, *(f"{s}-2" for s in PORTS)])
    assert spec["services"]["migrate"]["command"] == ["db", "upgrade"]
    for name, service in services.items():
        port = PORTS[name.removesuffix("-2")]
        assert service["command"] == ["serve", name.removesuffix("-2")]
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and f"http://127.0.0.1:{port}/health'" in test[-1]
        depends = service["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert {t.split(":")[0] for t in service["tmpfs"]} == {"/tmp", "/var/lib/aicc"}
        assert service["environment"]["AICC_AUTO_MIGRATE"] == "false"
        assert service.get("profiles") == (["replicas"] if name.endswith("-2") else None)


def setting_names() -> set[str]:
    """Every environment variable the settings read, from the settings classes themselves."""
    names = set()
    for group in Settings.model_fields.values():
        assert isinstance(group.annotation, type) and issubclass(group.annotation, BaseSettings)
        prefix = str(group.annotation.model_config.get("env_prefix", ""))
        for field_name, field in group.annotation.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def test_the_service_environment_passes_the_production_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each service's environment, secrets filled in, is one ``aicc serve`` accepts in
    production, and names only variables the services (or the AWS SDK) read."""
    known = setting_names() | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name in known & set(os.environ):
        monkeypatch.delenv(name)
    spec = compose()
    proxy = spec["services"]["lb"]["networks"]["aicc"]["ipv4_address"]
    for name, service in _aicc_services(spec).items():
        environment = {
            key: INTERPOLATION.sub("filled-in-secret", str(value))
            for key, value in service["environment"].items()
        }
        assert set(environment) <= known, f"{name}: {set(environment) - known} are not read"
        with monkeypatch.context() as scoped:
            for key, value in environment.items():
                scoped.setenv(key, value)
            settings = load_settings(env_file=None)
        check_production(settings)
        assert settings.server.trusted_proxies == [f"{proxy}/32"]
        assert settings.auth_url == "http://auth:8003"
        if name.startswith("monitoring"):
            targets = {target.name: target.url for target in resolve_targets(settings)}
            assert targets == {s: f"http://{s}:{p}" for s, p in PORTS.items() if s != "monitoring"}


def haproxy_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in HAPROXY.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return sections


def test_the_balancer_lists_both_replicas_of_each_service() -> None:
    sections = haproxy_sections()
    spec = compose()["services"]
    lb = spec["lb"]
    assert lb["profiles"] == ["replicas"]
    assert sorted(lb["ports"]) == [f"127.0.0.1:{p + 80}:{p}" for p in sorted(PORTS.values())]
    for service, port in PORTS.items():
        assert f"bind :{port}" in sections[f"frontend {service}"]
        backend = sections[f"backend {service}"]
        assert "balance roundrobin" in backend
        servers = sorted(line for line in backend if line.startswith("server "))
        assert servers == [f"server {service}-{n} {service}-{n}:{port}" for n in (1, 2)]
        assert spec[service]["networks"]["aicc"]["aliases"] == [f"{service}-1"]
        assert spec[f"{service}-2"]["networks"]["aicc"]["aliases"] == [service]
        assert (
            lb["depends_on"][service]
            == lb["depends_on"][f"{service}-2"]
            == {"condition": "service_healthy"}
        )


def test_haproxy_accepts_the_balancer_configuration() -> None:
    haproxy = system_tool("haproxy", "haproxy")
    result = subprocess.run(
        [haproxy, "-c", "-f", str(HAPROXY)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "[WARNING]" in line]
    assert all("could not resolve address" in line for line in warnings), warnings


class _Replica(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {
                "replica": self.server.name,  # type: ignore[attr-defined]
                "forwarded_for": self.headers.get("x-forwarded-for"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def replicas() -> Iterator[dict[str, ThreadingHTTPServer]]:
    """Two stand-in replicas per service, each answering with its own name."""
    servers: dict[str, ThreadingHTTPServer] = {}
    for service in PORTS:
        for n in (1, 2):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Replica)
            server.name = f"{service}-{n}"  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            servers[f"{service}-{n}"] = server
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def test_haproxy_balances_round_robin_and_skips_a_replica_that_is_gone(
    replicas: dict[str, ThreadingHTTPServer], tmp_path: Path
) -> None:
    haproxy = system_tool("haproxy", "haproxy")
    config = HAPROXY.read_text()
    fronts = {service: free_port() for service in PORTS}
    for name, server in replicas.items():
        config = config.replace(f" {name}:", f" 127.0.0.1:{server.server_address[1]} #")
    for service, port in PORTS.items():
        config = config.replace(f"bind :{port}\n", f"bind 127.0.0.1:{fronts[service]}\n")
    config = config.replace("bind :8404", f"bind 127.0.0.1:{free_port()}")
    (tmp_path / "haproxy.cfg").write_text(config)
    with (tmp_path / "haproxy.log").open("w") as log:
        process = subprocess.Popen(
            [haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for port in fronts.values():
            answers = [_get(port) for _ in range(4)]
            names = [answer["replica"] for answer in answers]
            assert names[0] != names[1] and names[:2] == names[2:], names
            assert {answer["forwarded_for"] for answer in answers} == {"127.0.0.1"}
        replicas["auth-1"].shutdown()
        replicas["auth-1"].server_close()
        assert [_get(fronts["auth"])["replica"] for _ in range(6)] == ["auth-2"] * 6
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(port: int) -> dict[str, Any]:
    """GET /health through the balancer, waiting for it to listen."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_compose_lint_passes_with_only_explained_suppressions() -> None:
    lint = python_tool("compose-lint", "compose-lint==0.36.2") / "compose-lint"
    config = ROOT / "deploy" / "compose" / "compose-lint.yml"
    result = subprocess.run(
        [
            str(lint),
            "check",
            "--no-env",
            "--strict-config",
            "--fail-on",
            "low",
            "--config",
            str(config),
            "--format",
            "json",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["errors"] == [] and report["warnings"] == []
    assert all(finding.get("suppressed") for finding in report["findings"])
    for rule in yaml.safe_load(config.read_text())["rules"].values():
        reasons = [*rule.get("exclude_services", {}).values()]
        reasons += [rule["reason"]] if "reason" in rule else []
        assert reasons and all(len(reason) > 40 for reason in reasons)
