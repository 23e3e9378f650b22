# The release step, in the apply: whenever the migration's task definition changes (a new
# image tag), `aicc db upgrade` runs to completion as a one-off Fargate task before any service
# is created or updated (the services start with AICC_AUTO_MIGRATE=false). It needs bash and
# the AWS CLI where Terraform runs; with run_migration = false, run the aicc-migrate task
# yourself before rolling the services (README).

resource "terraform_data" "migrate" {
  count = var.run_migration ? 1 : 0

  triggers_replace = [aws_ecs_task_definition.migrate.arn]

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    command     = <<-EOT
      set -euo pipefail
      task=$(aws ecs run-task --region "$REGION" --cluster "$CLUSTER" --task-definition "$FAMILY" \
        --launch-type FARGATE --network-configuration "$NETWORK" --started-by terraform-release \
        --query 'tasks[0].taskArn' --output text)
      echo "aicc db upgrade: $task"
      aws ecs wait tasks-stopped --region "$REGION" --cluster "$CLUSTER" --tasks "$task"
      code=$(aws ecs describe-tasks --region "$REGION" --cluster "$CLUSTER" --tasks "$task" \
        --query "tasks[0].containers[?name=='migrate'] | [0].exitCode" --output text)
      if [ "$code" != "0" ]; then
        echo "aicc db upgrade failed (exit code $code); see the log group /ecs/aicc-migrate" >&2
        exit 1
      fi
    EOT

    environment = {
      REGION  = local.region
      CLUSTER = aws_ecs_cluster.main.name
      FAMILY  = aws_ecs_task_definition.migrate.arn
      NETWORK = jsonencode({
        awsvpcConfiguration = {
          subnets        = aws_subnet.app[*].id
          securityGroups = [aws_security_group.tasks.id]
          assignPublicIp = "DISABLED"
        }
      })
    }
  }

  depends_on = [
    aws_ecs_cluster_capacity_providers.main,
    aws_iam_role_policy.execution,
    aws_iam_role_policy_attachment.execution,
    aws_secretsmanager_secret_version.app,
    aws_route_table_association.app,
    aws_vpc_endpoint.s3,
    aws_vpc_security_group_egress_rule.tasks_https,
    aws_vpc_security_group_egress_rule.tasks_to_db,
    aws_vpc_security_group_ingress_rule.db_from_tasks,
  ]
}
