# AICC Common Services on AWS: the spec's network (VPC 10.0.0.0/16, public subnets 10.0.1.0/24
# and 10.0.2.0/24 for the ALB `aicc-alb`), ECS Fargate cluster `aicc-cluster` running the four
# wings, RDS PostgreSQL `aicc-common-services-db`, ElastiCache Redis
# `aicc-common-services-redis`, the KMS key `alias/aicc-encryption`, the recordings bucket,
# Secrets Manager entries, log groups, the CloudWatch dashboard and alarms.
# How to deploy and what was chosen where the spec is silent: README.md in this folder.

terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }

  # State holds the generated secrets: keep it in an encrypted, versioned bucket, e.g.
  # terraform init -backend-config="bucket=..." -backend-config="key=aicc/terraform.tfstate" \
  #   -backend-config="region=ap-northeast-2" -backend-config="encrypt=true" \
  #   -backend-config="use_lockfile=true"
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = "aicc-common-services"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
