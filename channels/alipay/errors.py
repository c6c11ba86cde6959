"""Alipay's answers, mapped to ours."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping

from alipay.exceptions import AliPayException
from alipay.exceptions import AliPayValidationError

from channels.calls import security_log
from errors import DomainError
from errors import UpstreamUnavailable
from identity.ports import LoginRejected

# What the SDK raises for an answer: a business error, or a signature that does not verify.
SDK_FAILURES = (AliPayException, AliPayValidationError)
SUB_CODE_ERRORS: Mapping[str, Callable[[], DomainError]] = {
    "isv.code-invalid": lambda: LoginRejected("session.code_invalid", "This auth code is invalid, expired or used."),
    "aop.invalid-auth-token": lambda: LoginRejected(
        "session.code_invalid", "The Alipay authorisation is no longer valid."
    ),
    "aop.auth-token-time-out": lambda: LoginRejected("session.code_invalid", "The Alipay authorisation has expired."),
}


def from_alipay(
    error: AliPayException | AliPayValidationError,
    app_id: str,
    sub_codes: Mapping[str, Callable[[], DomainError]] | None = None,
) -> DomainError:
    """Our error for the SDK's verdict on an answer; a response that fails its signature is a security event."""
    if isinstance(error, AliPayValidationError):
        security_log.warning("alipay response failed signature verification", extra={"app_id": app_id})
        return UpstreamUnavailable("channel.unavailable", "Alipay's answer could not be trusted.", retry_after=30)
    mapped = {**SUB_CODE_ERRORS, **(sub_codes or {})}.get(_sub_code(error) or "")
    if mapped is not None:
        return mapped()
    return UpstreamUnavailable("channel.unavailable", "Alipay refused the request.", retry_after=30)


def _sub_code(error: AliPayException | AliPayValidationError) -> str | None:
    """The sub_code inside the raw error body, which the SDK keeps only in the exception's text."""
    try:
        body = json.loads(str(error).split("message:", 1)[1])
    except (IndexError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    node = next((v for k, v in body.items() if k.endswith("_response") and isinstance(v, dict)), {})
    sub_code: str | None = node.get("sub_code")
    return sub_code
