# The secrets the services read (src/aicc/core/config.py, config_services.py), one Secrets
# Manager entry each, encrypted with the AICC key, handed to the containers through the task
# definitions' `secrets` (never `environment`). Names are those deploy/aws/deploy_common_services.sh
# uses (aicc/<name>):
#   DATABASE_URL, REDIS_URL, ENCRYPTION_KEY    every service (AICC_ENV=production refuses to start without them)
#   AICC_BOOTSTRAP_ADMIN_PASSWORD              auth: the first SUPER_ADMIN, so no password is printed to the logs
#   AICC_METRICS_TOKEN                         monitoring: bearer token of its /metrics
#   AICC_RECORDING_CALLBACK_SECRET             recording, with var.recording_callback_url
#   AICC_PREVIOUS_ENCRYPTION_KEYS              every service, from var.previous_encryption_keys_secret_arn
#                                              (made by hand when ENCRYPTION_KEY is rotated; README)
# JWT_SECRET is not made: it switches tokens to HS256, the weaker option (README, auth service).
#
# Values are generated, never defaults: AWS's GetRandomPassword (a CSPRNG) is read once and
# pinned in terraform_data, so later plans keep it (what random_password does, with no provider
# besides aws). A new value: terraform apply -replace='terraform_data.generated["<name>"]'.
# They are in the state, which must live in an encrypted bucket (versions.tf).

locals {
  generated_lengths = merge(
    {
      db_password     = 40
      redis_auth      = 64
      encryption_key  = 64
      bootstrap_admin = 24
      metrics_token   = 48
    },
    var.recording_callback_url != "" ? { callback_secret = 64 } : {},
  )

  secret_slugs = {
    DATABASE_URL                   = "database-url"
    REDIS_URL                      = "redis-url"
    ENCRYPTION_KEY                 = "encryption-key"
    AICC_BOOTSTRAP_ADMIN_PASSWORD  = "bootstrap-admin-password"
    AICC_METRICS_TOKEN             = "metrics-token"
    AICC_RECORDING_CALLBACK_SECRET = "recording-callback-secret"
  }

  previous_keys  = var.previous_encryption_keys_secret_arn != "" ? ["AICC_PREVIOUS_ENCRYPTION_KEYS"] : []
  common_secrets = concat(["DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY"], local.previous_keys)
  service_secrets = {
    monitoring  = concat(local.common_secrets, ["AICC_METRICS_TOKEN"])
    recording   = concat(local.common_secrets, var.recording_callback_url != "" ? ["AICC_RECORDING_CALLBACK_SECRET"] : [])
    integration = local.common_secrets
    auth        = concat(local.common_secrets, ["AICC_BOOTSTRAP_ADMIN_PASSWORD"])
  }
  migration_secrets = ["DATABASE_URL"]
  secret_names      = toset([for name in flatten(values(local.service_secrets)) : name if contains(keys(local.secret_slugs), name)])
  secret_arns = merge(
    { for name, secret in aws_secretsmanager_secret.app : name => secret.arn },
    var.previous_encryption_keys_secret_arn != "" ? { AICC_PREVIOUS_ENCRYPTION_KEYS = var.previous_encryption_keys_secret_arn } : {},
  )

  generated = { for name, value in terraform_data.generated : name => sensitive(value.output) }

  secret_values = merge(
    {
      DATABASE_URL                  = "postgresql://${var.db_username}:${local.generated.db_password}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${var.db_name}"
      REDIS_URL                     = "rediss://:${local.generated.redis_auth}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0"
      ENCRYPTION_KEY                = local.generated.encryption_key
      AICC_BOOTSTRAP_ADMIN_PASSWORD = local.generated.bootstrap_admin
      AICC_METRICS_TOKEN            = local.generated.metrics_token
    },
    var.recording_callback_url != "" ? { AICC_RECORDING_CALLBACK_SECRET = local.generated.callback_secret } : {},
  )
}

data "aws_secretsmanager_random_password" "generated" {
  for_each = local.generated_lengths

  password_length            = each.value
  exclude_punctuation        = true
  require_each_included_type = true
}

resource "terraform_data" "generated" {
  for_each = local.generated_lengths

  input = data.aws_secretsmanager_random_password.generated[each.key].random_password

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:the values live in URLs the services read at start-up; rotate with -replace and a rolling deploy (README)
  for_each = local.secret_names

  name                    = "aicc/${local.secret_slugs[each.key]}"
  description             = "${each.key} of the AICC services"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "app" {
  for_each = local.secret_names

  secret_id     = aws_secretsmanager_secret.app[each.key].id
  secret_string = local.secret_values[each.key]
}
