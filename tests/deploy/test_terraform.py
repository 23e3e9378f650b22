"""deploy/terraform: every ``.tf`` parsed with python-hcl2 and checked for what the spec and
the issue ask, against names the code really uses (settings, routes), not copies of them;
checkov on the folder; ``terraform validate`` when a terraform binary and an AWS provider
mirror are on the machine (nothing is downloaded). The dashboard: test_cloudwatch_dashboard.py."""

from __future__ import annotations

import fnmatch
import importlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions
from pydantic import SecretStr

from aicc.core.config import SERVICE_NAMES, Settings, load_settings
from tests.deploy.tools import ROOT, python_tool

TERRAFORM = ROOT / "deploy" / "terraform"
DASHBOARD = ROOT / "deploy" / "observability" / "cloudwatch-dashboard.json"
PLAIN = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
NOT_SETTINGS = {"PGSSLMODE"}
"""Environment of the tasks that is not an AICC setting (asyncpg reads it: TLS required)."""
KEY = "${aws_kms_key.main.arn}"
ENV_KEY = re.compile(r"\b([A-Z][A-Z0-9_]+)\s*=(?!=)")
SECRETS = re.compile(
    r"\$\{\[for name in local\.(service_secrets\[each\.key\]|migration_secrets) : "
    r"\{name = name, valueFrom = local\.secret_arns\[name\]\}\]\}"
)


class Config:
    """The parsed folder: blocks by type and name, locals, variables, raw text by file."""

    def __init__(self, folder: Path) -> None:
        self.text = {p.name: p.read_text() for p in sorted(folder.glob("*.tf"))}
        self.resource: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.locals: dict[str, Any] = {}
        self.variable: dict[str, dict[str, Any]] = {}
        for text in self.text.values():
            parsed = hcl2.loads(text, serialization_options=PLAIN)
            for kind, target in (("resource", self.resource), ("data", self.data)):
                for entry in parsed.get(kind, []):
                    for type_, named in entry.items():
                        target.setdefault(type_, {}).update(named)
            for entry in parsed.get("locals", []):
                self.locals.update(entry)
            for entry in parsed.get("variable", []):
                self.variable.update(entry)

    def default(self, name: str) -> Any:
        return self.variable[name]["default"]


def one(body: dict[str, Any], *path: str) -> Any:
    """The nested block at ``path`` (each level exactly one block)."""
    for name in path:
        assert isinstance(body[name], list) and len(body[name]) == 1, (name, body[name])
        body = body[name][0]
    return body


def container(body: dict[str, Any]) -> dict[str, Any]:
    """The container definition inside ``jsonencode([{...}])``, parsed as HCL."""
    inner = re.fullmatch(r"\$\{jsonencode\(\[(.*)\]\)\}", body["container_definitions"], re.S)
    assert inner, body["container_definitions"]
    parsed: dict[str, Any] = hcl2.loads(f"c = {inner[1]}\n", serialization_options=PLAIN)["c"]
    return parsed


def settings_env() -> dict[str, bool]:
    """Every environment variable our settings read, and whether it holds a secret."""
    names: dict[str, bool] = {}
    for group in Settings.model_fields.values():
        cls: Any = group.annotation
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            key = alias if isinstance(alias, str) else (cls.model_config["env_prefix"] + name)
            kinds = (field.annotation, *getattr(field.annotation, "__args__", ()))
            names[key.upper()] = SecretStr in kinds
    return names


@pytest.fixture(scope="module")
def tf() -> Config:
    return Config(TERRAFORM)


def test_every_file_parses_and_holds_what_its_name_says(tf: Config) -> None:
    where = {
        "network": "aws_subnet", "alb": "aws_lb_listener", "ecs": "aws_ecs_service",
        "rds": "aws_db_instance", "redis": "aws_elasticache_replication_group",
        "s3": "aws_s3_bucket", "kms": "aws_kms_alias", "secrets": "aws_secretsmanager_secret",
        "observability": "aws_cloudwatch_dashboard",
    }  # fmt: skip
    for file, kind in where.items():
        assert f'resource "{kind}"' in tf.text[f"{file}.tf"], (file, kind)
    assert {"variables.tf", "outputs.tf", "versions.tf"} <= set(tf.text)
    assert re.search(r'"hashicorp/aws"\s*\n\s*version\s*=\s*"~> 5\.', tf.text["versions.tf"])
    for file, text in tf.text.items():
        for reason in re.findall(r"#checkov:skip=CKV2?_AWS_\d+:(.*)", text):
            assert len(reason.strip()) > 20, (file, reason)  # every skip says why


