# The spec's image repositories aicc-<service>. deploy/aws/deploy_common_services.sh creates the
# same names; when it already made them, set create_ecr_repositories = false (or import them).

resource "aws_ecr_repository" "service" {
  for_each = var.create_ecr_repositories ? local.services : {}

  name                 = "aicc-${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each = aws_ecr_repository.service

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 50 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}

locals {
  image = {
    for name, _ in local.services :
    name => "${local.account_id}.dkr.ecr.${local.region}.amazonaws.com/aicc-${name}:${var.image_tag}"
  }
}
