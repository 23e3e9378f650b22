"""deploy/aws/deploy_common_services.sh run for real (bash, the AWS CLI v1 from PyPI) against
moto's server: what the first deploy builds in ECR, ECS, ELBv2, CloudWatch Logs, Secrets
Manager and IAM; that the next release migrates, then rolls; that running again changes nothing.

moto runs in its own process, so its state and settings stay out of other tests: it reports
rollouts as complete (``MOTO_ECS_SERVICE_RUNNING``), and its request recorder keeps every call
the AWS CLI made, which is how settings moto does not store (the circuit breaker), the order of
migration and services, and the absence of writes are checked. What AWS holds is read with
boto3 right after each run.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx2
import pytest

from tests.backends import free_port
from tests.deploy.tools import ROOT, python_tool, system_tool

SCRIPT = ROOT / "deploy" / "aws" / "deploy_common_services.sh"
REGION = "ap-northeast-2"
SERVICES = ("monitoring", "recording", "integration", "auth")
FAMILIES = (*SERVICES, "migrate")
PORTS = {"monitoring": 8000, "recording": 8001, "integration": 8002, "auth": 8003}
TAG, NEXT_TAG = "2026.12.1", "2026.12.2"
BUCKET = "aicc-recordings-test"
DB_PASSWORD = secrets.token_urlsafe(16)
DATABASE_URL = f"postgresql://aicc:{DB_PASSWORD}@db.internal:5432/aicc"
REDIS_URL = f"rediss://:{secrets.token_urlsafe(16)}@cache.internal:6379/0"
TOOLS = ["bash", "awk", "cat", "cut", "date", "dirname", "git", "grep", "mkdir", "mktemp"]
TOOLS += ["paste", "rm", "sleep", "sort", "touch", "tr", "wc"]
"""What the script runs besides aws and python3; docker is deliberately left out."""


@dataclass
class Call:
    action: str
    body: dict[str, Any]

    @property
    def write(self) -> bool:
        read = ("Describe", "List", "Get", "BatchGet", "Head", "GET ", "HEAD ")
        return not self.action.startswith(read)


@dataclass
class Run:
    stdout: str
    stderr: str
    calls: list[Call]
    state: dict[str, Any]
    """What AWS held right after the run."""

    def actions(self) -> list[str]:
        return [c.action for c in self.calls]

    def writes(self) -> list[str]:
        return [c.action for c in self.calls if c.write]

    def bodies(self, action: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.action == action]


class Moto:
    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self.clients:
            credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            self.clients[service] = boto3.client(
                service, endpoint_url=self.url, region_name=REGION, **credentials
            )
        return self.clients[service]

    def recorder(self, command: str) -> str:
        url = f"{self.url}/moto-api/recorder/{command}"
        response = httpx2.get(url) if command.startswith("download") else httpx2.post(url)
        response.raise_for_status()
        return response.text


@dataclass
class Network:
    vpc: str
    public: list[str]
    private: list[str]
    alb_group: str
    task_group: str

    def args(self, tag: str = TAG) -> list[str]:
        return [
            "--vpc-id", self.vpc,
            "--subnets", ",".join(self.private),
            "--alb-subnets", ",".join(self.public),
            "--security-groups", self.task_group,
            "--alb-security-groups", self.alb_group,
            "--recordings-bucket", BUCKET,
            "--image-tag", tag,
        ]  # fmt: skip


@dataclass
class Deployment:
    network: Network
    kms_key_arn: str
    first: Run
    """The first deploy (``--skip-build``)."""
    release: Run
    """The next release (no docker here)."""
    again: Run
    """The same as the release, again."""


def _call(entry: dict[str, Any]) -> Call:
    raw = entry.get("body") or ""
    body = base64.b64decode(raw).decode() if entry.get("body_encoded") else raw
    target = {k.lower(): v for k, v in entry["headers"].items()}.get("x-amz-target")
    if target:
        return Call(target.rsplit(".", 1)[-1], json.loads(body or "{}"))
    form = parse_qs(body)
    if "Action" in form:
        return Call(form["Action"][0], {k: v[0] for k, v in form.items()})
    return Call(f"{entry['method']} {urlsplit(entry['url']).path}", {})


def _state(moto: Moto) -> dict[str, Any]:
    """What the deployment consists of, as boto3 reads it."""
    ecs, elb, iam = moto.client("ecs"), moto.client("elbv2"), moto.client("iam")
    manager, cluster = moto.client("secretsmanager"), "aicc-cluster"
    (balancer,) = elb.describe_load_balancers(Names=["aicc-alb"])["LoadBalancers"]
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    by_port = {str(item["Port"]): item for item in listeners}
    names = {s["Name"]: s["ARN"] for s in manager.list_secrets()["SecretList"]}
    groups = moto.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/aicc-")["logGroups"]
    migrations = ecs.list_tasks(cluster=cluster, startedBy="deploy_common_services")["taskArns"]

    def statements(role: str) -> dict[str, Any]:
        document = iam.get_role_policy(RoleName=role, PolicyName="aicc")["PolicyDocument"]
        return {s["Sid"]: s for s in document["Statement"]}

    def definition(family: str) -> Any:
        return ecs.describe_task_definition(taskDefinition=f"aicc-{family}")["taskDefinition"]

    revisions = ecs.list_task_definitions()["taskDefinitionArns"]
    services = [f"aicc-{s}" for s in SERVICES]
    state = {
        "repos": moto.client("ecr").describe_repositories()["repositories"],
        "cluster": ecs.describe_clusters(clusters=[cluster], include=["SETTINGS"])["clusters"],
        "log_groups": {g["logGroupName"]: g.get("retentionInDays") for g in groups},
        "secrets": names,
        "values": {
            n: manager.get_secret_value(SecretId=a)["SecretString"] for n, a in names.items()
        },
        "policies": {
            r["RoleName"]: statements(r["RoleName"])
            for r in iam.list_roles(PathPrefix="/aicc/")["Roles"]
        },
        "definitions": {f: definition(f) for f in FAMILIES},
        "revisions": sorted(a.rsplit("/")[-1] for a in revisions),
        "balancer": balancer,
        "target_groups": {
            g["TargetGroupName"]: g for g in elb.describe_target_groups()["TargetGroups"]
        },
        "listeners": by_port,
        "rules": elb.describe_rules(ListenerArn=by_port["80"]["ListenerArn"])["Rules"],
        "services": ecs.describe_services(cluster=cluster, services=services)["services"],
        "migrations": ecs.describe_tasks(cluster=cluster, tasks=migrations)["tasks"],
    }
    normalized: dict[str, Any] = json.loads(json.dumps(state, default=str))
    return normalized


@contextmanager
def _moto(folder: Path) -> Iterator[Moto]:
    """moto's server in its own process."""
    port = free_port()
    recording = folder / "requests.jsonl"
    env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_RECORDER_FILEPATH": str(recording)}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{url}/moto-api/data.json", timeout=1).raise_for_status()
                break
            except httpx2.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield Moto(url)
    finally:
        server.terminate()
        server.wait(10)


