"""AICC Auth."""

from aicc.auth.service import AuthService

__all__ = ["AuthService"]
