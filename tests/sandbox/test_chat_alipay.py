"""The Alipay life account pushes what users send it to citytiles' gateway, signed; it wants a signed answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.chat_citytiles import LIFE_ACCOUNT
from tests.sandbox.chat_citytiles import StandIn
from tests.sandbox.chat_citytiles import alipay_answer
from tests.sandbox.chat_citytiles import app_public_key_text
from tests.sandbox.chat_citytiles import chat
from tests.sandbox.chat_citytiles import plain
from tests.sandbox.chat_citytiles import slow
from tests.sandbox.conftest import ALIPAY_APP
from tests.sandbox.conftest import RunningSandbox

SEND = "alipay.open.public.message.custom.send"


def say(sandbox: RunningSandbox, **body: Any) -> dict[str, Any]:
    """The user sends the life account something (text, event or location)."""
    return chat(sandbox, channel="alipay", app_id=LIFE_ACCOUNT, **body)


def send(sandbox: RunningSandbox, user_id: str, content: str, app_id: str = LIFE_ACCOUNT) -> dict[str, Any]:
    """citytiles' python-alipay-sdk sending a customer-service text."""
    biz = {"to_user_id": user_id, "msg_type": "text", "text": {"content": content}}
    answer: dict[str, Any] = sandbox.alipay(app_id).server_api(SEND, biz_content=biz)
    return answer


