"""What the channels would have shown their users, kept so tests and people can read them.

Two kinds: notices (one-time subscribe / template messages, kind "notice") and the text an account
sent a follower through the customer-service message APIs (kind "customer_service", with `text`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
NOTICE = "notice"
CUSTOMER_SERVICE = "customer_service"


@dataclass(frozen=True)
class Notice:
    """One delivered notice or customer-service message."""

    channel: str  # wechat or alipay
    app_id: str
    user: str  # WeChat openid, or Alipay user_id
    template_id: str | None  # None for a customer-service message
    data: dict[str, Any]
    page: str | None
    sent_at: str
    msgid: str
    open_id: str | None = None  # Alipay's per-app id of the same user
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = NOTICE  # or CUSTOMER_SERVICE
    text: str | None = None  # what a customer-service message says


class Outbox:
    """Every notice delivered since start."""

    def __init__(self) -> None:
        self._notices: list[Notice] = []
        self._lock = threading.Lock()

    def deliver(self, **fields: Any) -> Notice:
        """Record a message; sent_at is now, Beijing time, as the channels show it."""
        notice = Notice(sent_at=datetime.now(BEIJING).isoformat(timespec="seconds"), **fields)
        with self._lock:
            self._notices.append(notice)
        return notice

    def list(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Messages, oldest first, filtered by channel and by user (openid, user_id or open_id)."""
        with self._lock:
            found = [
                n
                for n in self._notices
                if (channel is None or n.channel == channel) and (user is None or user in (n.user, n.open_id))
            ]
        return [asdict(n) for n in found]

    def clear(self) -> None:
        """Forget every notice."""
        with self._lock:
            self._notices.clear()
