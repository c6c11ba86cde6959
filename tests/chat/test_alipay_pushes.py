"""A life account's pushes over HTTP: checked, refused when hostile, taken in once, acknowledged, replied by message."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from billing.models import OutboxTask
from chat.conversation import CHAT_ANSWER
from chat.conversation import REPLY
from chat.models import DEFERRED
from chat.models import SENT
from chat.models import UNSENT
from chat.models import ChatMessage
from config.settings import ChannelSettings
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from identity.models import ChannelIdentity
from tests.chat.alipay_side import CHECK
from tests.chat.alipay_side import FORM
from tests.chat.alipay_side import LIFE_ACCOUNT
from tests.chat.alipay_side import NOTIFY
from tests.chat.alipay_side import Gateway
from tests.chat.alipay_side import Keys
from tests.chat.alipay_side import Pusher
from tests.chat.alipay_side import answer_of
from tests.chat.alipay_side import encoded
from tests.chat.alipay_side import new_user_id
from tests.chat.alipay_side import serving
from tests.chat.alipay_side import sign
from tests.concurrency import run_together
from tests.conftest import Clock
from tests.conftest import Sandbox
from tests.conftest import check_error_shape

URL = f"/channels/alipay/{LIFE_ACCOUNT}/gateway"
ACK = "<success>true</success>"


@dataclass(frozen=True)
class Life:
    """citytiles with the demo life account, Alipay's pusher and Alipay's gateway for custom.send."""

    app: Flask
    pusher: Pusher
    gateway: Gateway

    def push(self, form: dict[str, str] | bytes) -> tuple[int, str]:
        body = form if isinstance(form, bytes) else encoded(form)
        answer = self.app.test_client().post(URL, data=body, content_type=FORM)
        return answer.status_code, answer.get_data(as_text=True)

    def notify(self, xml: str) -> tuple[int, str]:
        return self.push(self.pusher.form(NOTIFY, xml))

    def drained(self) -> None:
        self.app.extensions["tasks"].drain()


@pytest.fixture
def life(clean_sandbox: Sandbox, database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Life]:
    """The demo's channel apps file as it is: the life account chats, its gateway on loopback."""
    keys = Keys.of(clean_sandbox.state_dir)
    gateway = Gateway(keys)
    with serving(gateway) as gateway_url:
        settings = clean_sandbox.service_settings(
            tmp_path,
            database_url=database_url,
            app_env="test",
            channels=ChannelSettings(clean_sandbox.base, gateway_url, wechat_pay_base_url=clean_sandbox.base),
        )
        application = create_app(settings, clock=clock)
        application.testing = True
        yield Life(application, Pusher(keys), gateway)
        application.extensions["tasks"].drain()
        application.extensions["engine"].dispose()


@pytest.fixture(autouse=True)
def seeded(life: Life, session: Session, clock: Clock) -> None:
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    seed_catalogue(session, read_seed(life.app.extensions["settings"].catalogue_seed), now=clock())


def messages(session: Session) -> list[ChatMessage]:
    session.expire_all()
    return list(session.scalars(select(ChatMessage).order_by(ChatMessage.id)))


def task_of(session: Session, message: ChatMessage) -> OutboxTask:
    return session.scalars(
        select(OutboxTask).where(OutboxTask.kind == CHAT_ANSWER, OutboxTask.ref == str(message.id))
    ).one()


def test_the_gateway_check_is_answered_with_the_app_public_key_signed_by_the_app(life: Life) -> None:
    status, body = life.push(life.pusher.form(CHECK, life.pusher.check(new_user_id())))
    assert status == 200
    public = life.pusher.keys.app_public_base64()
    assert answer_of(life.pusher.keys, body) == f"<biz_content>{public}</biz_content><success>true</success>"
    assert "\n" not in public and "BEGIN" not in public


