"""What an official account reads out of a push: its age, size, account and sender, each field and its refusals."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from channels.wechat.chat import OfficialAccountChat
from channels.wechat.chat import _fields
from channels.wechat.chat import _incoming
from chat.ports import ChatRefused
from chat.ports import Incoming
from tests.chat.pushes import OFFICIAL_ACCOUNT
from tests.chat.pushes import ORIGINAL_ID
from tests.chat.pushes import Pusher

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
CREATED = "1700000000"
SENT_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
# WeChat's clock when the pushes below are read; their signatures are dated by it.
NOW = 1_763_000_000
PUSHER = Pusher("t0ken-of-the-test-account", "a" * 43)


def account(now: float = NOW) -> OfficialAccountChat:
    """The account as citytiles reads its pushes: reading and passive replies never call WeChat."""
    return OfficialAccountChat(
        OFFICIAL_ACCOUNT,
        ORIGINAL_ID,
        PUSHER.token,
        PUSHER.aes_key,
        None,
        None,
        wall_clock=lambda: now,  # type: ignore[arg-type]
    )


def reason(read: Callable[[], Any]) -> str:
    """Why the read was refused: the reason the security log shows."""
    with pytest.raises(ChatRefused) as refused:
        read()
    return refused.value.reason


def fields(**more: str) -> dict[str, str]:
    return {"ToUserName": ORIGINAL_ID, "FromUserName": OPENID, "CreateTime": CREATED, **more}


def location(latitude: str, longitude: str) -> Incoming:
    return _incoming(
        OFFICIAL_ACCOUNT, OPENID, fields(MsgType="location", MsgId="1", Location_X=latitude, Location_Y=longitude)
    )


def test_a_text_is_read_with_its_time_in_utc() -> None:
    got = _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="text", MsgId="7123456789012345", Content="公积金"))
    assert got == Incoming("wechat", OFFICIAL_ACCOUNT, OPENID, "7123456789012345", "text", SENT_AT, text="公积金")
    assert got.sent_at.tzinfo is UTC


def test_a_text_is_cut_at_2048_characters_and_one_without_content_is_blank() -> None:
    got = _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="text", MsgId="1", Content="字" * 2047 + "尾" + "多" * 9))
    assert got.text == "字" * 2047 + "尾"
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="image", MsgId="1")) == Incoming(
        "wechat", OFFICIAL_ACCOUNT, OPENID, "1", "text", SENT_AT, text=""
    )


def test_an_event_is_keyed_by_its_sender_time_and_name_and_named_as_every_channels_are() -> None:
    got = _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="event", Event="subscribe", EventKey="qrscene_1"))
    assert got == Incoming(
        "wechat", OFFICIAL_ACCOUNT, OPENID, f"event:{OPENID}:{CREATED}:subscribe", "event", SENT_AT,
        event="follow", event_key="qrscene_1",
    )  # fmt: skip
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="event", Event="unsubscribe")).event == "unfollow"
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="event", Event="CLICK")).event == "click"


def test_an_event_without_its_name_or_key_is_read_with_both_blank() -> None:
    got = _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="event"))
    assert got == Incoming(
        "wechat", OFFICIAL_ACCOUNT, OPENID, f"event:{OPENID}:{CREATED}:", "event", SENT_AT, event="", event_key=""
    )


def test_an_event_wechat_names_otherwise_keeps_its_own_name_cut_at_32_and_its_key_at_64() -> None:
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, fields(MsgType="event", Event="VIEW")).event == "view"
    long = fields(MsgType="event", Event="e" * 31 + "f" + "g" * 8, EventKey="k" * 63 + "l" + "m" * 6)
    got = _incoming(OFFICIAL_ACCOUNT, OPENID, long)
    assert (got.event, got.event_key) == ("e" * 31 + "f", "k" * 63 + "l")


def test_a_location_is_read_in_degrees_with_its_label_cut_at_128() -> None:
    where = fields(MsgType="location", MsgId="9", Location_X="30.27415", Location_Y="120.15515", Label="杭州市西湖区")
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, where) == Incoming(
        "wechat", OFFICIAL_ACCOUNT, OPENID, "9", "location", SENT_AT, latitude=30.27415, longitude=120.15515,
        label="杭州市西湖区",
    )  # fmt: skip
    long = fields(MsgType="location", MsgId="9", Location_X="30", Location_Y="120", Label="路" * 127 + "口" + "多" * 3)
    assert _incoming(OFFICIAL_ACCOUNT, OPENID, long).label == "路" * 127 + "口"
    assert location("30", "120").label == ""


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [("90", "0"), ("-90", "0"), ("90.0", "180.0"), ("-90.0", "-180.0"), ("0", "180"), ("0", "-180")],
)
def test_the_poles_and_the_date_line_are_on_earth(latitude: str, longitude: str) -> None:
    got = location(latitude, longitude)
    assert (got.latitude, got.longitude) == (float(latitude), float(longitude))


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        ("90.000001", "0"), ("-90.000001", "0"), ("90.5", "0"), ("-90.5", "0"), ("91", "0"),
        ("0", "180.000001"), ("0", "-180.000001"), ("0", "180.5"), ("0", "-180.5"), ("0", "181"),
    ],
)  # fmt: skip
def test_a_location_beyond_the_poles_or_the_date_line_is_refused(latitude: str, longitude: str) -> None:
    assert reason(lambda: location(latitude, longitude)) == "the location is not on Earth"


@pytest.mark.parametrize(
    "where",
    [
        {"Location_X": "abc", "Location_Y": "120"},
        {"Location_X": "30", "Location_Y": "abc"},
        {"Location_X": "30"},
        {"Location_Y": "120"},
        {"Location_X": "1e2", "Location_Y": "120"},
    ],
)
def test_a_location_not_in_degrees_is_refused(where: dict[str, str]) -> None:
    read = fields(MsgType="location", MsgId="1", **where)
    assert reason(lambda: _incoming(OFFICIAL_ACCOUNT, OPENID, read)) == "the location is not in degrees"


@pytest.mark.parametrize("created", [None, "", "1.5", "-1", "1" * 21])
def test_a_push_without_a_time_in_seconds_is_refused(created: str | None) -> None:
    read = {k: v for k, v in fields(MsgType="text", MsgId="1").items() if k != "CreateTime"}
    if created is not None:
        read["CreateTime"] = created
    assert reason(lambda: _incoming(OFFICIAL_ACCOUNT, OPENID, read)) == "CreateTime is not a time"


@pytest.mark.parametrize("msg_id", [None, "", "m1", "1" * 21])
def test_a_message_without_its_id_is_refused(msg_id: str | None) -> None:
    read = fields(MsgType="text", Content="帮助", **({"MsgId": msg_id} if msg_id is not None else {}))
    assert reason(lambda: _incoming(OFFICIAL_ACCOUNT, OPENID, read)) == "a message without its MsgId"


def test_the_xml_fields_are_read_by_name_and_trimmed() -> None:
    xml = b"<xml><ToUserName> gh_1 </ToUserName><Content></Content><MsgId>1</MsgId></xml>"
    assert _fields(xml) == {"ToUserName": "gh_1", "Content": "", "MsgId": "1"}


@pytest.mark.parametrize("garbled", [b"<xml><MsgId>", b"", b"not xml", b"<XML><MsgId>1</MsgId></XML>"])
def test_a_body_that_is_not_wechats_xml_is_refused(garbled: bytes) -> None:
    assert reason(lambda: _fields(garbled)) == "the body is not WeChat's XML"


def test_a_push_is_read_under_its_signature_with_the_openid_of_its_query() -> None:
    query = PUSHER.query(at=NOW)
    xml = PUSHER.text(OPENID, "帮助", 42, created=int(CREATED)).encode()
    expected = Incoming("wechat", OFFICIAL_ACCOUNT, OPENID, "42", "text", SENT_AT, text="帮助")
    assert account().read(query, xml) == expected
    assert account().read({**query, "openid": OPENID}, xml) == expected
    assert reason(lambda: account().read({**query, "openid": "oSomeoneElse1"}, xml)) == "the sender is not an openid"
    others = PUSHER.text("o!", "帮助", 42).encode()
    assert reason(lambda: account().read(query, others)) == "the sender is not an openid"


def test_a_push_for_another_account_is_refused() -> None:
    xml = Pusher(PUSHER.token, PUSHER.aes_key, original_id="gh_000000000000").text(OPENID, "帮助").encode()
    assert reason(lambda: account().read(PUSHER.query(at=NOW), xml)) == "the message is for another account"


@pytest.mark.parametrize("age", [-300, 300])
def test_a_push_signed_five_minutes_either_side_of_now_is_read(age: int) -> None:
    assert account().read(PUSHER.query(at=NOW - age), PUSHER.text(OPENID, "帮助").encode()).text == "帮助"


@pytest.mark.parametrize("age", [-301, 301])
def test_a_push_signed_more_than_five_minutes_either_side_of_now_is_refused(age: int) -> None:
    body = PUSHER.text(OPENID, "帮助").encode()
    assert reason(lambda: account().read(PUSHER.query(at=NOW - age), body)) == (
        "the timestamp is missing or more than five minutes off"
    )


def test_a_push_without_its_timestamp_or_signature_is_refused() -> None:
    body, query = PUSHER.text(OPENID, "帮助").encode(), PUSHER.query(at=NOW)
    stale = "the timestamp is missing or more than five minutes off"
    assert reason(lambda: account().read({k: v for k, v in query.items() if k != "timestamp"}, body)) == stale
    assert reason(lambda: account().read({**query, "timestamp": "1.5"}, body)) == stale
    unsigned = {k: v for k, v in query.items() if k != "signature"}
    assert reason(lambda: account().read(unsigned, body)) == "the signature does not match"
    assert reason(lambda: account().read({k: v for k, v in query.items() if k != "nonce"}, body)) == (
        "the signature does not match"
    )


def test_a_body_of_sixteen_kilobytes_is_read_and_one_byte_more_is_refused() -> None:
    bare = PUSHER.text(OPENID, "", 1).encode()
    padding = 16 * 1024 - len(bare)
    largest = PUSHER.text(OPENID, "a" * padding, 1).encode()
    assert len(largest) == 16 * 1024
    assert account().read(PUSHER.query(at=NOW), largest).text == "a" * 2048
    too_large = PUSHER.text(OPENID, "a" * (padding + 1), 1).encode()
    assert reason(lambda: account().read(PUSHER.query(at=NOW), too_large)) == "the body is too large"


def test_a_body_declaring_a_dtd_is_refused_before_it_is_read() -> None:
    body = b'<!DOCTYPE xml [<!ENTITY a "b">]>' + PUSHER.text(OPENID, "帮助").encode()
    assert reason(lambda: account().read(PUSHER.query(at=NOW), body)) == "the body declares a DTD or entities"


def test_a_safe_mode_push_is_decrypted_and_checked_as_a_plain_one() -> None:
    body, query = PUSHER.encrypted(PUSHER.text(OPENID, "帮助", 42, created=int(CREATED)))
    got = account(now=int(query["timestamp"])).read(query, body.encode())
    assert got == Incoming("wechat", OFFICIAL_ACCOUNT, OPENID, "42", "text", SENT_AT, text="帮助")


def test_a_safe_mode_push_that_is_stale_forged_garbled_or_declaring_a_dtd_is_refused() -> None:
    body, query = PUSHER.encrypted(PUSHER.text(OPENID, "帮助"))
    now = int(query["timestamp"])
    assert reason(lambda: account(now + 301).read(query, body.encode())) == (
        "the timestamp is missing or more than five minutes off"
    )
    assert reason(lambda: account(now).read({**query, "msg_signature": "0" * 40}, body.encode())) == (
        "the msg_signature or the app id does not match"
    )
    for missing in ("msg_signature", "nonce"):
        unsigned = {k: v for k, v in query.items() if k != missing}
        assert reason(lambda q=unsigned: account(now).read(q, body.encode())) == (
            "the msg_signature or the app id does not match"
        )
    garbled = re.sub(r"<Encrypt>.*</Encrypt>", "<Encrypt>bm90IGFlcw==</Encrypt>", body)
    sealed = garbled.split("<Encrypt>")[1].split("</Encrypt>")[0]
    signed = PUSHER.query(at=now, encrypt=sealed)
    assert reason(lambda: account(now).read(signed, garbled.encode())) == "the encrypted body cannot be read"
    hostile, asked = PUSHER.encrypted('<!DOCTYPE xml [<!ENTITY a "b">]>' + PUSHER.text(OPENID, "&a;"))
    assert reason(lambda: account(int(asked["timestamp"])).read(asked, hostile.encode())) == (
        "the decrypted body declares a DTD or entities"
    )


def test_nothing_to_say_is_answered_with_success() -> None:
    assert account().passive(PUSHER.query(at=NOW), OPENID, "") == "success"


def test_a_passive_reply_comes_from_the_account_to_the_sender_at_wechats_time() -> None:
    reply = account().passive(PUSHER.query(at=NOW), OPENID, "您好")
    assert _fields(reply.encode()) == {
        "MsgType": "text", "Content": "您好", "FromUserName": ORIGINAL_ID, "ToUserName": OPENID, "CreateTime": str(NOW),
    }  # fmt: skip


def test_a_passive_reply_to_a_safe_mode_push_is_encrypted_with_its_nonce() -> None:
    body, query = PUSHER.encrypted(PUSHER.text(OPENID, "帮助"))
    reply = account(now=NOW).passive(query, OPENID, "您好")
    assert f"<Nonce><![CDATA[{query['nonce']}]]></Nonce>" in reply and f"<TimeStamp>{NOW}</TimeStamp>" in reply
    assert _fields(PUSHER.opened(reply).encode())["Content"] == "您好"


def test_the_server_check_answers_with_the_echostr() -> None:
    assert account().url_check({**PUSHER.query(at=NOW), "echostr": "4812039517"}) == "4812039517"
    assert reason(lambda: account().url_check({**PUSHER.query(at=NOW), "echostr": "48a"})) == "echostr is not WeChat's"
