# ECS cluster `aicc-cluster`, one Fargate task definition and service per wing (family and
# service aicc-<service>, awslogs to /ecs/aicc-<service>, secrets from Secrets Manager,
# read-only root file system with the data folder and /tmp on task storage, no public address),
# each behind its target group and registered in Cloud Map as <service>.<namespace>, with
# autoscaling on CPU and on ALB requests per target. The task definition aicc-migrate runs
# `aicc db upgrade` as the release step (README: migrate, then roll); the services start with
# AICC_AUTO_MIGRATE=false.

resource "aws_ecs_cluster" "main" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enhanced"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.main.arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_service_discovery_private_dns_namespace" "main" {
  name        = var.service_discovery_namespace
  description = "AICC services inside the VPC"
  vpc         = aws_vpc.main.id
}

resource "aws_service_discovery_service" "service" {
  for_each = local.services

  name = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.main.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

locals {
  common_environment = {
    AICC_ENV             = "production"
    AICC_HOST            = "0.0.0.0"
    AICC_DATA_DIR        = local.data_dir
    AICC_AUTO_MIGRATE    = "false"
    AICC_TRUSTED_PROXIES = join(",", var.public_subnet_cidrs)
    AICC_KMS_KEY_ID      = local.kms_alias
    AICC_AUTH_URL        = local.internal_url.auth
    AWS_REGION           = local.region
    S3_BUCKET            = aws_s3_bucket.recordings.id
    LOG_LEVEL            = var.log_level
    PGSSLMODE            = "require"
  }

  service_environment = {
    monitoring = merge(
      {
        AICC_MONITORING_TARGETS   = join(",", [for name in ["recording", "integration", "auth"] : "${name}=${local.internal_url[name]}"])
        AICC_CLOUDWATCH_ENABLED   = tostring(var.cloudwatch_publishing)
        AICC_CLOUDWATCH_NAMESPACE = var.cloudwatch_namespace
      },
      var.connect_instance_id != "" ? { CONNECT_INSTANCE_ID = var.connect_instance_id } : {},
    )
    recording = merge(
      {
        AICC_RECORDING_RETENTION_VOICE_DAYS = tostring(var.recording_retention_voice_days)
        AICC_RECORDING_RETENTION_CHAT_DAYS  = tostring(var.recording_retention_chat_days)
      },
      var.recording_callback_url != "" ? { AICC_RECORDING_CALLBACK_URL = var.recording_callback_url } : {},
    )
    integration = {}
    auth        = {}
  }

  issuer_environment = var.public_base_url != "" ? { AICC_AUTH_ISSUER = var.public_base_url } : {}

  volumes = [
    { sourceVolume = "data", containerPath = local.data_dir, readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
  ]

  linux_parameters = {
    initProcessEnabled = true
    capabilities       = { drop = ["ALL"] }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each = local.services

  family                   = "aicc-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.service_sizes[each.key].cpu
  memory                   = var.service_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.service_sizes[each.key].storage_gib
  }

  volume {
    name = "data"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = local.image[each.key]
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    privileged             = false
    entryPoint             = ["aicc"]
    command                = ["serve", each.key]
    stopTimeout            = each.value.stop
    portMappings = [{
      name          = each.key
      containerPort = each.value.port
      hostPort      = each.value.port
      protocol      = "tcp"
      appProtocol   = "http"
    }]
    environment = [
      for name, value in merge(
        local.common_environment,
        local.issuer_environment,
        { AICC_SHUTDOWN_TIMEOUT = tostring(each.value.stop - 10) },
        local.service_environment[each.key],
      ) :
      { name = name, value = value }
    ]
    secrets = [
      for name in local.service_secrets[each.key] :
      { name = name, valueFrom = local.secret_arns[name] }
    ]
    mountPoints     = local.volumes
    linuxParameters = local.linux_parameters
    ulimits         = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${each.value.port}/health', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }])
}

resource "aws_ecs_task_definition" "migrate" {
  family                   = "aicc-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution["migrate"].arn
  task_role_arn            = aws_iam_role.task["migrate"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "migrate"
    image                  = local.image[var.migration_image_service]
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    privileged             = false
    entryPoint             = ["aicc"]
    command                = ["db", "upgrade"]
    stopTimeout            = 120
    environment = [
      for name, value in { AICC_ENV = "production", AICC_DATA_DIR = local.data_dir, PGSSLMODE = "require", LOG_LEVEL = var.log_level } :
      { name = name, value = value }
    ]
    secrets = [
      for name in local.migration_secrets :
      { name = name, valueFrom = local.secret_arns[name] }
    ]
    mountPoints     = local.volumes
    linuxParameters = local.linux_parameters
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.migrate.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "migrate"
      }
    }
  }])
}

resource "aws_ecs_service" "service" {
  for_each = local.services

  name                              = "aicc-${each.key}"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.service[each.key].arn
  desired_count                     = var.service_sizes[each.key].min_replicas
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  enable_execute_command            = var.enable_execute_command
  enable_ecs_managed_tags           = true
  propagate_tags                    = "SERVICE"
  wait_for_steady_state             = false

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.app[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service[each.key].arn
    container_name   = each.key
    container_port   = each.value.port
  }

  service_registries {
    registry_arn = aws_service_discovery_service.service[each.key].arn
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.service, aws_iam_role_policy.execution, terraform_data.migrate]
}

# --- autoscaling -------------------------------------------------------------------------

resource "aws_appautoscaling_target" "service" {
  for_each = local.services

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.service[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.service_sizes[each.key].min_replicas
  max_capacity       = var.service_sizes[each.key].max_replicas
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = local.services

  name               = "aicc-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  for_each = local.services

  name               = "aicc-${each.key}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.main.arn_suffix}/${aws_lb_target_group.service[each.key].arn_suffix}"
    }
  }
}
