"""Request and response bodies of the auth API. Request models refuse unknown fields, so a
client cannot slip in ``id``, ``is_active``, ``roles`` (where not allowed) or timestamps."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[\w.@+-]{1,150}$")


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


def _username(value: str) -> str:
    value = value.strip()
    if not _USERNAME.match(value):
        raise ValueError("use 1-150 letters, digits and . @ + - _")
    return value


Email = Annotated[str, AfterValidator(_email)]
Username = Annotated[str, AfterValidator(_username)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Name = Annotated[str, Field(max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Strict):
    username: Username
    email: Email
    password: Password
    first_name: Name = ""
    last_name: Name = ""
    roles: list[str] | None = Field(None, max_length=5, description="Case-insensitive role names")
    temporary: bool = Field(
        False, description="The user must change the password at the first sign-in"
    )


class RegisterResponse(BaseModel):
    user_id: str
    username: str
    roles: list[str]


class LoginRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password
    mfa_token: Annotated[str | None, Field(max_length=64)] = None


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 (the token type name, not a secret)
    expires_in: int


class UserOut(BaseModel):
    id: str
    username: str
    email: str
    first_name: str
    last_name: str
    roles: list[str]
    is_active: bool
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None
    password_change_required: bool = False


class UserDetail(UserOut):
    locked: bool = Field(description="Failed sign-ins locked the account (until expiry or unlock)")


class MeOut(UserOut):
    permissions: list[str]
    session_id: str
    mfa_enrollment_required: bool
    password_change_required: bool


class ProfileUpdate(Strict):
    first_name: Name | None = None
    last_name: Name | None = None


class AdminUserUpdate(ProfileUpdate):
    email: Email | None = None


class RolesUpdate(Strict):
    roles: list[str] = Field(min_length=1, max_length=5)


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class PasswordReset(Strict):
    password: Password | None = Field(
        None, description="The new password; omit it to have one generated and returned once"
    )
    temporary: bool = Field(
        True, description="The user must change it at the next sign-in (the default)"
    )


class PasswordResetOut(BaseModel):
    generated_password: str | None


class SessionOut(BaseModel):
    id: str
    ip_address: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class SessionsEnded(BaseModel):
    ended: int


class TotpEnrollment(BaseModel):
    secret: str
    otpauth_uri: str


class TotpCode(Strict):
    code: Annotated[str, Field(min_length=6, max_length=10)]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class PasswordConfirm(Strict):
    password: Password


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    event: str
    outcome: str
    actor_id: str | None
    target_id: str | None
    ip_address: str | None
    user_agent: str | None
    details: dict[str, object]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int
    limit: int
    offset: int
