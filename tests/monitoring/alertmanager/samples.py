from __future__ import annotations

ALERTMANAGER_YML = """
global:
  resolve_timeout: 10m
  slack_api_url: https://hooks.slack.example/services/T000/B000/XXXX
route:
  receiver: slack-default
  group_by: [alertname, cluster]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: pagerduty-oncall
      group_wait: 10s
      continue: true
    - matchers: ['severity=~"critical|warning"', 'service=~"rec.*"']
      receiver: slack-recording
      group_by: ['...']
      routes:
        - match:
            team: storage
          receiver: slack-storage
          repeat_interval: 1h
    - match_re:
        service: ^(auth|integration)$
      receiver: slack-platform
      group_by: [alertname]
    - matchers: [severity="info"]
      receiver: sns-ops
      group_interval: 10m
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, instance]
  - source_match:
      alertname: ServiceDown
    target_match_re:
      alertname: High.*
    equal: [service]
receivers:
  - name: slack-default
  - name: pagerduty-oncall
  - name: slack-recording
  - name: slack-storage
  - name: slack-platform
  - name: sns-ops
templates: []
"""

RECEIVERS = [
    "slack-default",
    "pagerduty-oncall",
    "slack-recording",
    "slack-storage",
    "slack-platform",
    "sns-ops",
]
