# Inputs. Only `certificate_arn` and `image_tag` have no default; every secret is generated
# (secrets.tf), none is an input.

variable "region" {
  description = "AWS region of every resource (the spec's: Seoul)."
  type        = string
  default     = "ap-northeast-2"
}

variable "environment" {
  description = "Environment name, used in tags."
  type        = string
  default     = "production"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- network -----------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "The spec's VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "availability_zones" {
  description = "The two zones of the subnets, pinned so that placement never moves."
  type        = list(string)
  default     = ["ap-northeast-2a", "ap-northeast-2c"]

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "Two availability zones."
  }
}

variable "public_subnet_cidrs" {
  description = "The spec's public subnets, one per availability zone: the ALB and the NAT gateways only."
  type        = list(string)
  default     = ["10.0.1.0/24", "10.0.2.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 2
    error_message = "Two public subnets (two availability zones), as the spec has."
  }
}

variable "app_subnet_cidrs" {
  description = "Private subnets of the ECS tasks (no public addresses; egress through NAT)."
  type        = list(string)
  default     = ["10.0.11.0/24", "10.0.12.0/24"]

  validation {
    condition     = length(var.app_subnet_cidrs) == 2
    error_message = "One task subnet per availability zone of the public subnets."
  }
}

variable "data_subnet_cidrs" {
  description = "Isolated subnets of the database and the cache (no route out of the VPC)."
  type        = list(string)
  default     = ["10.0.21.0/24", "10.0.22.0/24"]

  validation {
    condition     = length(var.data_subnet_cidrs) == 2
    error_message = "One data subnet per availability zone of the public subnets."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per availability zone (true) or one shared (false: cheaper, loses egress when its zone fails)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints for ECR, CloudWatch Logs and metrics, Secrets Manager, KMS, SNS and STS, so that AWS traffic stays off the NAT gateways."
  type        = bool
  default     = false
}

# --- load balancer -----------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener (in this region)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "An ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "public_base_url" {
  description = "The HTTPS address clients use (e.g. https://aicc.example.com); the token issuer. Empty: the auth service's internal address is the issuer."
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https://[^/]+$", var.public_base_url))
    error_message = "https://host, without a path or a trailing slash."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds an idle connection (a paused recording stream) stays open through the ALB."
  type        = number
  default     = 120
}

variable "waf_rate_limit" {
  description = "Requests one client address may make in five minutes before WAF blocks it."
  type        = number
  default     = 3000
}

# --- services ----------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the images in the ECR repositories aicc-<service> (immutable tags: a release version or commit)."
  type        = string
}

variable "create_ecr_repositories" {
  description = "Create the ECR repositories aicc-<service> here (false when the deploy script made them)."
  type        = bool
  default     = true
}