def test_a_keyword_is_acknowledged_and_its_reply_sent_to_the_sender_as_a_message(life: Life, session: Session) -> None:
    user = new_user_id()
    status, body = life.notify(life.pusher.text(user, "帮助"))
    assert status == 200 and answer_of(life.pusher.keys, body) == ACK
    life.drained()
    [sent] = life.gateway.sent
    assert sent["to_user_id"] == user and sent["msg_type"] == "text"
    assert "挪车 浙A12345" in sent["text"]["content"]
    [message] = messages(session)
    assert (message.channel, message.app_id, message.intent, message.state) == ("alipay", LIFE_ACCOUNT, "help", SENT)
    assert life.app.extensions["vault"].open(REPLY, message.reply_sealed) == sent["text"]["content"]
    assert task_of(session, message).done_at is not None
    # The follower is a resident known by their user_id, which is also their id across Alipay's apps.
    identity = session.scalars(select(ChannelIdentity).where(ChannelIdentity.app_id == LIFE_ACCOUNT)).one()
    assert (identity.channel, identity.external_id, identity.unionid) == ("alipay", user, user)


def test_the_outpatient_reply_links_to_the_alipay_mini_program(life: Life) -> None:
    life.notify(life.pusher.text(new_user_id(), "挂号"))
    life.drained()
    [sent] = life.gateway.sent
    assert (
        "alipays://platformapi/startapp?appId=2021004100000001&page=pages%2Foutpatient%2Findex"
        in (sent["text"]["content"])
    )


BUSY = {
    "http-502": (502, {"code": "10000", "msg": "Success"}),
    "busy": (200, {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}),
    "another-refusal": (200, {"code": "40004", "msg": "Business Failed", "sub_code": "PUBLIC.SYSTEM_BUSY"}),
}


@pytest.mark.parametrize("busy", list(BUSY))
def test_a_reply_alipay_cannot_take_now_stays_deferred_and_its_task_is_tried_again(
    life: Life, session: Session, busy: str
) -> None:
    life.gateway.status, life.gateway.answer = BUSY[busy]
    status, body = life.notify(life.pusher.text(new_user_id(), "帮助"))
    assert status == 200 and answer_of(life.pusher.keys, body) == ACK
    life.drained()
    [message] = messages(session)
    assert message.state == DEFERRED and message.reply_sealed
    task = task_of(session, message)
    assert task.done_at is None and task.attempts == 1 and task.last_error == "channel.unavailable"


def test_a_reply_to_someone_who_no_longer_follows_is_given_up(life: Life, session: Session) -> None:
    life.gateway.answer = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "PUBLIC.USER_NOT_FOLLOW",
        "sub_msg": "用户未关注生活号",
    }
    life.notify(life.pusher.text(new_user_id(), "帮助"))
    life.drained()
    [message] = messages(session)
    assert message.state == UNSENT
    assert task_of(session, message).done_at is not None


def test_a_follow_is_welcomed_once_however_often_it_is_delivered(life: Life, session: Session) -> None:
    user, created = new_user_id(), int(time.time() * 1000)
    for _ in range(2):
        status, body = life.notify(life.pusher.event(user, "follow", created=created))
        assert status == 200 and answer_of(life.pusher.keys, body) == ACK
    life.drained()
    [message] = messages(session)
    assert message.intent == "welcome" and message.dedup_key == f"event:{user}:{created}:follow"
    assert len(life.gateway.sent) == 1 and "欢迎关注" in life.gateway.sent[0]["text"]["content"]


def test_a_menu_click_and_a_location_take_their_routes(life: Life, session: Session) -> None:
    user = new_user_id()
    assert life.notify(life.pusher.event(user, "click", "progress"))[0] == 200
    assert life.notify(life.pusher.location(user, 30.27415, 120.15515))[0] == 200
    assert [m.intent for m in messages(session)] == ["progress", "location"]


def xml_forged(pusher: Pusher) -> dict[str, str]:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return pusher.form(NOTIFY, pusher.text(new_user_id(), "公积金"), sign_with=stranger)


def without_biz_content(pusher: Pusher) -> dict[str, str]:
    fields = {"service": NOTIFY, "charset": "UTF-8"}
    signed = "&".join(f"{key}={value}" for key, value in sorted(fields.items()))
    return {**fields, "sign_type": "RSA2", "sign": sign(pusher.keys.platform, signed)}