def _runner(moto: Moto, folder: Path) -> Callable[..., Run]:
    """Runs the script as an operator would, with a PATH holding the AWS CLI's virtualenv (aws,
    python3) and the tools the script uses, and no docker whatever this machine has."""
    aws_cli = python_tool("awscli", "awscli>=1.36")
    tools, home = folder / "bin", folder / "home"
    tools.mkdir()
    home.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (tools / tool).symlink_to(found)
    env = {
        "PATH": f"{aws_cli}:{tools}",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AICC_DEPLOY_POLL_SECONDS": "0.1",
        "AICC_DEPLOY_IAM_SETTLE_SECONDS": "0",
        "AICC_DEPLOY_DATABASE_URL": DATABASE_URL,
        "AICC_DEPLOY_REDIS_URL": REDIS_URL,
    }

    def run(*args: str) -> Run:
        moto.recorder("reset-recording")
        moto.recorder("start-recording")
        try:
            result = subprocess.run(
                [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600
            )
        finally:
            moto.recorder("stop-recording")
        assert result.returncode == 0, result.stdout + result.stderr
        lines = moto.recorder("download-recording").splitlines()
        calls = [_call(json.loads(line)) for line in lines if line.strip()]
        return Run(result.stdout, result.stderr, calls, _state(moto))

    return run


def _images(moto: Moto, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + tag.encode().hex().ljust(64, "0")[:64],
        },
        "layers": [],
    }
    for service in FAMILIES:
        moto.client("ecr").put_image(
            repositoryName=f"aicc-{service}", imageTag=tag, imageManifest=json.dumps(manifest)
        )


