output "alb_dns_name" {
  description = "Point the public host name (var.public_base_url) here, as an alias record."
  value       = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the ALB, for a Route 53 alias record."
  value       = aws_lb.main.zone_id
}

output "cluster_name" {
  value = aws_ecs_cluster.main.name
}

output "services" {
  description = "ECS service name of each wing."
  value       = { for name, service in aws_ecs_service.service : name => service.name }
}

output "migration_task_definition" {
  description = "Run before rolling the services (README: release)."
  value       = aws_ecs_task_definition.migrate.arn
}

output "migration_network_configuration" {
  description = "awsvpcConfiguration for `aws ecs run-task` of the migration."
  value = {
    subnets        = aws_subnet.app[*].id
    securityGroups = [aws_security_group.tasks.id]
    assignPublicIp = "DISABLED"
  }
}

output "ecr_repositories" {
  value = { for name, _ in local.services : name => "${local.account_id}.dkr.ecr.${local.region}.amazonaws.com/aicc-${name}" }
}

output "db_endpoint" {
  value = aws_db_instance.main.address
}

output "redis_primary_endpoint" {
  value = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "recordings_bucket" {
  value = aws_s3_bucket.recordings.id
}

output "kms_key_arn" {
  value = aws_kms_key.main.arn
}

output "secret_arns" {
  description = "Secrets Manager entry of each secret (values never leave Secrets Manager and the state)."
  value       = { for name, secret in aws_secretsmanager_secret.app : name => secret.arn }
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  value = aws_cloudwatch_dashboard.main.dashboard_name
}
