# Log groups (the spec's /ecs/aicc-<service>, all encrypted with the AICC key), the alarm topic,
# the alarms of the spec's alert rules (CPU > 80 % and memory > 85 % for 5 minutes, disk > 90 %
# for 1 minute, response time > 5 s for 3 minutes) plus the load balancer's, the database's and
# the cache's, and the spec's CloudWatch dashboard (deploy/observability/cloudwatch-dashboard.json).

# --- log groups --------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.services

  name              = "/ecs/aicc-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "migrate" {
  name              = "/ecs/aicc-migrate"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "exec" {
  name              = "/ecs/aicc-exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/aicc-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-aicc"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "rds" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${local.db_identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "redis" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "/aws/elasticache/${local.redis_id}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# --- alarm topic -------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  name              = "aicc-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  redis_nodes   = ["${local.redis_id}-001", "${local.redis_id}-002"]
  t             = var.alarm_thresholds
}

# --- ECS ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "ecs_cpu" {
  for_each = local.services

  alarm_name          = "aicc-${each.key}-cpu-high"
  alarm_description   = "aicc-${each.key}: CPU above ${local.t.cpu_percent} % for 5 minutes"
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = { ClusterName = local.cluster_name, ServiceName = aws_ecs_service.service[each.key].name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.cpu_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ecs_memory" {
  for_each = local.services

  alarm_name          = "aicc-${each.key}-memory-high"
  alarm_description   = "aicc-${each.key}: memory above ${local.t.memory_percent} % for 5 minutes"
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = { ClusterName = local.cluster_name, ServiceName = aws_ecs_service.service[each.key].name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.memory_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- load balancer -----------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "response_time" {
  for_each = local.services

  alarm_name          = "aicc-${each.key}-response-time-high"
  alarm_description   = "aicc-${each.key}: p95 response time above ${local.t.response_time_seconds} s for 3 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.service[each.key].arn_suffix }
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 3
  threshold           = local.t.response_time_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  for_each = local.services

  alarm_name          = "aicc-${each.key}-5xx"
  alarm_description   = "aicc-${each.key}: more than ${local.t.alb_5xx_per_5min} 5xx answers in 5 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.service[each.key].arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = local.t.alb_5xx_per_5min
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each = local.services

  alarm_name          = "aicc-${each.key}-unhealthy-targets"
  alarm_description   = "aicc-${each.key}: a task fails the ALB health check (/health) for 3 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.service[each.key].arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "aicc-alb-5xx"
  alarm_description   = "aicc-alb: more than ${local.t.alb_5xx_per_5min} 5xx answers of its own (no healthy target, timeouts) in 5 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = local.t.alb_5xx_per_5min
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- RDS ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "aicc-db-cpu-high"
  alarm_description   = "${local.db_identifier}: CPU above ${local.t.cpu_percent} % for 5 minutes"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.cpu_percent
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "db_storage" {
  alarm_name          = "aicc-db-storage-low"
  alarm_description   = "${local.db_identifier}: less than ${local.t.db_free_storage_bytes} bytes free"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = local.t.db_free_storage_bytes
  comparison_operator = "LessThanThreshold"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  alarm_name          = "aicc-db-connections-high"
  alarm_description   = "${local.db_identifier}: more than ${local.t.db_connections} connections for 5 minutes (each task pools up to DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW)"
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.db_connections
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- ElastiCache -------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "redis_cpu" {
  for_each = toset(local.redis_nodes)

  alarm_name          = "aicc-redis-${each.key}-cpu-high"
  alarm_description   = "${each.key}: Redis engine CPU above ${local.t.cpu_percent} % for 5 minutes"
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = each.key, CacheNodeId = "0001" }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.cpu_percent
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  depends_on          = [aws_elasticache_replication_group.main]
}

resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  for_each = toset(local.redis_nodes)

  alarm_name          = "aicc-redis-${each.key}-memory-high"
  alarm_description   = "${each.key}: Redis memory above ${local.t.redis_memory_percent} % for 5 minutes (noeviction: writes fail when full)"
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.key, CacheNodeId = "0001" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = local.t.redis_memory_percent
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  depends_on          = [aws_elasticache_replication_group.main]
}

# --- what the monitoring service publishes (namespace var.cloudwatch_namespace) ----------
# Their dimensions carry values known only at run time (mount path, queue), so these alarms
# aggregate with CloudWatch Metrics Insights.

resource "aws_cloudwatch_metric_alarm" "disk" {
  alarm_name          = "aicc-disk-usage-high"
  alarm_description   = "Disk of the monitoring service's data folder above ${local.t.disk_percent} % for 1 minute (system_disk_usage_percent)"
  evaluation_periods  = 1
  threshold           = local.t.disk_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "disk"
    label       = "system_disk_usage_percent"
    return_data = true
    period      = 60
    expression  = "SELECT MAX(system_disk_usage_percent) FROM SCHEMA(\"${var.cloudwatch_namespace}\", path, service)"
  }
}

resource "aws_cloudwatch_metric_alarm" "connect_oldest_contact" {
  count = var.connect_instance_id != "" ? 1 : 0

  alarm_name          = "aicc-connect-oldest-contact"
  alarm_description   = "A contact has waited more than ${local.t.connect_oldest_contact_secs} s in an Amazon Connect queue for 3 minutes"
  evaluation_periods  = 3
  threshold           = local.t.connect_oldest_contact_secs
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "oldest"
    label       = "aicc_connect_oldest_contact_age_seconds"
    return_data = true
    period      = 60
    expression  = "SELECT MAX(aicc_connect_oldest_contact_age_seconds) FROM SCHEMA(\"${var.cloudwatch_namespace}\", channel, queue)"
  }
}

resource "aws_cloudwatch_metric_alarm" "publishing_stopped" {
  count = var.cloudwatch_publishing ? 1 : 0

  alarm_name          = "aicc-cloudwatch-publishing-stopped"
  alarm_description   = "The monitoring service has published no system_cpu_usage_percent for 10 minutes (no replica running, or PutMetricData failing)"
  evaluation_periods  = 10
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "samples"
    label       = "system_cpu_usage_percent samples"
    return_data = true
    period      = 60
    expression  = "SELECT COUNT(system_cpu_usage_percent) FROM SCHEMA(\"${var.cloudwatch_namespace}\", service)"
  }
}

# --- dashboard ---------------------------------------------------------------------------

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "aicc-common-services"
  dashboard_body = templatefile("${path.module}/../observability/cloudwatch-dashboard.json", {
    region                   = local.region
    namespace                = var.cloudwatch_namespace
    cluster                  = local.cluster_name
    load_balancer            = aws_lb.main.arn_suffix
    target_group_monitoring  = aws_lb_target_group.service["monitoring"].arn_suffix
    target_group_recording   = aws_lb_target_group.service["recording"].arn_suffix
    target_group_integration = aws_lb_target_group.service["integration"].arn_suffix
    target_group_auth        = aws_lb_target_group.service["auth"].arn_suffix
    db_instance              = aws_db_instance.main.identifier
    redis_group              = aws_elasticache_replication_group.main.id
    recordings_bucket        = aws_s3_bucket.recordings.id
  })
}
