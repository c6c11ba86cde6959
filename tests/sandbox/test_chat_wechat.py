"""WeChat pushes what users send the official account to citytiles, signed (sealed in safe mode); the reply."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from sandbox.wechat_crypto import wechat_signature
from tests.sandbox.chat_citytiles import OFFICIAL_ACCOUNT
from tests.sandbox.chat_citytiles import ORIGINAL_ID
from tests.sandbox.chat_citytiles import StandIn
from tests.sandbox.chat_citytiles import chat
from tests.sandbox.chat_citytiles import encrypted_text
from tests.sandbox.chat_citytiles import passive_text
from tests.sandbox.chat_citytiles import plain
from tests.sandbox.chat_citytiles import sha1_of_sorted
from tests.sandbox.chat_citytiles import slow
from tests.sandbox.conftest import MINI_PROGRAM
from tests.sandbox.conftest import RunningSandbox


def say(sandbox: RunningSandbox, **body: Any) -> dict[str, Any]:
    """The user sends the official account something (text, event or location)."""
    return chat(sandbox, channel="wechat", app_id=OFFICIAL_ACCOUNT, **body)


def test_a_text_is_pushed_signed_and_the_passive_reply_comes_back(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    stand_in.answer_with(passive_text("您好，请问要办理什么业务？"))

    answer = say(chat_sandbox, text="我想查公积金")

    [heard] = stand_in.heard
    assert heard.signature_ok and heard.headers["Content-Type"] == "text/xml"
    assert heard.query["openid"] == answer["user"] and "encrypt_type" not in heard.query
    fields = heard.fields
    assert (fields["ToUserName"], fields["FromUserName"], fields["MsgType"]) == (ORIGINAL_ID, answer["user"], "text")
    assert fields["Content"] == "我想查公积金" and fields["MsgId"] == answer["msg_id"]
    assert 0 < int(fields["MsgId"]) < 2**63 and abs(int(fields["CreateTime"]) - heard.at) < 5
    message = parse_message(heard.xml)  # what citytiles' wechatpy makes of it
    assert (message.type, message.content, message.source, message.target) == (
        "text",
        "我想查公积金",
        answer["user"],
        ORIGINAL_ID,
    )
    assert answer["outcome"] == "replied" and answer["reply"] == {
        "msg_type": "text",
        "content": "您好，请问要办理什么业务？",
    }
    assert [made["status"] for made in answer["tries"]] == [200]
    assert answer["pushed"]["query"] == heard.query and answer["pushed"]["body"] == heard.body.decode()


def test_success_or_an_empty_body_takes_the_message_without_a_reply(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    stand_in.answer_with(plain("success"), plain(""))

    first, second = say(chat_sandbox, text="你好"), say(chat_sandbox, text="在吗")

    assert [(a["outcome"], a["reply"]) for a in (first, second)] == [("accepted", None), ("accepted", None)]
    assert first["msg_id"] != second["msg_id"]


def test_no_answer_in_time_is_tried_three_times_with_the_same_message(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    stand_in.answer_with(slow(1.6), slow(1.6), slow(1.6), plain("success"))

    answer = say(chat_sandbox, text="挪车")

    heard = stand_in.heard
    assert len(heard) == 3 and answer["outcome"] == "failed" and answer["reply"] is None
    assert [(made["status"], made["error"]) for made in answer["tries"]] == [(None, "timeout")] * 3
    assert all(made["elapsed_ms"] >= 900 for made in answer["tries"])
    assert {h.body for h in heard} == {heard[0].body}  # same XML: same MsgId and CreateTime
    assert {h.fields["MsgId"] for h in heard} == {answer["msg_id"]}
    assert len({h.query["nonce"] for h in heard}) == 3 and all(h.signature_ok for h in heard)


def test_an_answer_on_the_third_try_is_read(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    stand_in.answer_with(slow(1.6), slow(1.6), passive_text("收到"))

    answer = say(chat_sandbox, text="进度")

    assert [made["status"] for made in answer["tries"]] == [None, None, 200]
    assert answer["outcome"] == "replied" and answer["reply"]["content"] == "收到"


def test_a_wrong_reply_fails_at_once(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    openid = say(chat_sandbox, text="你好")["user"]
    wrong = [
        passive_text("给别人的", to="o-someone-else-000"),
        passive_text("别的公众号", sender="gh_000000000000"),
        plain("<xml><oops", status=200),
        plain("success", status=500),
        plain("<html>busy</html>"),
    ]
    stand_in.answer_with(*wrong)

    answers = [say(chat_sandbox, user=openid, text="查询") for _ in wrong]

    assert [a["outcome"] for a in answers] == ["failed"] * len(wrong)
    assert [len(a["tries"]) for a in answers] == [1] * len(wrong)  # WeChat tries again only without an answer
    assert answers[0]["reason"] == "a reply to another user" and answers[3]["reason"] == "HTTP 500"


def test_safe_mode_seals_the_message_and_reads_a_sealed_reply(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    stand_in.answer_with(encrypted_text("已收到您的定位"))

    answer = say(
        chat_sandbox, location={"latitude": 30.2741, "longitude": 120.1551, "label": "杭州市西湖区"}, encrypted=True
    )

    [heard] = stand_in.heard
    assert heard.signature_ok and heard.query["encrypt_type"] == "aes"  # signature, msg_signature and app id
    assert b"30.2741" not in heard.body and f"<![CDATA[{ORIGINAL_ID}]]>".encode() in heard.body
    fields = heard.fields
    assert (fields["MsgType"], fields["Label"], fields["Scale"]) == ("location", "杭州市西湖区", "15")
    assert (float(fields["Location_X"]), float(fields["Location_Y"])) == (30.2741, 120.1551)
    assert answer["outcome"] == "replied" and answer["reply"]["content"] == "已收到您的定位"
    # wechatpy, as citytiles uses it, opens the same body.
    crypto = WeChatCrypto(stand_in.token, stand_in.credential(f"wechat/{OFFICIAL_ACCOUNT}.aes_key"), OFFICIAL_ACCOUNT)
    query = heard.query
    opened = crypto.decrypt_message(heard.body.decode(), query["msg_signature"], query["timestamp"], query["nonce"])
    assert tuple(map(float, parse_message(opened).location)) == (30.2741, 120.1551)


def test_a_reply_sealed_by_wechatpy_is_read(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    def wechatpy_reply(stand_in: StandIn, heard: Any) -> tuple[int, bytes, float]:
        crypto = WeChatCrypto(
            stand_in.token, stand_in.credential(f"wechat/{OFFICIAL_ACCOUNT}.aes_key"), OFFICIAL_ACCOUNT
        )
        reply = (
            f"<xml><ToUserName><![CDATA[{heard.fields['FromUserName']}]]></ToUserName>"
            f"<FromUserName><![CDATA[{ORIGINAL_ID}]]></FromUserName><CreateTime>1700000000</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[好的]]></Content></xml>"
        )
        return 200, crypto.encrypt_message(reply, "424242").encode(), 0.0

    stand_in.answer_with(wechatpy_reply)

    assert say(chat_sandbox, text="你好", encrypted=True)["reply"] == {"msg_type": "text", "content": "好的"}


def test_safe_mode_refuses_badly_signed_plain_or_foreign_replies(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    stand_in.answer_with(
        encrypted_text("签名错了", bad_signature=True),
        passive_text("明文回复"),
        encrypted_text("别的应用", app_id="wx0000000000000000"),
    )

    answers = [say(chat_sandbox, text="你好", encrypted=True) for _ in range(3)]

    assert [a["outcome"] for a in answers] == ["failed"] * 3
    assert answers[0]["reason"] == "MsgSignature does not match"
    assert answers[2]["reason"] == "the encrypted reply names another app id"


def test_events_carry_no_msg_id_and_a_click_its_menu_key(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    openid = say(chat_sandbox, event={"type": "subscribe"})["user"]
    click = say(chat_sandbox, user=openid, event={"type": "click", "key": "housing_fund"})
    say(chat_sandbox, user=openid, event={"type": "unsubscribe"})

    subscribed, clicked, left = (h.fields for h in stand_in.heard)
    assert (subscribed["MsgType"], subscribed["Event"], "MsgId" in subscribed) == ("event", "subscribe", False)
    assert (clicked["Event"], clicked["EventKey"], click["msg_id"]) == ("CLICK", "housing_fund", None)
    assert left["Event"] == "unsubscribe" and "EventKey" not in left
    assert parse_message(stand_in.heard[1].xml).key == "housing_fund"


def test_the_same_person_chats_through_their_mini_program_identity(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    login = chat_sandbox.login_code(app_id=MINI_PROGRAM)
    person = {"app_id": MINI_PROGRAM, "openid": login["openid"]}

    first, second = say(chat_sandbox, person=person, text="你好"), say(chat_sandbox, person=person, text="再见")

    assert first["user"] == second["user"] != login["openid"]  # one openid per app, the same each time
    assert {h.fields["FromUserName"] for h in stand_in.heard} == {first["user"]}


def test_the_server_check_sends_echostr_and_wants_it_back(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    passed = chat_sandbox.helper("POST", "wechat/verify-server", json={"app_id": OFFICIAL_ACCOUNT}).json()
    [first] = stand_in.heard
    stand_in.answer_with(plain("not the echostr"))
    failed = chat_sandbox.helper("POST", "wechat/verify-server", json={"app_id": OFFICIAL_ACCOUNT}).json()

    assert passed["passed"] is True and failed["passed"] is False
    assert (
        first.method == "GET" and first.signature_ok and first.query["echostr"] == passed["pushed"]["query"]["echostr"]
    )
    assert failed["reason"] == "the body is not the echostr"


def test_chat_input_is_checked(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"user": "o-nobody-known-here"}, "user"),
        ({"person": {"app_id": MINI_PROGRAM, "openid": "o-nobody-known-here"}}, "person.openid"),
        ({"person": {"app_id": "wx0000000000000000", "openid": "o-someone"}}, "person.app_id"),
        ({"user": "o-someone", "person": {"app_id": MINI_PROGRAM, "openid": "o-someone"}}, "person"),
        ({"app_id": MINI_PROGRAM}, "app_id"),
        ({"event": {"type": "click"}}, "event.key"),
        ({"event": {"type": "subscribe", "key": "x"}}, "event.key"),
        ({"location": {"latitude": 91, "longitude": 120}}, "location.latitude"),
        ({"location": {"latitude": 30}}, "location.longitude"),
        ({"text": "你好", "event": {"type": "subscribe"}}, "text"),  # two messages
        ({"encrypted": "yes"}, "encrypted"),
    ]
    for extra, field in cases:
        said = {} if {"event", "location", "text"} & set(extra) else {"text": "你好"}
        body = {"channel": "wechat", "app_id": OFFICIAL_ACCOUNT, **said, **extra}
        error = chat(chat_sandbox, status=400, **body)["error"]
        assert error["code"] == "sandbox.invalid_request" and field in error["details"], (extra, error)
    no_message = chat(chat_sandbox, status=400, channel="wechat", app_id=OFFICIAL_ACCOUNT)["error"]
    assert set(no_message["details"]) == {"text", "event", "location"}
    assert stand_in.heard == []


def test_the_readme_signing_example_holds() -> None:
    readme = (Path(__file__).resolve().parents[2] / "sandbox" / "README.md").read_text(encoding="utf-8")
    section = readme.split("### WeChat official account: the push", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```text\n(.*?)```", section, flags=re.S)
    assert block
    example = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in block[1].splitlines())}
    token, timestamp, nonce = example["token"], example["timestamp"], example["nonce"]

    assert wechat_signature(token, timestamp, nonce) == sha1_of_sorted(token, timestamp, nonce) == example["signature"]
    sealed = example["Encrypt"]
    assert wechat_signature(token, timestamp, nonce, sealed) == example["msg_signature"]
