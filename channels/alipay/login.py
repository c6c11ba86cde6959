"""Alipay login: my.getAuthCode code → alipay.system.oauth.token."""

from __future__ import annotations

from typing import Any

from alipay import AliPay

from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay
from channels.calls import ChannelCalls
from channels.calls import answer_fields
from channels.calls import unreadable_answer
from identity.ports import ChannelUser


class AlipayLogin:
    """Auth code → open_id when Alipay gives one (user_id otherwise), with the auth token kept server-side."""

    name = "alipay_mini_program"
    channel = "alipay"

    def __init__(self, client: AliPay, calls: ChannelCalls) -> None:
        self.client = client
        self.calls = calls
        self.app_id = client.appid

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; user_id, when given, joins the person across our Alipay apps."""

        def attempt() -> dict[str, Any]:
            try:
                result = self.client.server_api("alipay.system.oauth.token", grant_type="authorization_code", code=code)
            except SDK_FAILURES as error:
                raise from_alipay(error, self.app_id) from error
            return answer_fields("alipay", "system.oauth.token", result, "access_token")

        result = self.calls.call(self.app_id, "system.oauth.token", attempt)
        user_id = result.get("user_id")
        external_id = result.get("open_id") or user_id
        if not isinstance(external_id, str) or not external_id:
            raise unreadable_answer("alipay", "system.oauth.token", result)
        return ChannelUser("alipay", self.app_id, external_id, user_id, secret=result["access_token"])
