"""One-time notice subscriptions: each time a user accepts a template, the app may send them one notice.

WeChat's wx.requestSubscribeMessage and Alipay's my.requestSubscribeMessage work this way: an
accepted one-time subscription is one credit for (app, user, template), with no time limit, and
credits add up. Sending a notice spends one; without one WeChat answers 43101 and Alipay refuses.
"""

from __future__ import annotations

import threading
from typing import Any


class SubscriptionBook:
    """Credits per (channel, app, user, template); a WeChat user is an openid, an Alipay one a user_id."""

    def __init__(self) -> None:
        self._credits: dict[tuple[str, str, str, str], int] = {}
        self._lock = threading.Lock()

    def accept(self, channel: str, app_id: str, user: str, template_id: str) -> int:
        """The user accepted one subscription; the credits they now have for it."""
        key = (channel, app_id, user, template_id)
        with self._lock:
            self._credits[key] = self._credits.get(key, 0) + 1
            return self._credits[key]

    def spend(self, channel: str, app_id: str, user: str, template_id: str) -> bool:
        """Use one credit; False (and nothing spent) when there is none."""
        key = (channel, app_id, user, template_id)
        with self._lock:
            if self._credits.get(key, 0) <= 0:
                return False
            self._credits[key] -= 1
            return True

    def list(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Credits, filtered by channel and user."""
        with self._lock:
            return [
                {"channel": c, "app_id": a, "user": u, "template_id": t, "credits": n}
                for (c, a, u, t), n in self._credits.items()
                if (channel is None or c == channel) and (user is None or u == user)
            ]