variable "service_sizes" {
  description = "Fargate CPU units, memory (MiB), ephemeral storage (GiB) and replica bounds of each service."
  type = map(object({
    cpu          = number
    memory       = number
    storage_gib  = number
    min_replicas = number
    max_replicas = number
  }))
  default = {
    monitoring  = { cpu = 512, memory = 1024, storage_gib = 21, min_replicas = 2, max_replicas = 4 }
    recording   = { cpu = 1024, memory = 2048, storage_gib = 40, min_replicas = 2, max_replicas = 10 }
    integration = { cpu = 512, memory = 1024, storage_gib = 21, min_replicas = 2, max_replicas = 10 }
    auth        = { cpu = 1024, memory = 2048, storage_gib = 21, min_replicas = 2, max_replicas = 10 }
  }

  validation {
    condition     = toset(keys(var.service_sizes)) == toset(["monitoring", "recording", "integration", "auth"])
    error_message = "One entry for each of monitoring, recording, integration and auth."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU of a service that autoscaling keeps it at."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "ALB requests per task per minute that autoscaling keeps a service at."
  type        = number
  default     = 1000
}

variable "run_migration" {
  description = "Run `aicc db upgrade` (the aicc-migrate task) to completion in the apply, before the services roll; needs bash and the AWS CLI where Terraform runs (release.tf)."
  type        = bool
  default     = true
}

variable "migration_image_service" {
  description = "Whose image runs the release step `aicc db upgrade` (every image carries the migrations)."
  type        = string
  default     = "auth"
}

variable "service_discovery_namespace" {
  description = "Private DNS name the services find each other under (auth.<name>:8003 for the JWKS, the scrape targets of monitoring)."
  type        = string
  default     = "aicc.internal"
}

variable "enable_execute_command" {
  description = "Allow `aws ecs execute-command` into the tasks (sessions logged and encrypted)."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "LOG_LEVEL of every service."
  type        = string
  default     = "INFO"
}

variable "connect_instance_id" {
  description = "Amazon Connect instance the monitoring service polls (CONNECT_INSTANCE_ID); empty: none."
  type        = string
  default     = ""
}

variable "cloudwatch_publishing" {
  description = "The monitoring service publishes the spec's metrics and the Connect gauges to CloudWatch (AICC_CLOUDWATCH_ENABLED)."
  type        = bool
  default     = true
}

variable "cloudwatch_namespace" {
  description = "Namespace of the published metrics (AICC_CLOUDWATCH_NAMESPACE), shown on the dashboard."
  type        = string
  default     = "AICC/ContactCenter"
}

variable "recording_retention_voice_days" {
  description = "AICC_RECORDING_RETENTION_VOICE_DAYS: days a completed voice recording is kept; 0 keeps it until deleted (docs/recording.md)."
  type        = number
  default     = 0
}

variable "recording_retention_chat_days" {
  description = "AICC_RECORDING_RETENTION_CHAT_DAYS: the same for chat transcripts."
  type        = number
  default     = 0
}

variable "recording_callback_url" {
  description = "AICC_RECORDING_CALLBACK_URL; when set, a callback secret is generated too."
  type        = string
  default     = ""
}

variable "previous_encryption_keys_secret_arn" {
  description = "Secrets Manager ARN of AICC_PREVIOUS_ENCRYPTION_KEYS (older master keys still read after a rotation of ENCRYPTION_KEY); empty: none."
  type        = string
  default     = ""
}

variable "notification_sns_arns" {
  description = "SNS topics the monitoring and integration services may publish to (alert channels, SNS integrations), besides the alarm topic."
  type        = list(string)
  default     = []
}

variable "ses_identity_arns" {
  description = "SES identities the monitoring and integration services may send e-mail from; empty: no SES."
  type        = list(string)
  default     = []
}

# --- data --------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class (Performance Insights needs medium or larger)."
  type        = string
  default     = "db.m6g.large"
}

variable "db_engine_version" {
  description = "PostgreSQL major version; minor versions are applied in the maintenance window."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 500
}

variable "db_multi_az" {
  description = "A standby in the second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "Between 7 and 35 days."
  }
}

variable "db_name" {
  description = "Database name (the spec's)."
  type        = string
  default     = "aicc_db"
}

variable "db_username" {
  description = "Master user name (the spec's)."
  type        = string
  default     = "aiccadmin"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m6g.large"
}

variable "redis_engine_version" {
  description = "Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily cache snapshots."
  type        = number
  default     = 7
}

# --- recordings bucket -------------------------------------------------------------------

variable "recordings_bucket_name" {
  description = "Name of the recordings bucket; empty: aicc-recordings-<account id>-<region>."
  type        = string
  default     = ""
}

variable "recordings_infrequent_access_days" {
  description = "Days after which a recording moves to S3 Standard-IA (still read at once)."
  type        = number
  default     = 30
}

variable "recordings_glacier_ir_days" {
  description = "Days after which a recording moves to S3 Glacier Instant Retrieval (still read at once)."
  type        = number
  default     = 90
}

variable "recordings_noncurrent_days" {
  description = "Days a deleted or overwritten object version is kept (the undo window of the bucket's versioning)."
  type        = number
  default     = 30
}

# --- observability -----------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of every log group (a year by default: audits of a contact center)."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by e-mail)."
  type        = list(string)
  default     = []
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: the spec's CPU 80 %, memory 85 %, disk 90 %, response time 5 s, plus the rest."
  type = object({
    cpu_percent                 = number
    memory_percent              = number
    disk_percent                = number
    response_time_seconds       = number
    alb_5xx_per_5min            = number
    db_free_storage_bytes       = number
    db_connections              = number
    redis_memory_percent        = number
    connect_oldest_contact_secs = number
  })
  default = {
    cpu_percent                 = 80
    memory_percent              = 85
    disk_percent                = 90
    response_time_seconds       = 5
    alb_5xx_per_5min            = 25
    db_free_storage_bytes       = 10737418240
    db_connections              = 400
    redis_memory_percent        = 85
    connect_oldest_contact_secs = 180
  }
}
