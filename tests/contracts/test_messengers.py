"""One Messenger contract, run over the fake and over WeChat's and Alipay's real notice APIs in the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.wiring import build_channel_adapters
from city_services.fake_messenger import FakeMessenger
from city_services.notices import Delivery
from city_services.notices import Messenger
from city_services.notices import NoticeRefused
from errors import UpstreamUnavailable
from tests.conftest import Sandbox

MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"
TEMPLATES = {
    "wechat": ("CarMoveOwnerNotice-2bQ9wL0xVt7pKs3Rj5Ym8NdA", "car_number1", "thing2", "time3", "thing4"),
    "alipay": ("Y2l0eXRpbGVzOmNhci1tb3ZlLW93bmVyLW5vdGljZQ==", "keyword1", "keyword2", "keyword3", "keyword4"),
}
VALUES = ("粤B1****5", "福田区深南大道", "2026-11-23 12:30", "请挪车")


@dataclass
class Subject:
    """A messenger, a person it can reach, how that person allows one notice, and how to break the channel."""

    messenger: Messenger
    app_id: str
    person: tuple[str, str | None]  # external id, unionid
    allow: Callable[[], None]
    break_channel: Callable[[], None]
    delivered: Callable[[], int]


def fake_subject(channel: str) -> Subject:
    template = TEMPLATES[channel][0]
    fake = FakeMessenger(channel, (template,))
    app_id = MINI if channel == "wechat" else ALIPAY
    person = ("ext-1", "2088000000000009" if channel == "alipay" else None)

    def unreachable() -> None:
        fake.reachable = False

    return Subject(
        fake,
        app_id,
        person,
        lambda: fake.grant(app_id, person[1] or person[0], template),
        unreachable,
        lambda: len(fake.delivered),
    )


def sandbox_subject(sandbox: Sandbox, tmp_path: Path, channel: str) -> Subject:
    adapters = build_channel_adapters(sandbox.channel_settings(tmp_path))
    template = TEMPLATES[channel][0]
    if channel == "wechat":
        issued = sandbox.wechat_code(MINI)
        user = adapters.logins[MINI].exchange_code(issued["code"])  # the sandbox only notifies users who logged in
        person = (user.external_id, user.unionid)
        allow_path, allow_body = "wechat/subscribe", {"app_id": MINI, "openid": user.external_id}
        user_key, fault = user.external_id, "wechat.subscribe_send"
    else:
        issued = sandbox.alipay_code()
        user = adapters.logins[ALIPAY].exchange_code(issued["auth_code"])
        person = (user.external_id, user.unionid)
        allow_path, allow_body = "alipay/subscribe", {"app_id": ALIPAY, "user_id": issued["user_id"]}
        user_key, fault = issued["user_id"], "alipay.message"
    app_id = MINI if channel == "wechat" else ALIPAY
    return Subject(
        adapters.messengers[app_id],
        app_id,
        person,
        lambda: sandbox.helper("POST", allow_path, json={**allow_body, "template_id": template}),
        lambda: sandbox.helper("POST", "faults", json={"target": fault, "mode": "down", "times": 1}),
        lambda: len(sandbox.helper("GET", "messages", params={"channel": channel, "user": user_key})["messages"]),
    )


@pytest.fixture(params=["fake-wechat", "fake-alipay", "wechat", "alipay"])
def subject(request: pytest.FixtureRequest, clean_sandbox: Sandbox, tmp_path: Path) -> Subject:
    kind, _, channel = request.param.rpartition("-")
    if kind == "fake":
        return fake_subject(channel)
    return sandbox_subject(clean_sandbox, tmp_path, channel)


def delivery(subject: Subject, template_id: str | None = None) -> Delivery:
    channel = subject.messenger.channel
    template, *keywords = TEMPLATES[channel]
    return Delivery(
        subject.app_id,
        subject.person[0],
        subject.person[1],
        template_id or template,
        tuple(zip(keywords, VALUES, strict=True)),
        "pages/car-move/owner",
    )


def test_one_allow_pays_for_one_notice(subject: Subject) -> None:
    subject.allow()
    subject.messenger.send(delivery(subject))
    assert subject.delivered() == 1
    with pytest.raises(NoticeRefused) as refused:
        subject.messenger.send(delivery(subject))
    assert refused.value.no_credit and refused.value.code == "notices.no_credit"
    assert subject.delivered() == 1


def test_an_unknown_template_is_refused_without_touching_credits(subject: Subject) -> None:
    subject.allow()
    with pytest.raises(NoticeRefused) as refused:
        subject.messenger.send(delivery(subject, template_id="NoSuchTemplate-000"))
    assert not refused.value.no_credit and refused.value.code == "notices.unknown_template"
    subject.messenger.send(delivery(subject))
    assert subject.delivered() == 1


def test_an_unreachable_channel_is_unavailable_and_spends_nothing(subject: Subject) -> None:
    subject.allow()
    subject.break_channel()
    with pytest.raises(UpstreamUnavailable):
        subject.messenger.send(delivery(subject))
    assert subject.delivered() == 0
    if isinstance(subject.messenger, FakeMessenger):
        subject.messenger.reachable = True
    subject.messenger.send(delivery(subject))
    assert subject.delivered() == 1
