# Who may talk to whom. Internet → ALB on 443 (and 80, answered with a redirect to 443);
# ALB → tasks on 8000-8003; tasks → tasks on 8000-8003 (every service fetches the auth
# service's JWKS, monitoring scrapes the others' /metrics and /health/ready); tasks →
# PostgreSQL 5432 and Redis 6379; tasks → the internet on 443 only (providers, notification
# channels, AWS APIs). No rule names a CIDR inside the VPC, and nothing reaches a task from
# the internet.

resource "aws_security_group" "alb" {
  name        = "aicc-alb"
  description = "aicc-alb: HTTPS from the internet, HTTP only to redirect"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "aicc-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:port 80 answers only with a permanent redirect to HTTPS (alb.tf)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the services' ports"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8003
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "tasks" {
  name        = "aicc-tasks"
  description = "ECS tasks of the four services"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "aicc-tasks" }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Service ports from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8003
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Service ports from the other services (JWKS, scraping)"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8003
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "To the other services"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8003
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "To PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_redis" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "To Redis"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs, providers and notification channels"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "db" {
  name        = "aicc-db"
  description = "PostgreSQL aicc-common-services-db"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "aicc-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the services"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "redis" {
  name        = "aicc-redis"
  description = "Redis aicc-common-services-redis"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "aicc-redis" }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the services"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "endpoints" {
  name        = "aicc-endpoints"
  description = "Interface VPC endpoints, reached by the tasks"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "aicc-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_tasks" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the services"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.tasks.id
}
