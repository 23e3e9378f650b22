"""The auth service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from typing import ClassVar

from aicc.core.service import Backend, ServiceBase


class AuthService(ServiceBase):
    """Users, JWT, role-based access control, MFA, SSO, sessions and audit."""

    name = "auth"
    title = "AICC Auth"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")
