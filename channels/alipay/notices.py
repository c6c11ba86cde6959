"""Alipay mini-program template messages (alipay.open.app.mini.templatemessage.send) through python-alipay-sdk."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping

from alipay import AliPay

from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay
from channels.calls import ChannelCalls
from channels.calls import answer_fields
from city_services.notices import Delivery
from city_services.notices import NoticeRefused
from errors import DomainError
from errors import UpstreamUnavailable

REFUSALS: Mapping[str, Callable[[], DomainError]] = {
    "USER_NOT_SUBSCRIBED": lambda: NoticeRefused(
        "notices.no_credit", "The resident has no subscription left.", no_credit=True
    ),
    "USER_NOT_EXIST": lambda: NoticeRefused("notices.unknown_user", "Alipay does not know this user.", no_credit=False),
    "TEMPLATE_NOT_EXIST": lambda: NoticeRefused(
        "notices.unknown_template", "Not one of the app's templates.", no_credit=False
    ),
    "INVALID_DATA": lambda: NoticeRefused("notices.invalid_data", "Alipay refused the notice's data.", no_credit=False),
}


class AlipayTemplateMessages:
    """Sends template messages for one Alipay mini-program."""

    channel = "alipay"

    def __init__(self, client: AliPay, calls: ChannelCalls) -> None:
        self.client = client
        self.calls = calls

    def send(self, delivery: Delivery) -> None:
        """One notice; raises NoticeRefused for Alipay's refusals, UpstreamUnavailable when it cannot be reached."""
        # A user_id (2088...) reaches the person in every app; an open_id only in the app that issued it.
        recipient = {"to_user_id": delivery.unionid} if delivery.unionid else {"to_open_id": delivery.external_id}
        biz_content = {
            **recipient,
            "user_template_id": delivery.template_id,
            "data": json.dumps({k: {"value": v} for k, v in delivery.data}, ensure_ascii=False),
            **({"page": delivery.page} if delivery.page else {}),
        }

        def attempt() -> None:
            try:
                answer = self.client.server_api("alipay.open.app.mini.templatemessage.send", biz_content=biz_content)
            except SDK_FAILURES as error:
                raise from_alipay(error, delivery.app_id, REFUSALS) from error
            answer = answer_fields("alipay", "templatemessage.send", answer, "code")
            if answer["code"] != "10000":
                # A signed business error comes back as an answer, not as the SDK's exception.
                refusal = REFUSALS.get(str(answer.get("sub_code", "")))
                if refusal is not None:
                    raise refusal()
                raise UpstreamUnavailable("channel.unavailable", "Alipay refused the notice.", retry_after=30)

        self.calls.call(delivery.app_id, "templatemessage", attempt)
