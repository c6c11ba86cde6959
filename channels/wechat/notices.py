"""WeChat mini-program subscribe messages (cgi-bin/message/subscribe/send) through wechatpy."""

from __future__ import annotations

import re
from collections.abc import Callable

from wechatpy.exceptions import WeChatException

from channels.calls import ChannelCalls
from channels.wechat.client import StableTokenClient
from channels.wechat.errors import from_wechat
from city_services.notices import Delivery
from city_services.notices import NoticeRefused
from errors import DomainError

# WeChat's refusals of one notice: 43101 is "no subscription left"; the others are our data or setup.
REFUSALS: dict[int, Callable[[], DomainError]] = {
    43101: lambda: NoticeRefused("notices.no_credit", "The resident has no subscription left.", no_credit=True),
    40003: lambda: NoticeRefused("notices.unknown_user", "WeChat does not know this openid.", no_credit=False),
    40037: lambda: NoticeRefused("notices.unknown_template", "Not one of the app's templates.", no_credit=False),
    47003: lambda: NoticeRefused("notices.invalid_data", "WeChat refused the notice's data.", no_credit=False),
    41030: lambda: NoticeRefused("notices.invalid_page", "WeChat refused the notice's page.", no_credit=False),
}
# The longest value each keyword type takes (WeChat's subscribe-message rules); longer text is cut.
LONGEST = {"thing": 20, "car_number": 8, "character_string": 32, "phrase": 5, "name": 10, "phone_number": 17}
_TYPE = re.compile(r"([a-z_]+?)[0-9]+")


def fit_value(keyword: str, value: str) -> str:
    """A value cut to its keyword type's length, with an ellipsis where text was cut."""
    match = _TYPE.fullmatch(keyword)
    longest = LONGEST.get(match.group(1) if match else "", 0)
    if not longest or len(value) <= longest:
        return value
    if match and match.group(1) == "thing":
        return value[: longest - 1] + "…"
    return value[:longest]


class WeChatSubscribeMessages:
    """Sends one-time subscribe messages for the mini-programs whose clients it holds."""

    channel = "wechat"

    def __init__(self, client: StableTokenClient, calls: ChannelCalls) -> None:
        self.client = client
        self.calls = calls

    def send(self, delivery: Delivery) -> None:
        """One notice; raises NoticeRefused for WeChat's refusals, UpstreamUnavailable when it cannot be reached."""
        data = {keyword: {"value": fit_value(keyword, value)} for keyword, value in delivery.data}

        def attempt() -> None:
            try:
                self.client.wxa.send_subscribe_message(
                    delivery.external_id, delivery.template_id, data, page=delivery.page
                )
            except WeChatException as error:
                raise from_wechat(error, REFUSALS) from error

        self.calls.call(self.client.appid, "subscribe_message", attempt)
