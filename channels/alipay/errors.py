"""Alipay's answers, mapped to ours."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping

from alipay.exceptions import AliPayException
from alipay.exceptions import AliPayValidationError

from channels import payment_refusals
from channels.calls import log
from channels.calls import payment_unavailable
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


# Alipay trade sub_codes that are final answers (code 40004), per operation. ACQ.SYSTEM_ERROR and
# code 20000 are "try again"; any other 40004 is a final refusal of what we sent.
TRADE_REFUSALS: Mapping[str, Mapping[str, Callable[[], DomainError]]] = {
    "trade.create": {
        "ACQ.TRADE_HAS_SUCCESS": payment_refusals.order_paid,
        "ACQ.TRADE_HAS_FINISHED": payment_refusals.order_paid,
        "ACQ.TRADE_HAS_CLOSE": payment_refusals.order_closed,
        "ACQ.CONTEXT_INCONSISTENT": payment_refusals.order_conflict,
    },
    "trade.query": {"ACQ.TRADE_NOT_EXIST": payment_refusals.order_not_found},
    "trade.close": {"ACQ.TRADE_NOT_EXIST": payment_refusals.order_not_found},
    "trade.refund": {
        "ACQ.TRADE_NOT_EXIST": payment_refusals.order_not_found,
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": payment_refusals.refund_not_enough,
        "ACQ.TRADE_STATUS_ERROR": payment_refusals.order_not_paid,
        "ACQ.TRADE_HAS_CLOSE": payment_refusals.order_closed,
        "ACQ.TRADE_HAS_FINISHED": payment_refusals.refund_period_over,
        "ACQ.BUYER_ERROR": payment_refusals.refund_refused,
        "ACQ.SELLER_BALANCE_NOT_ENOUGH": payment_refusals.refund_refused,
    },
    "trade.fastpay.refund.query": {"ACQ.TRADE_NOT_EXIST": payment_refusals.order_not_found},
    # A bill not made yet is read in payments.py.
    "data.dataservice.bill.downloadurl.query": {},
}
BUSINESS_FAILED = "40004"
TRY_AGAIN_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"})


def from_alipay_trade(operation: str, code: object, sub_code: object) -> DomainError:
    """Our error for a signed trade answer whose code is not 10000."""
    refusal = TRADE_REFUSALS[operation].get(sub_code) if isinstance(sub_code, str) else None
    if code == BUSINESS_FAILED and refusal is not None:
        return refusal()
    if code == BUSINESS_FAILED and sub_code not in TRY_AGAIN_SUB_CODES:
        log.warning("alipay refused a trade request", extra={"operation": operation, "sub_code": sub_code})
        return payment_refusals.request_refused()
    # 20000 (busy), or 40001/40002/40006/20001: our own setup (keys, app, permissions), which the
    # same call can pass once it is fixed.
    log.warning(
        "alipay gave no usable trade answer", extra={"operation": operation, "code": code, "sub_code": sub_code}
    )
    return payment_unavailable("Alipay cannot be reached right now.")


def from_alipay_sdk(error: AliPayException | AliPayValidationError, app_id: str, operation: str) -> DomainError:
    """Our error for an answer the SDK refused: unsigned, an error_response, or a bad signature."""
    if isinstance(error, AliPayValidationError):
        security_log.warning("alipay trade answer failed signature verification", extra={"app_id": app_id})
        return payment_unavailable("Alipay's answer could not be trusted.")
    log.warning("alipay answered a trade call unsigned", extra={"operation": operation, "sub_code": _sub_code(error)})
    return payment_unavailable("Alipay cannot be reached right now.")
