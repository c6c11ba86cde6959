"""Who follows which account (a WeChat official account, an Alipay life account), and when each last wrote to it.

A user follows with a subscribe (follow) event and leaves with an unsubscribe. Any other message
comes from a follower: WeChat and Alipay let only followers message an account, so a message from
someone who does not follow makes them follow first. An official account may answer a user with
customer-service messages only while the user follows and within a window after their last message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import replace

# What a user did, as far as following goes.
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
MESSAGE = "message"  # text, location, a menu click: anything else


@dataclass(frozen=True)
class Follow:
    """One user and one account."""

    following: bool
    followed_at: float  # when they last followed (WeChat's subscribe_time)
    last_message_at: float  # when they last wrote, followed or clicked (opens the reply window)


class Followers:
    """Follows per (channel, account app_id, user); a WeChat user is an openid, an Alipay one a user_id."""

    def __init__(self) -> None:
        self._follows: dict[tuple[str, str, str], Follow] = {}
        self._lock = threading.Lock()

    def heard(self, channel: str, app_id: str, user: str, what: str, at: float) -> Follow:
        """The user did what (SUBSCRIBE, UNSUBSCRIBE or MESSAGE) at `at`; how they stand afterwards."""
        key = (channel, app_id, user)
        with self._lock:
            known = self._follows.get(key)
            if known is None or not known.following:
                known = Follow(following=True, followed_at=at, last_message_at=at)
            follow = {
                SUBSCRIBE: replace(known, followed_at=at, last_message_at=at),
                UNSUBSCRIBE: replace(known, following=False),
                MESSAGE: replace(known, last_message_at=at),
            }[what]
            self._follows[key] = follow
            return follow

    def find(self, channel: str, app_id: str, user: str) -> Follow | None:
        """How the user stands with the account; None when they never followed it."""
        with self._lock:
            return self._follows.get((channel, app_id, user))
