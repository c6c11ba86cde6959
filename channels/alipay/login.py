"""Alipay login: my.getAuthCode code → alipay.system.oauth.token."""

from __future__ import annotations

from alipay import AliPay
from alipay.exceptions import AliPayException

from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay
from channels.calls import answer_fields
from channels.calls import channel_call
from channels.calls import unreadable_answer
from identity.ports import ChannelUser


class AlipayLogin:
    """Auth code → open_id when Alipay gives one (user_id otherwise), with the auth token kept server-side."""

    name = "alipay_mini_program"
    channel = "alipay"

    def __init__(self, client: AliPay) -> None:
        self.client = client
        self.app_id = client.appid

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; user_id, when given, joins the person across our Alipay apps."""
        with channel_call("alipay", "system.oauth.token", self.app_id):
            try:
                result = self.client.server_api("alipay.system.oauth.token", grant_type="authorization_code", code=code)
            except (AliPayException, *SDK_FAILURES) as error:
                raise from_alipay(error, self.app_id) from error
            result = answer_fields("alipay", "system.oauth.token", result, "access_token")
            user_id = result.get("user_id")
            external_id = result.get("open_id") or user_id
            if not isinstance(external_id, str) or not external_id:
                raise unreadable_answer("alipay", "system.oauth.token", result)
        return ChannelUser("alipay", self.app_id, external_id, user_id, secret=result["access_token"])
