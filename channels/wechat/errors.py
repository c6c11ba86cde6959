"""WeChat's error codes, mapped to ours."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping

from wechatpy.exceptions import WeChatException

from channels import payment_refusals
from channels.calls import log
from channels.calls import payment_unavailable
from errors import DomainError
from errors import UpstreamUnavailable
from identity.ports import ChannelRateLimited
from identity.ports import LoginRejected

CODE_ERRORS: Mapping[int, Callable[[], DomainError]] = {
    40029: lambda: LoginRejected("session.code_invalid", "This login code is invalid or has expired."),
    40163: lambda: LoginRejected("session.code_used", "This login code has already been used."),
    45011: lambda: ChannelRateLimited(
        "channel.rate_limited", "WeChat is limiting logins for this user.", retry_after=60
    ),
}


def from_wechat(error: Exception, codes: Mapping[int, Callable[[], DomainError]] | None = None) -> DomainError:
    """Our error for a wechatpy or transport failure; codes overrides the default table per call."""
    table = {**CODE_ERRORS, **(codes or {})}
    if isinstance(error, WeChatException) and error.errcode in table:
        return table[error.errcode]()
    return UpstreamUnavailable("channel.unavailable", "WeChat cannot be reached right now.", retry_after=30)


# WeChat Pay API v3 error codes that are final answers, per operation. Every other answer that is
# not 2xx (SYSTEM_ERROR, a 5xx, SIGN_ERROR or APPID_MCHID_NOT_MATCH from our own setup, a rate
# limit) leaves the call unanswered: UpstreamUnavailable, and the same call is made again later.
PAY_REFUSALS: Mapping[str, Mapping[str, Callable[[], DomainError]]] = {
    "order": {
        "ORDERPAID": payment_refusals.order_paid,
        "ORDER_CLOSED": payment_refusals.order_closed,
        "INVALID_REQUEST": payment_refusals.order_conflict,
        "PARAM_ERROR": payment_refusals.request_refused,
    },
    "query": {"ORDER_NOT_EXIST": payment_refusals.order_not_found},
    "close": {"ORDERPAID": payment_refusals.order_paid, "ORDER_NOT_EXIST": payment_refusals.order_not_found},
    "refund": {
        "NOT_ENOUGH": payment_refusals.refund_not_enough,
        "RESOURCE_NOT_EXISTS": payment_refusals.order_not_found,
        # An unpaid or closed order, or a refund number used for another refund: WeChat says which
        # only in prose, so all three are one final refusal.
        "INVALID_REQUEST": payment_refusals.refund_refused,
        "PARAM_ERROR": payment_refusals.request_refused,
    },
    "query_refund": {"RESOURCE_NOT_EXISTS": payment_refusals.refund_not_found},
    # A bill not made yet is read in payments.py; any other refusal is of our own setup, for now.
    "bill": {},
    "bill_download": {},
}


def from_wechat_pay(operation: str, status: int, code: object) -> DomainError:
    """Our error for a WeChat Pay answer that is not 2xx; only a 4xx with a known code is final."""
    refusal = PAY_REFUSALS[operation].get(code) if isinstance(code, str) and 400 <= status < 500 else None
    if refusal is not None:
        return refusal()
    # The status and WeChat's code say what went wrong; neither carries personal data.
    log.warning(
        "wechat pay gave no usable answer",
        extra={"operation": operation, "status": status, "code": code if isinstance(code, str) else None},
    )
    return payment_unavailable("WeChat Pay cannot be reached right now.")
