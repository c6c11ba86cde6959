"""An in-memory channel notice API for fast tests: it keeps the user's subscriptions as a channel does."""

from __future__ import annotations

from collections import Counter

from city_services.notices import Delivery
from city_services.notices import NoticeRefused
from errors import UpstreamUnavailable


class FakeMessenger:
    """Delivers against credits the test grants, like WeChat's and Alipay's one-time subscriptions."""

    def __init__(self, channel: str, templates: tuple[str, ...]) -> None:
        self.channel = channel
        self.templates = templates
        self.credits: Counter[tuple[str, str, str]] = Counter()
        self.delivered: list[Delivery] = []
        self.reachable = True

    def grant(self, app_id: str, user: str, template_id: str) -> None:
        """The user taps "allow" in the super-app's prompt."""
        self.credits[(app_id, user, template_id)] += 1

    def send(self, delivery: Delivery) -> None:
        """Deliver against one credit, or refuse as the channel would."""
        if not self.reachable:
            raise UpstreamUnavailable("channel.unavailable", "The channel cannot be reached.")
        if delivery.template_id not in self.templates:
            raise NoticeRefused("notices.unknown_template", "Not one of the app's templates.", no_credit=False)
        key = (delivery.app_id, delivery.unionid or delivery.external_id, delivery.template_id)
        if self.credits[key] <= 0:
            raise NoticeRefused("notices.no_credit", "The resident has no subscription left.", no_credit=True)
        self.credits[key] -= 1
        self.delivered.append(delivery)