def _deploy(moto: Moto, deploy: Callable[..., Run]) -> Deployment:
    """The spec's VPC (10.0.0.0/16) with public subnets 10.0.1.0/24 and 10.0.2.0/24 for the ALB
    and private ones for the tasks, the bucket, the KMS key, and the images CI pushed (aicc-auth's
    repository with mutable tags and no scanning); then the three runs."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=REGION + zone)[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((1, "a"), (2, "c"), (11, "a"), (12, "c"))
    ]
    groups = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        for name in ("aicc-alb", "aicc-tasks")
    ]
    network = Network(vpc, subnets[:2], subnets[2:], *groups)
    moto.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    kms = moto.client("kms")
    key = kms.create_key(Description="AICC data keys")["KeyMetadata"]
    kms.create_alias(AliasName="alias/aicc-encryption", TargetKeyId=key["KeyId"])
    for service in FAMILIES:
        right = service != "auth"
        moto.client("ecr").create_repository(
            repositoryName=f"aicc-{service}",
            imageTagMutability="IMMUTABLE" if right else "MUTABLE",
            imageScanningConfiguration={"scanOnPush": right},
        )
    _images(moto, TAG)
    first = deploy(*network.args(), "--skip-build")
    _images(moto, NEXT_TAG)
    release = network.args(NEXT_TAG)
    return Deployment(network, key["Arn"], first, deploy(*release), deploy(*release))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Built once per test session: pytest-xdist workers share it through a file (the first
    builds it under a lock, the others read it), whichever way the tests are distributed."""
    folder = tmp_path_factory.mktemp("ecs")

    def build() -> Deployment:
        with _moto(folder) as moto:
            return _deploy(moto, _runner(moto, folder))

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return build()
    shared = tmp_path_factory.getbasetemp().parent / "ecs-deployment.json"
    with shared.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists():
            shared.write_text(json.dumps(asdict(build())))
    data = json.loads(shared.read_text())
    runs = [
        Run(r["stdout"], r["stderr"], [Call(**c) for c in r["calls"]], r["state"])
        for r in (data["first"], data["release"], data["again"])
    ]
    return Deployment(Network(**data["network"]), data["kms_key_arn"], *runs)


def test_help_needs_no_aws() -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for option in ("--skip-build", "--image-tag", "--subnets", "--security-groups", "--region"):
        assert option in result.stdout


