"""WeChat's error codes, mapped to ours."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping

from wechatpy.exceptions import WeChatException

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
