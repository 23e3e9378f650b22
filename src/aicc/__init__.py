"""AICC Common Services: monitoring, recording, integration and auth for an AI contact center."""

__version__ = "0.1.0"