def test_a_text_is_pushed_as_a_signed_form_the_sdk_verifies(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    answer = say(chat_sandbox, text="我想查公积金")

    [heard] = stand_in.heard
    assert heard.signature_ok  # python-alipay-sdk's verify with the platform public key
    assert heard.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert set(heard.form) == {"service", "charset", "sign_type", "biz_content", "sign"}
    assert (heard.form["service"], heard.form["charset"], heard.form["sign_type"]) == (
        "alipay.mobile.public.message.notify",
        "UTF-8",
        "RSA2",
    )
    fields = heard.fields
    assert (fields["AppId"], fields["FromUserId"], fields["MsgType"]) == (LIFE_ACCOUNT, answer["user"], "text")
    assert fields["Content"] == "我想查公积金" and fields["MsgId"] == answer["msg_id"]
    assert abs(int(fields["CreateTime"]) / 1000 - heard.at) < 5  # milliseconds
    assert answer["outcome"] == "accepted" and answer["reply"] is None and len(answer["tries"]) == 1
    assert dict(parse_qsl(answer["pushed"]["body"])) == heard.form


def test_events_and_locations(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    user = say(chat_sandbox, event={"type": "subscribe"})["user"]
    say(chat_sandbox, user=user, event={"type": "click", "key": "car_move"})
    say(chat_sandbox, user=user, location={"latitude": 22.5431, "longitude": 114.0579, "label": "深圳市福田区"})
    say(chat_sandbox, user=user, event={"type": "unsubscribe"})

    follow, click, where, unfollow = (h.fields for h in stand_in.heard)
    assert (follow["MsgType"], follow["EventType"], "MsgId" in follow) == ("event", "follow", False)
    assert (click["EventType"], click["ActionParam"], "MsgId" in click) == ("click", "car_move", False)
    assert (float(where["Latitude"]), float(where["Longitude"]), where["Label"]) == (22.5431, 114.0579, "深圳市福田区")
    assert where["MsgType"] == "location" and where["MsgId"].isdigit()
    assert unfollow["EventType"] == "unfollow"
    assert all(h.signature_ok for h in stand_in.heard)


def test_only_a_verified_success_takes_the_message(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = [
        plain("success"),  # the payment notifications' acknowledgement is not this one
        alipay_answer(key=stranger),
        alipay_answer(tamper=True),
        alipay_answer(success="false"),
        plain("<alipay><response><success>true</success></response></alipay>"),
        plain("oops", status=500),
    ]
    stand_in.answer_with(*wrong)

    answers = [say(chat_sandbox, text="你好") for _ in wrong]

    assert [a["outcome"] for a in answers] == ["failed"] * len(wrong)
    assert [len(a["tries"]) for a in answers] == [1] * len(wrong)
    assert "does not verify" in answers[1]["reason"] and answers[5]["reason"] == "HTTP 500"


def test_no_answer_in_time_is_tried_three_times_with_the_same_msg_id(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    stand_in.answer_with(slow(1.6), slow(1.6))

    answer = say(chat_sandbox, text="进度")

    assert [made["status"] for made in answer["tries"]] == [None, None, 200] and answer["outcome"] == "accepted"
    assert {h.fields["MsgId"] for h in stand_in.heard} == {answer["msg_id"]}
    assert {h.form["biz_content"] for h in stand_in.heard} == {stand_in.heard[0].form["biz_content"]}


def test_the_gateway_check_wants_the_app_public_key_signed(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    passed = chat_sandbox.helper("POST", "alipay/verify-gateway", json={"app_id": LIFE_ACCOUNT}).json()
    [check] = stand_in.heard
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stand_in.answer_with(alipay_answer(app_public_key_text(stranger)), alipay_answer())
    other_key = chat_sandbox.helper("POST", "alipay/verify-gateway", json={"app_id": LIFE_ACCOUNT}).json()
    no_key = chat_sandbox.helper("POST", "alipay/verify-gateway", json={"app_id": LIFE_ACCOUNT}).json()

    assert passed["passed"] is True and passed["reason"] is None
    assert check.signature_ok and check.form["service"] == "alipay.service.check"
    fields = check.fields
    assert (fields["AppId"], fields["MsgType"], fields["EventType"]) == (LIFE_ACCOUNT, "event", "verifygw")
    assert fields["FromUserId"].startswith("2088") and len(fields["FromUserId"]) == 16
    assert [other_key["passed"], no_key["passed"]] == [False, False]
    assert "biz_content" in other_key["reason"]


def test_customer_service_messages_reach_followers_only(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    follower = say(chat_sandbox, text="你好")["user"]  # writing makes them follow
    stranger = chat_sandbox.auth_code()["user_id"]

    sent = send(chat_sandbox, follower, "已为您查询：余额 12,345.67 元")
    refused = send(chat_sandbox, stranger, "你好")
    say(chat_sandbox, user=follower, event={"type": "unsubscribe"})
    after_leaving = send(chat_sandbox, follower, "还在吗")

    assert (sent["code"], sent["msg"]) == ("10000", "Success")
    assert (refused["code"], refused["sub_code"]) == ("40004", "PUBLIC.USER_NOT_FOLLOW") and refused["sub_msg"]
    assert after_leaving["sub_code"] == "PUBLIC.USER_NOT_FOLLOW"
    listed = chat_sandbox.helper("GET", "messages", params={"channel": "alipay", "user": follower}).json()["messages"]
    assert [(m["kind"], m["text"], m["app_id"]) for m in listed] == [
        ("customer_service", "已为您查询：余额 12,345.67 元", LIFE_ACCOUNT)
    ]


def test_a_mini_program_cannot_send_life_account_messages(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    follower = say(chat_sandbox, text="你好")["user"]

    answer = send(chat_sandbox, follower, "你好", app_id=ALIPAY_APP)

    assert (answer["code"], answer["sub_code"]) == ("40006", "isv.insufficient-isv-permissions")


def test_the_same_person_chats_through_their_mini_program_identity(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    login = chat_sandbox.auth_code()

    answer = say(chat_sandbox, person={"app_id": ALIPAY_APP, "open_id": login["open_id"]}, text="你好")

    assert answer["user"] == login["user_id"] == stand_in.heard[0].fields["FromUserId"]


def test_chat_input_is_checked_for_alipay(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"user": "2088000000000000"}, "user"),
        ({"user": "o-not-an-alipay-id"}, "user"),
        ({"person": {"app_id": ALIPAY_APP, "open_id": "no-such-open-id"}}, "person.open_id"),
        ({"person": {"app_id": ALIPAY_APP, "openid": "x"}}, "person.openid"),
        ({"encrypted": True}, "encrypted"),
        ({"encrypted": "no"}, "encrypted"),
        ({"app_id": ALIPAY_APP}, "app_id"),
    ]
    for extra, field in cases:
        body = {"channel": "alipay", "app_id": LIFE_ACCOUNT, "text": "你好", **extra}
        error = chat(chat_sandbox, status=400, **body)["error"]
        assert error["code"] == "sandbox.invalid_request" and field in error["details"], (extra, error)
    assert stand_in.heard == []
    assert say(chat_sandbox, text="你好", encrypted=False)["outcome"] == "accepted"  # false is the default