def test_the_specs_names_network_and_ports(tf: Config) -> None:
    assert (tf.locals["cluster_name"], tf.locals["alb_name"]) == ("aicc-cluster", "aicc-alb")
    assert tf.locals["db_identifier"] == "aicc-common-services-db"
    assert tf.locals["redis_id"] == "aicc-common-services-redis"
    assert tf.locals["kms_alias"] == "alias/aicc-encryption"
    assert tf.resource["aws_kms_alias"]["main"]["name"] == "${local.kms_alias}"
    assert tf.resource["aws_lb"]["main"]["name"] == "${local.alb_name}"
    assert tf.resource["aws_ecs_cluster"]["main"]["name"] == "${local.cluster_name}"
    vpc = ipaddress.IPv4Network(tf.default("vpc_cidr"))
    assert str(vpc) == "10.0.0.0/16"
    assert tf.default("public_subnet_cidrs") == ["10.0.1.0/24", "10.0.2.0/24"]
    tiers = [f"{tier}_subnet_cidrs" for tier in ("public", "app", "data")]
    subnets = [ipaddress.IPv4Network(c) for tier in tiers for c in tf.default(tier)]
    assert all(s.subnet_of(vpc) for s in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    server = load_settings(env_file=None).server
    ports = {name: svc["port"] for name, svc in tf.locals["services"].items()}
    assert ports == {name: server.port(name) for name in SERVICE_NAMES}
    assert tf.resource["aws_ecr_repository"]["service"]["name"] == "aicc-${each.key}"
    assert tf.resource["aws_cloudwatch_log_group"]["service"]["name"] == "/ecs/aicc-${each.key}"
    assert tf.resource["aws_ecs_task_definition"]["service"]["family"] == "aicc-${each.key}"


def test_no_task_has_a_public_address_and_the_data_tier_has_no_way_out(tf: Config) -> None:
    network = one(tf.resource["aws_ecs_service"]["service"], "network_configuration")
    assert network["assign_public_ip"] is False
    assert network["subnets"] == "${aws_subnet.app[*].id}"
    assert network["security_groups"] == ["${aws_security_group.tasks.id}"]
    assert tf.resource["aws_lb"]["main"]["subnets"] == "${aws_subnet.public[*].id}"
    assert all(s["map_public_ip_on_launch"] is False for s in tf.resource["aws_subnet"].values())
    tables = tf.resource["aws_route_table"]
    assert set(one(tables["app"], "route")) == {"cidr_block", "nat_gateway_id"}
    assert "route" not in tables["data"]
    for kind in ("aws_db_subnet_group", "aws_elasticache_subnet_group"):
        assert tf.resource[kind]["main"]["subnet_ids"] == "${aws_subnet.data[*].id}"
    data = tf.resource["aws_route_table_association"]["data"]
    assert data["subnet_id"] == "${aws_subnet.data[count.index].id}"


def test_only_the_alb_reaches_the_services_and_only_tasks_reach_the_data(tf: Config) -> None:
    groups = tf.resource["aws_security_group"].values()
    assert not any("ingress" in g or "egress" in g for g in groups)
    rules: dict[str, set[tuple[str, int, int, str]]] = {}
    for way in ("ingress", "egress"):
        for rule in tf.resource[f"aws_vpc_security_group_{way}_rule"].values():
            group = re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", rule["security_group_id"])
            assert group and rule["ip_protocol"] == "tcp" and rule["description"]
            peer = rule.get("cidr_ipv4") or rule["referenced_security_group_id"]
            rules.setdefault(group[1], set()).add((way, rule["from_port"], rule["to_port"], peer))
    ingress = {g: {r[1:] for r in found if r[0] == "ingress"} for g, found in rules.items()}
    sg = "${{aws_security_group.{}.id}}".format
    assert {r[1:] for r in rules["tasks"] if r[0] == "egress"} == {
        (443, 443, "0.0.0.0/0"), (8000, 8003, sg("tasks")),
        (5432, 5432, sg("db")), (6379, 6379, sg("redis")),
    }  # fmt: skip
    assert ingress["alb"] == {(443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")}
    assert ingress["tasks"] == {(8000, 8003, sg("alb")), (8000, 8003, sg("tasks"))}
    assert ingress["db"] == {(5432, 5432, sg("tasks"))}
    assert ingress["redis"] == {(6379, 6379, sg("tasks"))}
    assert tf.resource["aws_db_instance"]["main"]["vpc_security_group_ids"] == [sg("db")]
    redis = tf.resource["aws_elasticache_replication_group"]["main"]
    assert redis["security_group_ids"] == [sg("redis")]


def test_https_and_a_rule_and_health_checked_target_group_per_service(tf: Config) -> None:
    https, http = tf.resource["aws_lb_listener"]["https"], tf.resource["aws_lb_listener"]["http"]
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["certificate_arn"] == "${var.certificate_arn}"
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    redirect = one(http, "default_action", "redirect")
    assert (http["port"], redirect["protocol"], redirect["port"]) == (80, "HTTPS", "443")
    group = tf.resource["aws_lb_target_group"]["service"]
    assert group["for_each"] == "${local.services}" and group["target_type"] == "ip"
    assert one(group, "health_check")["path"] == "/health"
    rule = tf.resource["aws_lb_listener_rule"]["service"]
    assert (rule["for_each"], rule["listener_arn"]) == (
        "${local.services}",
        "${aws_lb_listener.https.arn}",
    )
    forward = "${aws_lb_target_group.service[each.key].arn}"
    assert one(rule, "action")["target_group_arn"] == forward
    assert one(rule, "condition", "path_pattern")["values"] == "${each.value.paths}"
    service = tf.resource["aws_ecs_service"]["service"]
    assert service["for_each"] == "${local.services}" and service["name"] == "aicc-${each.key}"
    assert one(service, "load_balancer") == {
        "target_group_arn": forward,
        "container_name": "${each.key}",
        "container_port": "${each.value.port}",
    }
    assert container(tf.resource["aws_ecs_task_definition"]["service"])["name"] == "${each.key}"


def test_every_public_route_reaches_its_own_service_and_no_other(
    tf: Config, tmp_path: Path
) -> None:
    """Each service's real routes (its OpenAPI document) against the ALB's path patterns."""
    services = tf.locals["services"]
    assert all(len(s["paths"]) <= 5 for s in services.values())  # the ALB's limit per rule
    settings = load_settings({"data_dir": str(tmp_path)}, env_file=None)

    def routed(path: str) -> set[str]:
        return {
            n for n, s in services.items() if any(fnmatch.fnmatchcase(path, p) for p in s["paths"])
        }

    for name in SERVICE_NAMES:
        app = importlib.import_module(f"aicc.{name}.app").create_app(settings)
        for path in app.openapi()["paths"]:
            internal = path in ("/health", "/health/ready", "/metrics")
            hits = routed(re.sub(r"\{[^}]+\}", "x1", path))
            assert hits == (set() if internal else {name}), (name, path, hits)
    assert not set().union(*(routed(p) for p in ("/health", "/metrics", "/docs", "/openapi.json")))


def test_tasks_get_secrets_through_secrets_and_write_nothing_to_root(tf: Config) -> None:
    readable = settings_env()
    secret_vars = {name for name, secret in readable.items() if secret}
    definitions = {
        n: container(tf.resource["aws_ecs_task_definition"][n]) for n in ("service", "migrate")
    }
    expressions = json.dumps([tf.locals[k] for k in ("issuer_environment", "service_environment")])
    expressions += json.dumps([c["environment"] for c in definitions.values()])
    environment = set(tf.locals["common_environment"]) | set(ENV_KEY.findall(expressions))
    assert {"AICC_ENV", "S3_BUCKET", "AICC_CLOUDWATCH_NAMESPACE", "PGSSLMODE"} <= environment
    assert not environment & secret_vars
    assert environment - set(readable) == NOT_SETTINGS  # no misspelt setting
    values = json.dumps(tf.locals["common_environment"]) + expressions
    assert not re.search(r"local\.generated|secret_values|terraform_data", values)
    for c in definitions.values():
        assert c["readonlyRootFilesystem"] is True and c["privileged"] is False
        assert c["user"] == "${local.container_user}"
        assert SECRETS.fullmatch(c["secrets"]), c["secrets"]
        assert c["logConfiguration"]["logDriver"] == "awslogs"
        assert c["mountPoints"] == "${local.volumes}"
    service, migrate = definitions["service"], definitions["migrate"]
    assert (service["entryPoint"], service["command"]) == (["aicc"], ["serve", "${each.key}"])
    group = service["logConfiguration"]["options"]["awslogs-group"]
    assert group == "${aws_cloudwatch_log_group.service[each.key].name}"
    assert migrate["command"] == ["db", "upgrade"]
    release = tf.resource["terraform_data"]["migrate"]  # migrate, then roll
    assert release["triggers_replace"] == ["${aws_ecs_task_definition.migrate.arn}"]
    assert "${terraform_data.migrate}" in tf.resource["aws_ecs_service"]["service"]["depends_on"]
    assert tf.locals["migration_secrets"] == ["DATABASE_URL"]
    assert not tf.locals["container_user"].startswith("0")
    assert {v["containerPath"] for v in tf.locals["volumes"]} == {"${local.data_dir}", "/tmp"}
    assert tf.locals["common_environment"]["AICC_DATA_DIR"] == "${local.data_dir}"
    assert tf.resource["aws_ecs_service"]["service"]["launch_type"] == "FARGATE"


def test_the_secrets_are_those_the_settings_read_and_are_generated(tf: Config) -> None:
    secret_vars = {name for name, secret in settings_env().items() if secret}
    made = set(tf.locals["secret_slugs"]) | {"AICC_PREVIOUS_ENCRYPTION_KEYS"}
    assert made == secret_vars - {"JWT_SECRET"}  # HS256 only, the weaker option: not made
    values = tf.locals["secret_values"]
    assert set(ENV_KEY.findall(values)) == set(tf.locals["secret_slugs"])
    assert 'DATABASE_URL = "postgresql://${var.db_username}:${local.generated.db_pass' in values
    assert 'REDIS_URL = "rediss://:${local.generated.redis_auth}@' in values
    assert re.search(r"ENCRYPTION_KEY = local\.generated\.encryption_key\b", values)
    assert all(int(n) >= 24 for n in re.findall(r"= (\d+)", tf.locals["generated_lengths"]))
    pinned = tf.resource["terraform_data"]["generated"]
    assert pinned["input"].startswith("${data.aws_secretsmanager_random_password.generated[")
    assert one(pinned, "lifecycle")["ignore_changes"] == ["input"]
    secret = tf.resource["aws_secretsmanager_secret"]["app"]
    assert (secret["kms_key_id"], secret["name"]) == (KEY, "aicc/${local.secret_slugs[each.key]}")
    version = tf.resource["aws_secretsmanager_secret_version"]["app"]
    assert version["secret_string"] == "${local.secret_values[each.key]}"


def test_autoscaling_on_cpu_and_on_requests_per_target(tf: Config) -> None:
    target = tf.resource["aws_appautoscaling_target"]["service"]
    assert target["resource_id"] == (
        "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.service[each.key].name}"
    )
    metrics = {}
    for policy in tf.resource["aws_appautoscaling_policy"].values():
        assert policy["for_each"] == "${local.services}"
        config = one(policy, "target_tracking_scaling_policy_configuration")
        spec = one(config, "predefined_metric_specification")
        metrics[spec["predefined_metric_type"]] = spec
    assert set(metrics) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    assert metrics["ALBRequestCountPerTarget"]["resource_label"] == (
        "${aws_lb.main.arn_suffix}/${aws_lb_target_group.service[each.key].arn_suffix}"
    )


def test_database_cache_bucket_and_key_are_encrypted_and_kept(tf: Config) -> None:
    db = tf.resource["aws_db_instance"]["main"]
    assert (db["identifier"], db["engine"]) == ("${local.db_identifier}", "postgres")
    assert db["storage_encrypted"] is True and db["kms_key_id"] == KEY
    assert db["publicly_accessible"] is False
    assert (db["deletion_protection"], db["skip_final_snapshot"]) == (True, False)
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert tf.default("db_backup_retention_days") >= 7 and db["multi_az"] == "${var.db_multi_az}"
    assert db["iam_database_authentication_enabled"] and db["performance_insights_enabled"]
    params = tf.resource["aws_db_parameter_group"]["main"]["parameter"]
    assert {"name": "rds.force_ssl", "value": "1"} in params
    redis = tf.resource["aws_elasticache_replication_group"]["main"]
    assert redis["replication_group_id"] == "${local.redis_id}" and redis["kms_key_id"] == KEY
    assert redis["transit_encryption_enabled"] and redis["at_rest_encryption_enabled"]
    assert redis["auth_token"] == "${local.generated.redis_auth}"
    assert tf.resource["aws_kms_key"]["main"]["enable_key_rotation"] is True
    bucket = {
        kind: named["recordings"] for kind, named in tf.resource.items() if "recordings" in named
    }
    sse = one(bucket["aws_s3_bucket_server_side_encryption_configuration"], "rule")
    default = one(sse, "apply_server_side_encryption_by_default")
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": KEY}
    versioning = one(bucket["aws_s3_bucket_versioning"], "versioning_configuration")
    assert versioning["status"] == "Enabled"
    blocked = bucket["aws_s3_bucket_public_access_block"]
    assert [blocked[k] for k in blocked if k != "bucket"] == [True] * 4
    assert bucket["aws_s3_bucket_logging"]["target_bucket"] == "${aws_s3_bucket.logs.id}"
    rules = bucket["aws_s3_bucket_lifecycle_configuration"]["rule"]
    assert not any("days" in e for r in rules for e in r.get("expiration", []))  # the service's
    assert any(
        {"noncurrent_version_expiration", "abort_incomplete_multipart_upload"} <= set(r)
        for r in rules
    )
    tls = tf.data["aws_iam_policy_document"]["recordings_bucket"]["statement"][0]
    assert (tls["effect"], one(tls, "condition")["variable"]) == ("Deny", "aws:SecureTransport")
    retention = load_settings(env_file=None).recording  # the defaults of docs/recording.md
    assert tf.default("recording_retention_voice_days") == retention.retention_voice_days
    assert tf.default("recording_retention_chat_days") == retention.retention_chat_days


def test_log_groups_and_alarms(tf: Config) -> None:
    for group in tf.resource["aws_cloudwatch_log_group"].values():
        assert group["kms_key_id"] == KEY
        assert group["retention_in_days"] == "${var.log_retention_days}"
    alarms = tf.resource["aws_cloudwatch_metric_alarm"].values()
    watched = {(a["namespace"], a["metric_name"]) for a in alarms if "namespace" in a}
    assert watched >= {
        ("AWS/ECS", "CPUUtilization"), ("AWS/ECS", "MemoryUtilization"),
        ("AWS/ApplicationELB", "TargetResponseTime"), ("AWS/RDS", "CPUUtilization"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"), ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ElastiCache", "EngineCPUUtilization"),
        ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
    }  # fmt: skip
    assert all(a["alarm_actions"] == "${local.alarm_actions}" for a in alarms)
    assert tf.locals["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    assert tf.resource["aws_sns_topic"]["alarms"]["kms_master_key_id"] == KEY
    spec = tf.default("alarm_thresholds")
    spec_rules = {"cpu_percent": 80, "memory_percent": 85, "disk_percent": 90}
    assert {k: spec[k] for k in spec_rules} == spec_rules and spec["response_time_seconds"] == 5


def test_checkov_finds_nothing_unexplained() -> None:
    checkov = python_tool("checkov", "checkov>=3.2.0") / "checkov"
    command = [str(checkov), "-d", str(TERRAFORM), "--framework", "terraform"]
    command += ["--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=TERRAFORM)
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and result.returncode == 0, failed or result.stderr[-2000:]
    assert report["summary"]["passed"] > 300
    skipped = report["results"]["skipped_checks"]
    assert all(c["check_result"].get("suppress_comment") for c in skipped)


def test_terraform_validate(tmp_path: Path) -> None:
    """With the machine's terraform and its AWS provider mirror (TF_PLUGIN_MIRROR, by default
    /opt/tf-plugins): terraform is not on PyPI, Debian or npm, so it is not installed here."""
    binary = shutil.which("terraform")
    mirror = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
    if binary is None or not (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"terraform or its AWS provider mirror ({mirror}) is not on this machine")
    work = tmp_path / "deploy"
    shutil.copytree(TERRAFORM, work / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    (work / "observability").mkdir()
    shutil.copy(DASHBOARD, work / "observability")
    (tmp_path / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc")}
    env |= {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    for step in (["init", "-backend=false", "-input=false"], ["validate", "-json"]):
        command, folder = [binary, *step, "-no-color"], work / "terraform"
        result = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["valid"] and report["diagnostics"] == [], report
