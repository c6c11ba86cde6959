"""What chat needs of a channel (the follower's unionid, a customer-service message) and what a message is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

TEXT, LOCATION, EVENT = "text", "location", "event"
# Events, as every channel's are named here.
FOLLOW, UNFOLLOW, CLICK = "follow", "unfollow", "click"


@dataclass(frozen=True)
class Incoming:
    """A message or event as its channel delivered it, signature and decryption already checked.

    :param user: the sender in this account: a WeChat openid, an Alipay user_id.
    :param dedup_key: what the channel's retries repeat: the MsgId, or the sender and time of an event.
    """

    channel: str
    app_id: str
    user: str
    dedup_key: str
    kind: str
    sent_at: datetime
    text: str = ""
    event: str = ""
    event_key: str = ""
    latitude: float | None = None
    longitude: float | None = None
    label: str = ""


class ChatRefused(Exception):
    """A delivery that is not the channel's own (signature, time, app id, shape): refused, and logged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatChannel(Protocol):
    """One account's channel: who a follower is across the channel's apps, and messages sent later."""

    name: str

    def unionid_of(self, user: str) -> str | None:
        """The follower's id across the channel's apps (WeChat unionid, Alipay user_id), if the channel gives one."""

    def send_text(self, user: str, text: str) -> None:
        """A customer-service text message; UpstreamUnavailable to try again, UpstreamRejected when it never can."""


class CityServices(Protocol):
    """The resident use-cases chat reaches, behind the same tile gate, quotas and audit as the API."""

    def fund_account(self, session: Any, resident: Any, city: str, channel: str) -> Any:
        """The resident's provident fund account in the city (a housing_fund FundAccount)."""

    def ask_to_move(
        self, session: Any, resident: Any, city: str, channel: str, plate: str, latitude: float, longitude: float
    ) -> Any:
        """A car-move request (a car_move RequestView)."""
