"""An official account's pushes over HTTP: checked, refused when hostile, taken in once, answered in time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from chat.models import ChatMessage
from city_services.car_move.models import CarMoveRequest
from city_services.figures.models import HourlyFigure
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from tests.chat.pushes import OFFICIAL_ACCOUNT
from tests.chat.pushes import Pusher
from tests.chat.pushes import new_openid
from tests.chat.pushes import pusher_of
from tests.concurrency import run_together
from tests.conftest import Clock
from tests.conftest import Sandbox
from tests.conftest import check_error_shape

URL = f"/channels/wechat/{OFFICIAL_ACCOUNT}/messages"


@pytest.fixture
def chatting(clean_sandbox: Sandbox, database_url: str, clock: Clock, tmp_path: Path) -> Iterator[tuple[Flask, Pusher]]:
    """citytiles with the demo official account chatting, its upstreams at the sandbox."""
    settings = clean_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    pusher = pusher_of(clean_sandbox.state_dir)
    application = create_app(settings, clock=clock)
    application.testing = True
    yield application, pusher
    application.extensions["tasks"].drain() if hasattr(application.extensions["tasks"], "drain") else None
    application.extensions["engine"].dispose()


@pytest.fixture
def oa(chatting: tuple[Flask, Pusher]) -> FlaskClient:
    return chatting[0].test_client()


@pytest.fixture
def pusher(chatting: tuple[Flask, Pusher]) -> Pusher:
    return chatting[1]


@pytest.fixture(autouse=True)
def seeded(chatting: tuple[Flask, Pusher], session: Session, clock: Clock) -> None:
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    seed_catalogue(session, read_seed(chatting[0].extensions["settings"].catalogue_seed), now=clock())


def push(oa: FlaskClient, pusher: Pusher, xml: str, **query: str) -> tuple[int, str]:
    answer = oa.post(URL, query_string={**pusher.query(), **query}, data=xml.encode(), content_type="text/xml")
    return answer.status_code, answer.get_data(as_text=True)


def stored(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ChatMessage)) or 0


def test_wechat_checks_the_server_url_with_a_signed_echostr(oa: FlaskClient, pusher: Pusher) -> None:
    good = oa.get(URL, query_string={**pusher.query(), "echostr": "4812039517"})
    assert good.status_code == 200 and good.get_data(as_text=True) == "4812039517"
    forged = oa.get(URL, query_string={**pusher.query(), "signature": "0" * 40, "echostr": "4812039517"})
    assert forged.status_code == 403
    check_error_shape(forged.get_json())
    assert forged.get_json()["error"]["code"] == "chat.push_refused"
    stale = oa.get(URL, query_string={**pusher.query(at=int(time.time()) - 301), "echostr": "1"})
    assert stale.status_code == 403
    # WeChat's echostr is digits; anything else is not its check, even under a good signature.
    for echo in ("<script>", "", "12a"):
        assert oa.get(URL, query_string={**pusher.query(), "echostr": echo}).status_code == 403
    assert oa.get(URL, query_string={**pusher.query(), "echostr": "7"}).get_data(as_text=True) == "7"
    assert oa.get(URL, query_string=pusher.query()).status_code == 403  # no echostr at all


def test_a_server_check_whose_echostr_is_not_digits_is_refused_and_the_security_log_says_why(
    oa: FlaskClient, pusher: Pusher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        assert oa.get(URL, query_string={**pusher.query(), "echostr": "12a"}).status_code == 403
    [refusal] = [r for r in caplog.records if r.getMessage() == "a chat push was refused"]
    assert (refusal.channel, refusal.reason) == ("wechat", "echostr is not WeChat's")  # type: ignore[attr-defined]


def test_a_keyword_gets_a_passive_reply_to_its_sender_from_the_account(oa: FlaskClient, pusher: Pusher) -> None:
    openid = new_openid()
    status, body = push(oa, pusher, pusher.text(openid, "帮助"))
    assert status == 200
    assert f"<ToUserName><![CDATA[{openid}]]></ToUserName>" in body
    assert "<FromUserName><![CDATA[gh_3f5a7c9e1b2d]]></FromUserName>" in body
    assert "挪车 浙A12345" in body
    status, english = push(oa, pusher, pusher.text(openid, "HELP"))
    assert "move car 浙A12345" in english


def test_safe_mode_is_decrypted_and_answered_encrypted(oa: FlaskClient, pusher: Pusher) -> None:
    openid = new_openid()
    body, query = pusher.encrypted(pusher.text(openid, "挂号"))
    answer = oa.post(URL, query_string=query, data=body.encode(), content_type="text/xml")
    assert answer.status_code == 200
    reply = pusher.opened(answer.get_data(as_text=True))
    assert f"<ToUserName><![CDATA[{openid}]]></ToUserName>" in reply
    assert 'data-miniprogram-appid="wx7c1b5d1e2f3a4b50"' in reply


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0" * 40},
        {"timestamp": "1700000000"},
        {"timestamp": "not-a-time"},
    ],
)
def test_a_forged_or_stale_push_is_refused_and_nothing_is_stored(
    oa: FlaskClient, pusher: Pusher, session: Session, change: dict[str, str]
) -> None:
    status, _ = push(oa, pusher, pusher.text(new_openid(), "公积金"), **change)
    assert status == 403
    assert stored(session) == 0


def test_a_safe_mode_push_under_another_signature_or_for_another_account_is_refused(
    oa: FlaskClient, pusher: Pusher, session: Session
) -> None:
    body, query = pusher.encrypted(pusher.text(new_openid(), "公积金"))
    tampered = oa.post(URL, query_string={**query, "msg_signature": "f" * 40}, data=body, content_type="text/xml")
    assert tampered.status_code == 403
    stranger = Pusher(pusher.token, pusher.aes_key, app_id="wx0000000000000000")
    body, query = stranger.encrypted(stranger.text(new_openid(), "公积金"))
    assert oa.post(URL, query_string=query, data=body, content_type="text/xml").status_code == 403
    other = Pusher(pusher.token, pusher.aes_key, original_id="gh_000000000000")
    status, _ = push(oa, other, other.text(new_openid(), "公积金"))
    assert status == 403
    assert stored(session) == 0


XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh_3f5a7c9e1b2d</ToUserName><FromUserName>oAbcdefgh</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&secret;</Content><MsgId>1</MsgId></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10))
    + "]><xml><ToUserName>gh_3f5a7c9e1b2d</ToUserName><Content>&lol9;</Content></xml>"
)


@pytest.mark.parametrize("hostile", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_is_refused_without_expanding_anything(
    oa: FlaskClient, pusher: Pusher, session: Session, hostile: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.perf_counter()
    status, body = push(oa, pusher, hostile)
    assert status == 403
    assert time.perf_counter() - started < 2  # nothing was expanded on the way
    assert "root:" not in body and "lollol" not in body
    assert stored(session) == 0
    # The same, encrypted: refused after decryption, before any parsing of entities.
    sealed, query = pusher.encrypted(hostile)
    assert oa.post(URL, query_string=query, data=sealed, content_type="text/xml").status_code == 403


def test_a_ten_megabyte_body_is_refused_before_it_is_read(oa: FlaskClient, pusher: Pusher, session: Session) -> None:
    huge = pusher.text(new_openid(), "公积金" * (10 * 1024 * 1024 // 9))
    status, body = push(oa, pusher, huge)
    assert status == 413
    assert stored(session) == 0


def test_twenty_copies_of_one_message_at_the_same_moment_act_once(
    oa: FlaskClient, pusher: Pusher, session: Session, chatting: tuple[Flask, Pusher]
) -> None:
    openid = new_openid()
    xml = pusher.text(openid, "挪车 浙A12345", msg_id=7_123_456_789_012_345)
    answers = run_together(20, lambda _: push(oa, pusher, xml))
    assert {status for status, _ in answers} == {200}
    # Every copy got the one reply, or success: never a second action.
    # (Each rendering has its own CreateTime: the words are what must be one.)
    replies = {body.split("<Content><![CDATA[")[1].split("]]>")[0] for _, body in answers if body != "success"}
    assert len(replies) == 1 and "浙A***45" in replies.pop()
    assert stored(session) == 1
    # The location that completes the request, twenty times at once: one request at the traffic police.
    place = pusher.location(openid, 30.2741, 120.1551, msg_id=7_123_456_789_012_346)
    answers = run_together(20, lambda _: push(oa, pusher, place))
    assert {status for status, _ in answers} == {200}
    chatting[0].extensions["tasks"].drain()  # a copy that answered "success" left the request to the task
    session.rollback()
    assert len(session.scalars(select(CarMoveRequest)).all()) == 1 and stored(session) == 2


def test_a_plate_then_a_location_ask_the_owner_once_through_the_same_quotas(
    oa: FlaskClient, pusher: Pusher, session: Session, chatting: tuple[Flask, Pusher]
) -> None:
    openid = new_openid()
    status, asked = push(oa, pusher, pusher.text(openid, "挪车 浙a12345"))
    assert "收到车牌 浙A***45" in asked and "位置" in asked
    status, sent = push(oa, pusher, pusher.location(openid, 30.2741, 120.1551))
    assert status == 200 and "已请车主挪车，车牌 浙A***45" in sent
    made = session.scalars(select(CarMoveRequest)).all()
    assert len(made) == 1 and made[0].channel == "wechat" and made[0].city_code == "330100"
    status, progress = push(oa, pusher, pusher.text(openid, "进度"))
    assert "您最近的申请" in progress and "挪车 浙A***45" in progress and "12345" not in progress
    # The plate went with that request: another location asks for nothing more.
    status, again = push(oa, pusher, pusher.location(openid, 30.2742, 120.1552))
    assert "收到您的位置" in again
    # With a fresh location the plate alone asks; within the API's 10 minutes per plate it is refused in words.
    status, cooling = push(oa, pusher, pusher.text(openid, "挪车 浙A12345"))
    assert "请过 10 分钟再试" in cooling
    session.expire_all()
    assert len(session.scalars(select(CarMoveRequest)).all()) == 1
    chatting[0].extensions["tally"].flush()
    session.rollback()  # a new snapshot, after the flush
    counted = session.scalars(
        select(HourlyFigure).where(HourlyFigure.service_code == "car_move", HourlyFigure.channel == "wechat")
    ).all()
    assert sum(row.requests for row in counted) == 2 and sum(row.succeeded for row in counted) == 1


def test_a_bad_plate_or_none_gets_an_example(oa: FlaskClient, pusher: Pusher) -> None:
    openid = new_openid()
    assert "车牌号不对" in push(oa, pusher, pusher.text(openid, "挪车 浙I12345"))[1]
    assert "例如：挪车 浙A12345" in push(oa, pusher, pusher.event(openid, "CLICK", "car_move"))[1]
    push(oa, pusher, pusher.location(openid, 30.2741, 120.1551))
    assert "没有查到这辆车" in push(oa, pusher, pusher.text(openid, "挪车 浙A54321"))[1]


def test_follow_gets_the_welcome_and_unfollow_no_reply(oa: FlaskClient, pusher: Pusher, session: Session) -> None:
    openid = new_openid()
    assert "欢迎关注" in push(oa, pusher, pusher.event(openid, "subscribe"))[1]
    assert push(oa, pusher, pusher.event(openid, "unsubscribe"))[1] == "success"
    assert stored(session) == 2


def test_a_reply_to_someone_wechat_does_not_know_is_refused_for_good_and_a_failing_wechat_is_tried_again(
    chatting: tuple[Flask, Pusher], clean_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    account = chatting[0].extensions["channels"].chats[OFFICIAL_ACCOUNT]
    with caplog.at_level(logging.INFO, logger="citytiles.outbound"):
        with pytest.raises(UpstreamRejected) as refused:
            account.send_text(new_openid(), "您好")
        assert (refused.value.code, refused.value.kind) == ("chat.not_sendable", "conflict")
        clean_sandbox.helper("POST", "faults", json={"target": "wechat.custom_send", "mode": "error"})
        with pytest.raises(UpstreamUnavailable) as busy:
            account.send_text(new_openid(), "您好")
        assert busy.value.code == "channel.unavailable"
        # A follower's profile that cannot be read now is asked again later.
        clean_sandbox.helper("POST", "faults", json={"target": "wechat.user_info", "mode": "error"})
        with pytest.raises(UpstreamUnavailable):
            account.unionid_of(new_openid())
    calls = [(r.connection, r.operation) for r in caplog.records if r.getMessage() == "outbound call"]  # type: ignore[attr-defined]
    assert calls == [(f"channel.wechat.{OFFICIAL_ACCOUNT}", op) for op in ("custom_send", "custom_send", "user_info")]
