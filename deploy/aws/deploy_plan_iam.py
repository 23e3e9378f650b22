"""IAM for deploy_common_services.sh: one execution role, one task role per service that calls
AWS, each with only the actions that service makes (see docs/*.md and the AWS clients in src)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy_plan_base import SERVICES, canonical, emit, env, load, project_tags


def _statement(sid: str, actions: list[str], resources: list[str] | str, **extra: Any) -> Any:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def wanted_roles() -> dict[str, Any]:
    """The execution role (pull images, write logs, read our secrets) and one task role per
    service that calls AWS; auth and the migration call none, so they get no task role."""
    p, region, account = env("PARTITION"), env("REGION"), env("ACCOUNT_ID")
    repos = [f"arn:{p}:ecr:{region}:{account}:repository/aicc-{s}" for s in (*SERVICES, "migrate")]
    groups = [
        f"arn:{p}:logs:{region}:{account}:log-group:/ecs/aicc-{s}:log-stream:*"
        for s in (*SERVICES, "migrate")
    ]
    secrets = sorted(a for a in env("SECRET_ARNS").split(",") if a)
    execution = [
        _statement("Token", ["ecr:GetAuthorizationToken"], "*"),
        _statement(
            "Pull",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            repos,
        ),
        _statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], groups),
        _statement("Secrets", ["secretsmanager:GetSecretValue"], secrets),
    ]
    kms = env("KMS_KEY_ARN")
    kms_use = (
        [
            _statement(
                "DataKeys",
                ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
                [kms],
            )
        ]
        if kms
        else []
    )
    identities = [
        f"arn:{p}:ses:*:{account}:identity/*",
        f"arn:{p}:ses:*:{account}:configuration-set/*",
    ]
    send_email = _statement("Email", ["ses:SendEmail", "ses:SendRawEmail"], identities)
    bucket = env("S3_BUCKET")
    recording = [
        _statement("Bucket", ["s3:ListBucket"], [f"arn:{p}:s3:::{bucket}"]),
        _statement(
            "Objects",
            [
                "s3:AbortMultipartUpload",
                "s3:DeleteObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            ],
            [f"arn:{p}:s3:::{bucket}/*"],
        ),
        *kms_use,
    ]
    monitoring = [
        _statement(
            "Metrics",
            ["cloudwatch:PutMetricData"],
            "*",
            Condition={"StringEquals": {"cloudwatch:namespace": "AICC/ContactCenter"}},
        ),
        _statement("Topics", ["sns:Publish"], [f"arn:{p}:sns:*:{account}:*"]),
        send_email,
    ]
    instance = env("CONNECT_INSTANCE_ID")
    if instance:
        base = f"arn:{p}:connect:{region}:{account}:instance/{instance}"
        monitoring.append(
            _statement(
                "ConnectRead",
                [
                    "connect:GetCurrentMetricData",
                    "connect:GetCurrentUserData",
                    "connect:ListQueues",
                    "connect:ListRoutingProfileQueues",
                ],
                [base, f"{base}/*"],
            )
        )
    integration = [
        # SMS to a phone number has no resource ARN to name: sns:Publish needs "*".
        _statement("Sms", ["sns:GetSMSAttributes", "sns:Publish"], "*"),
        _statement("EmailAccount", ["ses:GetAccount"], "*"),
        send_email,
        *kms_use,
    ]
    ecs_tasks = {"Service": "ecs-tasks.amazonaws.com"}
    plain_trust = {"Effect": "Allow", "Principal": ecs_tasks, "Action": "sts:AssumeRole"}
    task_trust = {
        **plain_trust,
        "Condition": {
            "ArnLike": {"aws:SourceArn": f"arn:{p}:ecs:{region}:{account}:*"},
            "StringEquals": {"aws:SourceAccount": account},
        },
    }

    def doc(statements: list[Any]) -> Any:
        return {"Version": "2012-10-17", "Statement": statements}

    roles = {"aicc-ecs-execution": (plain_trust, execution)}
    roles.update(
        {
            "aicc-monitoring-task": (task_trust, monitoring),
            "aicc-recording-task": (task_trust, recording),
            "aicc-integration-task": (task_trust, integration),
        }
    )
    return {name: {"trust": doc([t]), "policy": doc(s)} for name, (t, s) in roles.items()}


def plan_iam(details_file: str, out_dir: str) -> None:
    current = {r["RoleName"]: r for r in (load(details_file) or [])}
    out = Path(out_dir)
    for name, want in wanted_roles().items():
        role = current.get(name)
        if role is None:
            emit(
                out,
                "iam create-role",
                name,
                {
                    "RoleName": name,
                    "Path": "/aicc/",
                    "AssumeRolePolicyDocument": canonical(want["trust"]),
                    "Tags": project_tags("Key", "Value"),
                },
            )
        elif canonical(role.get("AssumeRolePolicyDocument")) != canonical(want["trust"]):
            emit(
                out,
                "iam update-assume-role-policy",
                name,
                {"RoleName": name, "PolicyDocument": canonical(want["trust"])},
            )
        policies = {
            p["PolicyName"]: p["PolicyDocument"] for p in (role or {}).get("RolePolicyList", [])
        }
        if canonical(policies.get("aicc")) != canonical(want["policy"]):
            emit(
                out,
                "iam put-role-policy",
                name,
                {
                    "RoleName": name,
                    "PolicyName": "aicc",
                    "PolicyDocument": canonical(want["policy"]),
                },
            )