XXE = (
    '<?xml version="1.0"?><!DOCTYPE XML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    f"<XML><AppId>{LIFE_ACCOUNT}</AppId><FromUserId>2088000000000001</FromUserId><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><MsgId>1</MsgId><Text><Content>&secret;</Content></Text></XML>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10))
    + f"]><XML><AppId>{LIFE_ACCOUNT}</AppId><Text><Content>&lol9;</Content></Text></XML>"
)
REFUSED = {
    "forged-signature": (xml_forged, "the signature does not match"),
    "another-account": (
        lambda p: Pusher(p.keys, app_id="2021004100000001").form(
            NOTIFY, Pusher(p.keys, app_id="2021004100000001").text(new_user_id(), "公积金")
        ),
        "the push is for another account",
    ),
    "xxe": (lambda p: p.form(NOTIFY, XXE), "the XML declares a DTD or entities"),
    "billion-laughs": (lambda p: p.form(NOTIFY, LAUGHS), "the XML declares a DTD or entities"),
    "unknown-service": (
        lambda p: p.form("alipay.mobile.public.unknown", p.text(new_user_id(), "公积金")),
        "a service Alipay does not push to life accounts",
    ),
    "check-signed-as-a-message": (
        lambda p: {**p.form(CHECK, p.text(new_user_id(), "公积金")), "service": NOTIFY},
        "the signature does not match",
    ),
    "check-of-a-follow": (
        lambda p: p.form(CHECK, p.event(new_user_id(), "follow")),
        "the gateway check is not a verifygw event",
    ),
    "check-of-a-text": (
        lambda p: p.form(CHECK, p.xml(new_user_id(), "text", EventType="verifygw")),
        "the gateway check is not a verifygw event",
    ),
    "unsigned": (
        lambda p: {k: v for k, v in p.form(NOTIFY, p.text(new_user_id(), "公积金")).items() if k != "sign"},
        "the push is unsigned, or not RSA2, or not this service",
    ),
    "rsa1": (
        lambda p: {**p.form(NOTIFY, p.text(new_user_id(), "公积金")), "sign_type": "RSA"},
        "the push is unsigned, or not RSA2, or not this service",
    ),
    "gbk": (
        lambda p: {**p.form(NOTIFY, p.text(new_user_id(), "公积金")), "charset": "GBK"},
        "the push is not in UTF-8",
    ),
    "sign-not-base64": (
        lambda p: {**p.form(NOTIFY, p.text(new_user_id(), "公积金")), "sign": "not base64!"},
        "the signature cannot be read",
    ),
    "not-a-user-id": (
        lambda p: p.form(NOTIFY, p.text("oAbcdefghijklmnop", "公积金")),
        "the sender is not an Alipay user id",
    ),
    "no-biz-content": (without_biz_content, "the biz_content is not Alipay's XML"),
    "garbled-xml": (lambda p: p.form(NOTIFY, "<XML><AppId>"), "the biz_content is not Alipay's XML"),
    "no-msg-id": (lambda p: p.form(NOTIFY, p.xml(new_user_id(), "text")), "a message without its MsgId"),
}


