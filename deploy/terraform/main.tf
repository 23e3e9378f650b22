# The four wings and the names every other file shares.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = var.availability_zones
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == 2
      error_message = "var.availability_zones must name two available zones of var.region."
    }
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  azs        = data.aws_availability_zones.selected.names

  cluster_name  = "aicc-cluster"
  alb_name      = "aicc-alb"
  db_identifier = "aicc-common-services-db"
  redis_id      = "aicc-common-services-redis"
  kms_alias     = "alias/aicc-encryption"

  # Each wing: its port, the public paths the ALB forwards to it (path-based routing on one
  # host name; at most five patterns per rule; /health, /metrics and /docs exist on every
  # service and are not routed from the internet) and the seconds it gets to stop (a recording
  # being finalized needs longer).
  services = {
    monitoring = {
      port     = 8000
      priority = 100
      stop     = 30
      paths    = ["/alerts*", "/api/v2/*", "/connect/*", "/services/*", "/metrics/*"]
    }
    recording = {
      port     = 8001
      priority = 200
      stop     = 60
      paths    = ["/recordings", "/recordings/*"]
    }
    integration = {
      port     = 8002
      priority = 300
      stop     = 30
      paths    = ["/integrations", "/integrations/*", "/webhooks/*"]
    }
    auth = {
      port     = 8003
      priority = 400
      stop     = 30
      paths    = ["/auth", "/auth/*", "/.well-known/*"]
    }
  }

  container_user = "10001:10001"
  data_dir       = "/var/lib/aicc"

  internal_url = { for name, svc in local.services : name => "http://${name}.${var.service_discovery_namespace}:${svc.port}" }

  recordings_bucket = var.recordings_bucket_name != "" ? var.recordings_bucket_name : "aicc-recordings-${local.account_id}-${local.region}"
  logs_bucket       = "aicc-logs-${local.account_id}-${local.region}"
}
