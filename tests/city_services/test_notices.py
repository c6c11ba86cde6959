"""Notice credits on both databases: one credit pays for one notice however many are sent at once."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.fake_messenger import FakeMessenger
from city_services.models import NoticeCredit
from city_services.models import NoticeRecord
from city_services.notices import NoticeTemplate
from city_services.notices import read_templates
from city_services.notices import record_subscriptions
from city_services.notices import send_notice
from database import transaction
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.people import ChannelAccount
from tests.concurrency import run_together

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"
TEMPLATES = (
    NoticeTemplate("car_move_owner", "wechat", MINI, "T-WX", "挪车通知", {}, None, (("car_number1", "plate"),)),
    NoticeTemplate("car_move_owner", "alipay", ALIPAY, "T-ALI", "挪车通知", {}, None, (("keyword1", "plate"),)),
)


def make_person(session: Session, *apps: tuple[str, str]) -> tuple[int, list[ChannelAccount]]:
    with transaction(session):
        resident = Resident(public_id=f"r_{len(apps)}{apps[0][1]}", created_at=NOW)
        session.add(resident)
        session.flush()
        for channel, app_id in apps:
            session.add(
                ChannelIdentity(
                    resident_id=resident.id,
                    channel=channel,
                    app_id=app_id,
                    external_id=f"ext-{app_id}",
                    unionid=None,
                    created_at=NOW,
                    last_login_at=NOW,
                )
            )
    accounts = [ChannelAccount(resident.id, channel, app_id, f"ext-{app_id}", None) for channel, app_id in apps]
    return resident.id, accounts


def test_parallel_notices_spend_one_credit_once(app: Flask, session: Session) -> None:
    resident, [account] = make_person(session, ("wechat", MINI))
    messenger = FakeMessenger("wechat", ("T-WX",))
    for _ in range(3):
        messenger.grant(MINI, account.external_id, "T-WX")
    record_subscriptions(session, TEMPLATES, account, {"car_move_owner": "accept"}, now=NOW)
    record_subscriptions(session, TEMPLATES, account, {"car_move_owner": "accept"}, now=NOW)
    factory = app.extensions["session_factory"]

    def notify(_: int) -> bool:
        with factory() as db:
            return send_notice(db, {MINI: messenger}, TEMPLATES, resident, "car_move_owner", {"plate": "浙A"}, now=NOW)

    results = run_together(8, notify)
    assert sorted(results) == [False] * 6 + [True] * 2
    assert len(messenger.delivered) == 2
    session.expire_all()
    assert session.scalar(select(NoticeCredit.credits)) == 0
    assert session.scalar(select(func.count()).select_from(NoticeRecord).where(NoticeRecord.outcome == "sent")) == 2


def test_the_notice_goes_through_another_app_when_one_has_no_credit(app: Flask, session: Session) -> None:
    resident, [wechat, alipay] = make_person(session, ("wechat", MINI), ("alipay", ALIPAY))
    messengers = {MINI: FakeMessenger("wechat", ("T-WX",)), ALIPAY: FakeMessenger("alipay", ("T-ALI",))}
    messengers[ALIPAY].grant(ALIPAY, alipay.external_id, "T-ALI")  # type: ignore[attr-defined]
    record_subscriptions(session, TEMPLATES, alipay, {"car_move_owner": "accept"}, now=NOW)
    assert send_notice(session, messengers, TEMPLATES, resident, "car_move_owner", {"plate": "浙A"}, now=NOW)
    assert [d.template_id for d in messengers[ALIPAY].delivered] == ["T-ALI"]  # type: ignore[attr-defined]
    assert messengers[MINI].delivered == []  # type: ignore[attr-defined]


def test_credits_are_bounded(app: Flask, session: Session) -> None:
    _, [account] = make_person(session, ("wechat", MINI))
    for _ in range(60):
        credits = record_subscriptions(session, TEMPLATES, account, {"car_move_owner": "accept"}, now=NOW)
    assert credits == {"car_move_owner": 50}


def test_a_notice_the_app_does_not_send_is_refused(app: Flask, session: Session) -> None:
    from errors import Invalid

    _, [account] = make_person(session, ("wechat", MINI))
    with pytest.raises(Invalid) as refused:
        record_subscriptions(session, TEMPLATES, account, {"payment": "accept"}, now=NOW)
    assert refused.value.code == "notices.unknown_template"


def test_an_unknown_notice_names_itself_and_what_the_app_offers(app: Flask, session: Session) -> None:
    from errors import Invalid

    _, [account] = make_person(session, ("wechat", MINI))
    asked = {f"n{i:02d}": "accept" for i in range(12)}
    with pytest.raises(Invalid) as refused:
        record_subscriptions(session, TEMPLATES, account, {**asked, "car_move_owner": "accept"}, now=NOW)
    assert refused.value.details == {"templates": sorted(asked)[:10], "offered": ["car_move_owner"]}


GOOD_ENTRY = """
[[templates]]
name = "payment"
channel = "wechat"
app_id = "wx7c1b5d1e2f3a4b50"
template_id = "Pay_1"
keywords = { amount2 = "amount" }
"""


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (GOOD_ENTRY.replace('name = "payment"', 'name = "lottery"'), "not one we send"),
        (GOOD_ENTRY.replace('channel = "wechat"', 'channel = "douyin"'), "not one we send"),
        (GOOD_ENTRY.replace('template_id = "Pay_1"\n', ""), "no valid template_id"),
        (GOOD_ENTRY.replace('"Pay_1"', '"Pay 1"'), "no valid template_id"),
        (GOOD_ENTRY.replace('keywords = { amount2 = "amount" }\n', ""), "needs keywords"),
        (GOOD_ENTRY.replace("amount2", "amount"), "needs keywords"),
        (GOOD_ENTRY.replace('"amount" }', "2 }"), "needs keywords"),
    ],
)
def test_a_templates_file_with_a_wrong_entry_fails_at_start_up(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "notices.toml"
    path.write_text(entry, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        read_templates(path)


def test_a_templates_file_is_read_as_utf8_and_may_hold_none(tmp_path: Path) -> None:
    path = tmp_path / "notices.toml"
    path.write_text(GOOD_ENTRY.replace('template_id = "Pay_1"', 'template_id = "Pay_1"\ntitle = "缴费成功"'), "utf-8")
    [template] = read_templates(path)
    assert (template.name, template.title, template.keywords) == ("payment", "缴费成功", (("amount2", "amount"),))
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert read_templates(path) == ()