@pytest.mark.parametrize("forge", list(REFUSED))
def test_a_push_that_is_not_alipays_own_is_refused_logged_and_nothing_is_stored(
    life: Life, session: Session, forge: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        status, body = life.push(REFUSED[forge][0](life.pusher))
    assert status == 403
    assert time.perf_counter() - started < 2  # nothing was expanded on the way
    check_error_shape(json.loads(body))
    assert json.loads(body)["error"]["code"] == "chat.push_refused"
    assert "root:" not in body and "lollol" not in body
    assert messages(session) == []
    assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 0
    refusals = [r for r in caplog.records if r.name == "citytiles.security" and "chat push" in r.getMessage()]
    assert refusals and refusals[0].app_id == LIFE_ACCOUNT  # type: ignore[attr-defined]
    assert refusals[0].reason == REFUSED[forge][1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [b"service=a&service=b", b"%ff=1", b"no-equals-sign"])
def test_a_form_that_cannot_be_read_is_refused(life: Life, session: Session, body: bytes) -> None:
    assert life.push(body)[0] == 403
    assert messages(session) == []


def test_an_account_citytiles_does_not_chat_through_is_not_found(life: Life) -> None:
    form = encoded(life.pusher.form(CHECK, life.pusher.check(new_user_id())))
    client = life.app.test_client()
    for app_id in ("2021004100000001", "2021004100000009", "wx9a8b7c6d5e4f3a20"):
        answer = client.post(f"/channels/alipay/{app_id}/gateway", data=form, content_type=FORM)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "chat.account_not_found"


def test_twenty_copies_of_one_message_at_the_same_moment_act_once(life: Life, session: Session) -> None:
    form = life.pusher.form(NOTIFY, life.pusher.text(new_user_id(), "挪车 浙A12345", msg_id="7123456789012345"))
    answers = run_together(20, lambda _: life.push(form))
    assert {status for status, _ in answers} == {200}
    assert {answer_of(life.pusher.keys, body) for _, body in answers} == {ACK}
    life.drained()
    assert len(messages(session)) == 1
    assert len(life.gateway.sent) == 1


def test_a_reply_goes_to_alipays_custom_send_on_the_accounts_own_connection(
    life: Life, caplog: pytest.LogCaptureFixture
) -> None:
    account, user = life.app.extensions["channels"].chats[LIFE_ACCOUNT], new_user_id()
    with caplog.at_level(logging.INFO, logger="citytiles.outbound"):
        account.send_text(user, "您好")
    assert life.gateway.sent == [{"to_user_id": user, "msg_type": "text", "text": {"content": "您好"}}]
    calls = [(r.connection, r.operation) for r in caplog.records if r.getMessage() == "outbound call"]  # type: ignore[attr-defined]
    assert calls == [(f"channel.alipay.{LIFE_ACCOUNT}", "custom_send")]


NOT_FOLLOWING = {"code": "40004", "msg": "Business Failed", "sub_code": "PUBLIC.USER_NOT_FOLLOW"}


@pytest.mark.parametrize("unsigned", [False, True], ids=["signed", "unsigned"])
def test_a_reply_to_someone_who_does_not_follow_is_refused_for_good(life: Life, unsigned: bool) -> None:
    life.gateway.answer, life.gateway.unsigned = NOT_FOLLOWING, unsigned
    with pytest.raises(UpstreamRejected) as refused:
        life.app.extensions["channels"].chats[LIFE_ACCOUNT].send_text(new_user_id(), "您好")
    assert (refused.value.code, refused.value.kind) == ("chat.not_sendable", "conflict")


@pytest.mark.parametrize(
    "answer",
    [
        {**NOT_FOLLOWING, "code": "20000"},
        {**NOT_FOLLOWING, "sub_code": "PUBLIC.SYSTEM_BUSY"},
        {"code": "40004", "msg": "Business Failed"},
        {"code": "40002", "msg": "Invalid Arguments"},
    ],
    ids=["busy-not-following", "another-refusal", "no-sub-code", "invalid-arguments"],
)
def test_any_other_answer_to_a_reply_is_tried_again_in_thirty_seconds(life: Life, answer: dict[str, str]) -> None:
    life.gateway.answer = answer
    with pytest.raises(UpstreamUnavailable) as busy:
        life.app.extensions["channels"].chats[LIFE_ACCOUNT].send_text(new_user_id(), "您好")
    assert (busy.value.code, busy.value.retry_after) == ("channel.unavailable", 30)


def test_an_answer_to_a_reply_without_its_code_is_unreadable_and_logged_as_customsends(
    life: Life, caplog: pytest.LogCaptureFixture
) -> None:
    life.gateway.answer = {"msg": "Success"}
    with caplog.at_level(logging.WARNING, logger="citytiles.channels"), pytest.raises(UpstreamUnavailable) as busy:
        life.app.extensions["channels"].chats[LIFE_ACCOUNT].send_text(new_user_id(), "您好")
    assert busy.value.code == "channel.unavailable"
    [unreadable] = [r for r in caplog.records if r.getMessage() == "unreadable channel answer"]
    assert (unreadable.channel, unreadable.operation) == ("alipay", "message.custom.send")  # type: ignore[attr-defined]


def test_an_answer_to_a_reply_signed_by_someone_else_is_not_trusted_and_logged_for_the_account(
    life: Life, caplog: pytest.LogCaptureFixture
) -> None:
    life.gateway.signed_by = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    life.gateway.answer = NOT_FOLLOWING
    with caplog.at_level(logging.WARNING, logger="citytiles.security"), pytest.raises(UpstreamUnavailable) as forged:
        life.app.extensions["channels"].chats[LIFE_ACCOUNT].send_text(new_user_id(), "您好")
    assert forged.value.code == "channel.unavailable"
    [logged] = [r for r in caplog.records if "signature verification" in r.getMessage()]
    assert logged.app_id == LIFE_ACCOUNT  # type: ignore[attr-defined]
