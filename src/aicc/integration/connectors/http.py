"""HTTP helpers every HTTP connector shares: one request with the attempt's deadline, the
usual meaning of status codes, wait hints, and the OAuth2 token endpoint."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
import orjson

from aicc.core.outgoing import BlockedDestination
from aicc.integration.connectors.base import CallContext, Outcome, ProviderError, Token

Classifier = Callable[[httpx2.Response], ProviderError | None]
"""A provider's reading of a non-2xx response; None falls back to :func:`by_status`."""

TOKEN_REFUSALS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
"""OAuth2 token-endpoint errors a retry cannot fix (RFC 6749 §5.2)."""


def retry_after(response: httpx2.Response, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP-date), else None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, at.timestamp() - (now if now is not None else time.time()))


def json_body(response: httpx2.Response) -> Any:
    """The response's JSON, or None when it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def by_status(
    response: httpx2.Response, *, code: str | None = None, message: str | None = None
) -> ProviderError:
    """What a status code means when the provider says nothing more specific."""
    status = response.status_code
    outcome: Outcome
    if status == 401:
        outcome = "refresh"
    elif status == 429:
        outcome = "throttled"
    elif status == 408 or status >= 500:
        outcome = "retryable"
    else:
        outcome = "terminal"
    text = message or _short(response)
    return ProviderError(
        text,
        code=code or f"http_{status}",
        outcome=outcome,
        status=status,
        retry_after=retry_after(response),
        details=json_body(response),
    )


def _short(response: httpx2.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


async def send(
    ctx: CallContext,
    method: str,
    url: str,
    *,
    classify: Classifier | None = None,
    **kwargs: Any,
) -> httpx2.Response:
    """Send one request within the attempt's deadline; a non-2xx answer or a failure to
    reach the provider becomes a :class:`ProviderError`."""
    timeout = max(0.05, ctx.timeout)
    try:
        response = await ctx.http.request(method, url, timeout=timeout, **kwargs)
    except BlockedDestination as exc:
        raise ProviderError(str(exc), code="url_not_allowed", outcome="terminal") from None
    except httpx2.TimeoutException:
        raise ProviderError(
            f"{ctx.integration.provider} did not answer within {timeout:.1f}s",
            code="timeout",
            outcome="retryable",
        ) from None
    except httpx2.TransportError as exc:
        raise ProviderError(
            f"could not reach {ctx.integration.provider}: {type(exc).__name__}",
            code="network_error",
            outcome="retryable",
        ) from None
    if response.is_success:
        return response
    error = classify(response) if classify else None
    raise error or by_status(response)


async def oauth_token(
    ctx: CallContext,
    token_url: str,
    form: Mapping[str, str],
    *,
    auth: tuple[str, str] | None = None,
    keep: tuple[str, ...] = (),
    refresh_token: str | None = None,
) -> Token:
    """POST an OAuth2 token request (RFC 6749 §4.4, §6, RFC 7523) and read the answer.

    ``keep`` names extra response fields to remember with the token (``instance_url``).
    A refused grant or client is ``reauth``; a token endpoint that is down is ``retryable``.
    """
    response = await send(ctx, "POST", token_url, data=dict(form), auth=auth, classify=_token_error)
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ProviderError(
            "the token endpoint answered without an access_token",
            code="invalid_token_response",
            outcome="retryable",
        )
    expires_in = body.get("expires_in")
    expires_at = time.time() + float(expires_in) if isinstance(expires_in, int | float) else None
    return Token(
        access_token=body["access_token"],
        expires_at=expires_at,
        refresh_token=body.get("refresh_token") or refresh_token,
        extra={k: body[k] for k in keep if k in body},
    )


def _token_error(response: httpx2.Response) -> ProviderError | None:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code in (400, 401) and (error in TOKEN_REFUSALS or error is None):
        description = body.get("error_description") if isinstance(body, dict) else None
        return ProviderError(
            f"the token endpoint refused the credentials: {error or response.status_code}"
            + (f" ({description})" if description else ""),
            code=str(error or "token_refused"),
            outcome="reauth",
            status=response.status_code,
        )
    failure = by_status(response, code=str(error) if error else "token_endpoint_error")
    if failure.outcome == "refresh":
        failure.outcome = "reauth"
    return failure
