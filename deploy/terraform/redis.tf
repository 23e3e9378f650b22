# ElastiCache Redis `aicc-common-services-redis`: a primary and a replica in the two zones
# with automatic failover, TLS in transit (REDIS_URL is rediss://), encrypted at rest with the
# AICC key, an AUTH token generated in secrets.tf. The services keep sessions, revocations,
# locks, breakers and job wake-ups here, so an eviction is a bug: noeviction.

resource "aws_elasticache_subnet_group" "main" {
  name        = "aicc-redis"
  description = "Isolated data subnets of aicc-common-services-redis"
  subnet_ids  = aws_subnet.data[*].id
}

resource "aws_elasticache_parameter_group" "main" {
  name        = "aicc-redis7"
  family      = "redis7"
  description = "AICC: never evict keys"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.redis_id
  description          = "AICC cache, locks, sessions and job wake-ups"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.main.name

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.main.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = local.generated.redis_auth
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = "16:00-17:00"
  maintenance_window         = "sun:19:30-sun:20:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis["slow-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis["engine-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "engine-log"
  }
}
