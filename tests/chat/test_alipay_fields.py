"""What a life account reads out of a push's XML once it is signed: each field, its limits, its refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from channels.alipay.chat import _fields
from channels.alipay.chat import _incoming
from chat.ports import ChatRefused
from chat.ports import Incoming

APP, USER = "2021004100000002", "2088000000000001"
# 2023-11-14 22:13:20.123 UTC, in Alipay's milliseconds.
CREATED = "1700000000123"
SENT_AT = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def fields(**more: str) -> dict[str, str]:
    """What _fields gives for a push: the sender and time, then the fields asked for."""
    return {"AppId": APP, "FromUserId": USER, "CreateTime": CREATED, "Content": "", **more}


def reason(read: Callable[[], Any]) -> str:
    """Why the read was refused: the reason the security log shows."""
    with pytest.raises(ChatRefused) as refused:
        read()
    return refused.value.reason


def location(latitude: str, longitude: str) -> Incoming:
    return _incoming(APP, fields(MsgType="location", MsgId="m1", Latitude=latitude, Longitude=longitude))


def test_a_text_is_read_with_its_time_in_utc_to_the_millisecond() -> None:
    got = _incoming(APP, fields(MsgType="text", MsgId="7123456789012345", Content="公积金"))
    assert got == Incoming("alipay", APP, USER, "7123456789012345", "text", SENT_AT, text="公积金")
    assert got.sent_at.tzinfo is UTC


def test_a_text_is_cut_at_2048_characters() -> None:
    got = _incoming(APP, fields(MsgType="text", MsgId="m1", Content="字" * 2047 + "尾" + "多" * 52))
    assert got.text == "字" * 2047 + "尾"


def test_a_push_without_a_message_type_is_read_as_a_text() -> None:
    got = _incoming(APP, fields(MsgId="m1", Content="帮助"))
    assert (got.kind, got.text, got.dedup_key) == ("text", "帮助", "m1")


def test_an_event_is_keyed_by_its_sender_time_and_name() -> None:
    got = _incoming(APP, fields(MsgType="event", EventType="CLICK", ActionParam="progress"))
    assert got == Incoming(
        "alipay", APP, USER, f"event:{USER}:{CREATED}:click", "event", SENT_AT, event="click", event_key="progress"
    )


def test_an_event_without_its_type_or_key_is_read_with_both_blank() -> None:
    got = _incoming(APP, fields(MsgType="event"))
    assert got == Incoming("alipay", APP, USER, f"event:{USER}:{CREATED}:", "event", SENT_AT, event="", event_key="")


def test_an_event_alipay_names_otherwise_keeps_its_own_name_cut_at_32() -> None:
    assert _incoming(APP, fields(MsgType="event", EventType="enter")).event == "enter"
    long = "e" * 31 + "f" + "g" * 8
    assert _incoming(APP, fields(MsgType="event", EventType=long)).event == "e" * 31 + "f"


def test_a_menu_key_is_cut_at_64_characters() -> None:
    got = _incoming(APP, fields(MsgType="event", EventType="click", ActionParam="k" * 63 + "l" + "m" * 6))
    assert got.event_key == "k" * 63 + "l"


def test_a_location_is_read_in_degrees_with_its_label() -> None:
    got = _incoming(
        APP, fields(MsgType="location", MsgId="m1", Latitude="30.27415", Longitude="120.15515", Label="杭州市西湖区")
    )
    assert got == Incoming(
        "alipay", APP, USER, "m1", "location", SENT_AT, latitude=30.27415, longitude=120.15515, label="杭州市西湖区"
    )


def test_a_location_label_is_cut_at_128_characters_and_is_blank_when_missing() -> None:
    labelled = fields(
        MsgType="location", MsgId="m1", Latitude="30", Longitude="120", Label="路" * 127 + "口" + "多" * 5
    )
    assert _incoming(APP, labelled).label == "路" * 127 + "口"
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
        ("90.000001", "0"),
        ("-90.000001", "0"),
        ("90.5", "0"),
        ("-90.5", "0"),
        ("0", "180.000001"),
        ("0", "-180.000001"),
        ("0", "180.5"),
        ("0", "-180.5"),
        ("91", "0"),
        ("0", "181"),
    ],
)
def test_a_location_beyond_the_poles_or_the_date_line_is_refused(latitude: str, longitude: str) -> None:
    assert reason(lambda: location(latitude, longitude)) == "the location is not on Earth"


@pytest.mark.parametrize(
    "where",
    [
        {"Latitude": "abc", "Longitude": "120"},
        {"Latitude": "30", "Longitude": "abc"},
        {"Latitude": "30"},
        {"Longitude": "120"},
        {"Latitude": "1e2", "Longitude": "120"},
    ],
)
def test_a_location_not_in_degrees_is_refused(where: dict[str, str]) -> None:
    read = fields(MsgType="location", MsgId="m1", **where)
    assert reason(lambda: _incoming(APP, read)) == "the location is not in degrees"


@pytest.mark.parametrize("created", [None, "", "17000000001234", "1.5", "-1"])
def test_a_push_without_a_time_in_milliseconds_is_refused(created: str | None) -> None:
    read = {k: v for k, v in fields(MsgType="text", MsgId="m1").items() if k != "CreateTime"}
    if created is not None:
        read["CreateTime"] = created
    assert reason(lambda: _incoming(APP, read)) == "CreateTime is not a time"


@pytest.mark.parametrize("msg_id", [None, "", "m" * 65, "m 1"])
def test_a_message_without_its_id_is_refused(msg_id: str | None) -> None:
    read = fields(MsgType="text", Content="帮助", **({"MsgId": msg_id} if msg_id is not None else {}))
    assert reason(lambda: _incoming(APP, read)) == "a message without its MsgId"


def xml_of(content: str) -> str:
    return (
        f"<XML><AppId>{APP}</AppId><FromUserId>{USER}</FromUserId><CreateTime>{CREATED}</CreateTime>"
        f"<MsgType>text</MsgType><MsgId>m1</MsgId><Text><Content>{content}</Content></Text></XML>"
    )


def test_the_xml_fields_are_read_by_name_and_the_text_from_its_content() -> None:
    assert _fields(xml_of(" 公积金 ")) == {
        "AppId": APP,
        "FromUserId": USER,
        "CreateTime": CREATED,
        "MsgType": "text",
        "MsgId": "m1",
        "Text": "",
        "Content": "公积金",
    }
    assert _fields(f"<XML><AppId>{APP}</AppId></XML>") == {"AppId": APP, "Content": ""}


def test_an_xml_of_sixteen_kilobytes_is_read_and_one_character_more_is_refused() -> None:
    padding = 16 * 1024 - len(xml_of(""))
    largest = xml_of("字" * padding)
    assert len(largest) == 16 * 1024
    assert _fields(largest)["Content"] == "字" * padding
    assert reason(lambda: _fields(xml_of("字" * (padding + 1)))) == "the XML is too large"
    assert _fields(xml_of(""))["Content"] == ""


@pytest.mark.parametrize(
    "declared",
    [
        '<!DOCTYPE XML [<!ENTITY a "b">]><XML><AppId>&a;</AppId></XML>',
        "<!doctype XML><XML><AppId>x</AppId></XML>",
        "<XML><AppId><![CDATA[<! ENTITY]]></AppId></XML>",
    ],
)
def test_an_xml_declaring_a_dtd_or_an_entity_is_refused_before_it_is_parsed(declared: str) -> None:
    assert reason(lambda: _fields(declared)) == "the XML declares a DTD or entities"


@pytest.mark.parametrize("garbled", ["<XML><AppId>", "", "not xml", "<xml><AppId>x</AppId></xml>", "<A/>"])
def test_a_biz_content_that_is_not_alipays_xml_is_refused(garbled: str) -> None:
    assert reason(lambda: _fields(garbled)) == "the biz_content is not Alipay's XML"
