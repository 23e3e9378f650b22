# Roles of the tasks. Each service (and the migration) has its own execution role, which pulls
# the image, writes its log group and reads only its own secrets, and its own task role, which
# is what the service's code may do in AWS:
#   every service   wrap and unwrap data keys with the AICC key (AICC_KMS_KEY_ID)
#   recording       read and write objects in the recordings bucket
#   monitoring      PutMetricData to its namespace, read Amazon Connect's real-time metrics,
#                   publish alerts to SNS and SES
#   integration     publish to SNS and SES for notification integrations

locals {
  task_families = merge(
    { for name, _ in local.services : name => local.service_secrets[name] },
    { migrate = local.migration_secrets },
  )
  connect_instance_arn = "arn:${local.partition}:connect:${local.region}:${local.account_id}:instance/${var.connect_instance_id}"
  sns_topics           = concat([aws_sns_topic.alarms.arn], var.notification_sns_arns)
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- execution roles ---------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  for_each = local.task_families

  name               = "aicc-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each = local.task_families

  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution" {
  for_each = local.task_families

  statement {
    sid       = "OwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for name in each.value : local.secret_arns[name]]
  }

  statement {
    sid       = "DecryptSecretsAndImages"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.task_families

  name   = "secrets"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

# --- task roles --------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  for_each = local.task_families

  name               = "aicc-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  for_each = local.services

  statement {
    sid       = "DataKeys"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }

  dynamic "statement" {
    for_each = each.key == "recording" ? [1] : []
    content {
      sid       = "RecordingsBucket"
      actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
      resources = [aws_s3_bucket.recordings.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "recording" ? [1] : []
    content {
      sid = "RecordingObjects"
      actions = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
      ]
      resources = ["${aws_s3_bucket.recordings.arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "monitoring" ? [1] : []
    content {
      sid       = "PublishMetrics"
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [var.cloudwatch_namespace]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "monitoring" && var.connect_instance_id != "" ? [1] : []
    content {
      sid = "ReadConnectRealTimeMetrics"
      actions = [
        "connect:ListQueues",
        "connect:GetCurrentMetricData",
        "connect:GetCurrentUserData",
        "connect:ListRoutingProfileQueues",
      ]
      resources = [local.connect_instance_arn, "${local.connect_instance_arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = contains(["monitoring", "integration"], each.key) ? [1] : []
    content {
      sid       = "PublishNotifications"
      actions   = ["sns:Publish", "sns:GetTopicAttributes"]
      resources = local.sns_topics
    }
  }

  dynamic "statement" {
    for_each = contains(["monitoring", "integration"], each.key) && length(var.ses_identity_arns) > 0 ? [1] : []
    content {
      sid       = "SendEmail"
      actions   = ["ses:SendEmail", "ses:SendRawEmail"]
      resources = var.ses_identity_arns
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [1] : []
    content {
      sid = "ExecuteCommand"
      actions = [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.services

  name   = "service"
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