def test_refuses_to_start_without_the_task_network() -> None:
    result = subprocess.run(
        [str(SCRIPT), "--security-groups", "sg-1"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "--subnets is required" in result.stderr


def test_script_parses_and_passes_shellcheck() -> None:
    syntax = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    shellcheck = system_tool("shellcheck", "shellcheck")
    checked = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_images_not_built_without_docker_and_repositories_fixed(deployment: Deployment) -> None:
    assert "build: skipped (--skip-build)" in deployment.first.stdout
    assert "build: skipped: docker is not installed" in deployment.release.stdout
    repos = deployment.first.state["repos"]
    assert sorted(r["repositoryName"] for r in repos) == sorted(f"aicc-{f}" for f in FAMILIES)
    for repo in repos:
        assert repo["imageTagMutability"] == "IMMUTABLE", repo["repositoryName"]
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True, repo["repositoryName"]


def test_cluster_and_log_groups(deployment: Deployment) -> None:
    state = deployment.first.state
    (cluster,) = state["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert state["log_groups"] == {f"/ecs/aicc-{f}": 30 for f in FAMILIES}


def test_secrets_created_from_the_deployer_or_generated(deployment: Deployment) -> None:
    values = {n.removeprefix("aicc/"): v for n, v in deployment.first.state["values"].items()}
    names = ("database-url", "redis-url", "encryption-key", "bootstrap-admin-password")
    assert set(values) == {*names, "metrics-token"}
    assert values["database-url"] == DATABASE_URL
    assert values["redis-url"] == REDIS_URL
    assert len(base64.b64decode(values["encryption-key"], validate=True)) == 32
    assert len(values["bootstrap-admin-password"]) >= 32
    assert values["metrics-token"] != values["bootstrap-admin-password"]
    for run in (deployment.first, deployment.release, deployment.again):
        for secret in (DB_PASSWORD, REDIS_URL, *values.values()):
            assert secret not in run.stdout + run.stderr


def test_roles_grant_each_service_only_what_it_calls(deployment: Deployment) -> None:
    state = deployment.first.state
    policies = state["policies"]
    tasks = {f"aicc-{s}-task" for s in ("monitoring", "recording", "integration")}
    assert set(policies) == {"aicc-ecs-execution", *tasks}
    execution = policies["aicc-ecs-execution"]
    assert sorted(execution["Secrets"]["Resource"]) == sorted(state["secrets"].values())
    assert execution["Secrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    recording = policies["aicc-recording-task"]
    assert set(recording) == {"Bucket", "Objects", "DataKeys"}
    assert recording["Objects"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/*"]
    assert recording["DataKeys"]["Resource"] == [deployment.kms_key_arn]
    assert policies["aicc-integration-task"]["DataKeys"]["Resource"] == [deployment.kms_key_arn]
    monitoring = policies["aicc-monitoring-task"]
    assert monitoring["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "AICC/ContactCenter"}
    }
    assert set(monitoring) == {"Metrics", "Topics", "Email"}  # Connect only with an instance id


def test_task_definitions(deployment: Deployment) -> None:
    state = deployment.first.state
    registry = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
    memory = {}
    for service in SERVICES:
        definition = state["definitions"][service]
        assert definition["requiresCompatibilities"] == ["FARGATE"]
        assert definition["networkMode"] == "awsvpc"
        assert definition["executionRoleArn"].endswith(":role/aicc/aicc-ecs-execution")
        assert ("taskRoleArn" in definition) == (service != "auth")
        memory[service] = int(definition["memory"])
        (container,) = definition["containerDefinitions"]
        assert container["image"] == f"{registry}/aicc-{service}:{TAG}"
        assert container["memory"] == memory[service]
        assert container["readonlyRootFilesystem"] is True
        assert container["user"] == "10001:10001"
        assert {m["containerPath"] for m in container["mountPoints"]} == {"/var/lib/aicc", "/tmp"}
        assert [p["containerPort"] for p in container["portMappings"]] == [PORTS[service]]
        check = container["healthCheck"]["command"]
        assert check[:3] == ["CMD", "python", "-c"]
        assert f"'http://127.0.0.1:{PORTS[service]}/health'" in check[3]
        options = container["logConfiguration"]["options"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert options["awslogs-group"] == f"/ecs/aicc-{service}"
        assert (options["awslogs-region"], options["awslogs-stream-prefix"]) == (REGION, "ecs")
        secrets_from = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        assert {"DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY"} <= set(secrets_from)
        assert set(secrets_from.values()) <= set(state["secrets"].values())
        environment = {e["name"]: e["value"] for e in container["environment"]}
        assert not set(environment) & set(secrets_from)
        assert not any(DB_PASSWORD in v for v in environment.values())
        assert environment["AICC_ENV"] == "production"
        assert environment["AICC_AUTO_MIGRATE"] == "false"
        assert environment["AICC_AUTH_URL"] == f"http://{state['balancer']['DNSName']}:8003"
        assert environment["AICC_TRUSTED_PROXIES"] == "10.0.1.0/24,10.0.2.0/24"
        assert environment["S3_BUCKET"] == BUCKET
        assert ("AICC_KMS_KEY_ID" in environment) == (service in ("recording", "integration"))
    assert memory["recording"] > max(memory[s] for s in SERVICES if s != "recording")
    (container,) = state["definitions"]["migrate"]["containerDefinitions"]
    assert container["entryPoint"] + container["command"] == ["aicc", "db", "upgrade"]
    assert container["image"] == f"{registry}/aicc-migrate:{TAG}"
    assert [s["name"] for s in container["secrets"]] == ["DATABASE_URL"]


def test_load_balancer_routes_each_service(deployment: Deployment) -> None:
    state = deployment.first.state
    assert state["balancer"]["Scheme"] == "internet-facing"
    zones = {z["SubnetId"] for z in state["balancer"]["AvailabilityZones"]}
    assert zones == set(deployment.network.public)
    groups = state["target_groups"]
    arns = {s: groups[f"aicc-{s}"]["TargetGroupArn"] for s in SERVICES}
    for service in SERVICES:
        group = groups[f"aicc-{service}"]
        assert (group["TargetType"], group["Port"]) == ("ip", PORTS[service])
        assert (group["HealthCheckPath"], group["VpcId"]) == ("/health", deployment.network.vpc)
    assert set(state["listeners"]) == {str(p) for p in (80, *PORTS.values())}
    for service, port in PORTS.items():
        (action,) = state["listeners"][str(port)]["DefaultActions"]
        assert action["TargetGroupArn"] == arns[service]
    routed = {
        tuple(r["Conditions"][0]["PathPatternConfig"]["Values"]): r["Actions"][0]["TargetGroupArn"]
        for r in state["rules"]
        if not r["IsDefault"]
    }
    assert routed[("/auth", "/auth/*", "/.well-known/*")] == arns["auth"]
    assert routed[("/recordings", "/recordings/*")] == arns["recording"]
    assert len(routed) == 4


def test_services_behind_the_target_groups(deployment: Deployment) -> None:
    state = deployment.first.state
    for service in state["services"]:
        short = service["serviceName"].removeprefix("aicc-")
        assert service["launchType"] == "FARGATE"
        assert service["desiredCount"] == 2
        assert service["taskDefinition"] == state["definitions"][short]["taskDefinitionArn"]
        vpc = service["networkConfiguration"]["awsvpcConfiguration"]
        assert sorted(vpc["subnets"]) == sorted(deployment.network.private)
        assert vpc["securityGroups"] == [deployment.network.task_group]
        assert vpc["assignPublicIp"] == "DISABLED"
        group = state["target_groups"][service["serviceName"]]["TargetGroupArn"]
        assert service["loadBalancers"] == [
            {"targetGroupArn": group, "containerName": short, "containerPort": PORTS[short]}
        ]
    assert len(state["services"]) == 4
    # moto keeps neither of these: they are read from the requests the script sent
    requests = deployment.first.bodies("CreateService")
    assert len(requests) == 4
    for request in requests:
        breaker = request["deploymentConfiguration"]["deploymentCircuitBreaker"]
        assert breaker == {"enable": True, "rollback": True}
        assert request["healthCheckGracePeriodSeconds"] == 60


def test_migration_ran_to_completion_before_the_services(deployment: Deployment) -> None:
    first = deployment.first
    actions = first.actions()
    ran, created = actions.index("RunTask"), actions.index("CreateService")
    assert ran < created
    assert actions[ran:created].count("DescribeTasks") >= 4  # moto: one state per look
    (request,) = first.bodies("RunTask")
    assert request["launchType"] == "FARGATE"
    assert request["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == (
        deployment.network.private
    )
    (task,) = first.state["migrations"]
    assert task["lastStatus"] == "STOPPED"
    assert task["containers"][0]["exitCode"] == 0
    assert task["taskDefinitionArn"].endswith("task-definition/aicc-migrate:1")


def test_release_migrates_then_rolls_every_service(deployment: Deployment) -> None:
    run = deployment.release
    state = run.state
    assert (
        sorted(run.writes()) == ["RegisterTaskDefinition"] * 5 + ["RunTask"] + ["UpdateService"] * 4
    )
    actions = run.actions()
    assert actions.index("RunTask") < actions.index("UpdateService")
    assert [t["lastStatus"] for t in state["migrations"]] == ["STOPPED", "STOPPED"]
    for service in state["services"]:
        assert service["taskDefinition"].endswith(f"{service['serviceName']}:2")
        assert service["desiredCount"] == 2  # kept: no --desired-count given
    for request in run.bodies("UpdateService"):
        assert request["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"] is True
    (container,) = state["definitions"]["recording"]["containerDefinitions"]
    assert container["image"].endswith(f"/aicc-recording:{NEXT_TAG}")


def test_running_again_changes_nothing(deployment: Deployment) -> None:
    again = deployment.again
    assert "nothing to change: everything is already as wanted" in again.stdout
    assert again.writes() == []
    assert again.state == deployment.release.state
    assert again.state["revisions"] == sorted(f"aicc-{f}:{n}" for f in FAMILIES for n in (1, 2))


def _plan(command: str, current: Any, tmp_path: Path, **env: str) -> list[tuple[str, Any]]:
    """``deploy_plan.py <command>`` on ``current`` (as AWS describes it): the requests planned."""
    (tmp_path / "current").write_text(json.dumps(current))
    (tmp_path / "out").mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "deploy_plan.py"), command, "current", "out"],
        cwd=tmp_path,
        env={"PYTHONDONTWRITEBYTECODE": "1", **{f"DEPLOY_{k.upper()}": v for k, v in env.items()}},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    return [(c, json.loads((tmp_path / f).read_text())) for c, f, _ in lines]


def test_https_listeners_with_a_certificate(tmp_path: Path) -> None:
    certificate = f"arn:aws:acm:{REGION}:123456789012:certificate/abc"
    groups = {f"tg_{s}": f"arn:tg/{s}" for s in SERVICES}
    planned = _plan("plan-listeners", [], tmp_path, certificate_arn=certificate, **groups)
    by_port = {request["Port"]: request for _, request in planned}
    assert set(by_port) == {80, 443, *PORTS.values()}
    for port in (443, *PORTS.values()):
        assert by_port[port]["Protocol"] == "HTTPS"
        assert by_port[port]["Certificates"] == [{"CertificateArn": certificate}]
        assert by_port[port]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert by_port[443]["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    (redirect,) = by_port[80]["DefaultActions"]
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert by_port[8003]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": "arn:tg/auth"}]
    described = []
    for port, request in by_port.items():
        listener = {k: v for k, v in request.items() if k not in ("LoadBalancerArn", "Tags")}
        for action in listener["DefaultActions"]:
            if action["Type"] == "forward":  # as AWS reports it
                arn = action["TargetGroupArn"]
                action["ForwardConfig"] = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": 1}]}
        described.append({**listener, "ListenerArn": f"arn:listener/{port}"})
    assert _plan("plan-listeners", described, tmp_path, certificate_arn=certificate, **groups) == []
