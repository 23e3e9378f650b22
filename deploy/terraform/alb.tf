# The spec's `aicc-alb`: HTTPS on 443 with the ACM certificate, 80 answering with a redirect.
#
# Routing is by path on one host name: the services' public routes have distinct prefixes
# (/alerts, /api/v2, /connect, /services, /metrics/* → monitoring; /recordings → recording;
# /integrations, /webhooks → integration; /auth, /.well-known → auth; local.services), so one
# certificate and one address serve the whole API, and a token's issuer is that address.
# /health, /metrics and /docs exist on every service and stay internal: the default action is
# a 404 in the services' error shape. Host-based routing would need four names and
# certificates for nothing a path cannot tell apart.

resource "aws_lb" "main" {
  name               = local.alb_name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  idle_timeout                     = var.alb_idle_timeout
  drop_invalid_header_fields       = true
  desync_mitigation_mode           = "defensive"
  enable_deletion_protection       = true
  enable_http2                     = true
  xff_header_processing_mode       = "append"
  enable_cross_zone_load_balancing = true

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ error = { code = "not_found", message = "Not Found" } })
    }
  }
}

resource "aws_lb_target_group" "service" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the tasks sit in private subnets reachable only from the ALB's and the services' security groups
  for_each = local.services

  name                 = "aicc-${each.key}"
  port                 = each.value.port
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = each.value.stop

  health_check {
    enabled             = true
    path                = "/health"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener_rule" "service" {
  for_each = local.services

  listener_arn = aws_lb_listener.https.arn
  priority     = each.value.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }

  condition {
    path_pattern {
      values = each.value.paths
    }
  }
}
