"""One-time notice subscriptions: accepting one is one message, on WeChat (43101 without) and Alipay alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.sandbox.conftest import ALIPAY_APP
from tests.sandbox.conftest import ALIPAY_CAR_MOVE
from tests.sandbox.conftest import CAR_MOVE_DATA
from tests.sandbox.conftest import MINI_PROGRAM
from tests.sandbox.conftest import OFFICIAL_ACCOUNT
from tests.sandbox.conftest import WECHAT_CAR_MOVE

SEND = "alipay.open.app.mini.templatemessage.send"
WECHAT_APPOINTMENT = "AppointmentNotice_Hc4eT1uZo6WqGf2Lx9SbVr0mK"
ALIPAY_PAYMENT = "Y2l0eXRpbGVzOnBheW1lbnQtbm90aWNl"
ALIPAY_DATA = {"keyword1": {"value": "粤B12345"}, "keyword2": {"value": "深南大道"}}


def wechat_errcode(call: Any) -> int:
    with pytest.raises(WeChatClientException) as caught:
        call()
    return int(caught.value.errcode)


def messages(sandbox: Any, user: str) -> list[dict[str, Any]]:
    return list(sandbox.helper("GET", "messages", params={"user": user}).json()["messages"])


def credits(sandbox: Any, user: str) -> dict[str, int]:
    listed = sandbox.helper("GET", "subscriptions", params={"user": user}).json()["subscriptions"]
    return {entry["template_id"]: entry["credits"] for entry in listed}


def test_wechat_refuses_a_notice_nobody_subscribed_to(sandbox: Any) -> None:
    openid = sandbox.login_code()["openid"]
    send = sandbox.wechat().wxa.send_subscribe_message

    with pytest.raises(WeChatClientException) as caught:
        send(openid, WECHAT_CAR_MOVE, CAR_MOVE_DATA)

    assert caught.value.errcode == 43101 and "user refuse to accept the msg" in caught.value.errmsg
    assert messages(sandbox, openid) == []


def test_each_accepted_subscription_is_one_message(sandbox: Any) -> None:
    openid = sandbox.login_code()["openid"]
    send = sandbox.wechat().wxa.send_subscribe_message

    assert [sandbox.subscribe(openid), sandbox.subscribe(openid)] == [1, 2]
    assert send(openid, WECHAT_CAR_MOVE, CAR_MOVE_DATA)["errcode"] == 0
    assert credits(sandbox, openid) == {WECHAT_CAR_MOVE: 1}
    assert send(openid, WECHAT_CAR_MOVE, CAR_MOVE_DATA)["errcode"] == 0
    assert wechat_errcode(lambda: send(openid, WECHAT_CAR_MOVE, CAR_MOVE_DATA)) == 43101
    assert [m["template_id"] for m in messages(sandbox, openid)] == [WECHAT_CAR_MOVE] * 2
    # A credit is per template: one for the car-move notice pays for no appointment notice.
    assert sandbox.subscribe(openid) == 1
    data = {
        "thing1": {"value": "张三"},
        "thing2": {"value": "浙大一院庆春院区"},
        "thing3": {"value": "消化内科"},
        "time4": {"value": "2024-01-02 08:00"},
        "character_string5": {"value": "apt-0123456789abcdef"},
    }
    assert wechat_errcode(lambda: send(openid, WECHAT_APPOINTMENT, data)) == 43101


@pytest.mark.parametrize(
    ("template", "data", "errcode"),
    [
        ("TPL-unknown", CAR_MOVE_DATA, 40037),
        (WECHAT_CAR_MOVE, {k: v for k, v in CAR_MOVE_DATA.items() if k != "thing4"}, 47003),
        (WECHAT_CAR_MOVE, {**CAR_MOVE_DATA, "thing9": {"value": "x"}}, 47003),
        (WECHAT_CAR_MOVE, {**CAR_MOVE_DATA, "thing2": {"value": "文" * 21}}, 47003),
        (WECHAT_CAR_MOVE, {**CAR_MOVE_DATA, "time3": {"value": "tomorrow"}}, 47003),
        (WECHAT_CAR_MOVE, {**CAR_MOVE_DATA, "car_number1": {"value": "浙A123456789"}}, 47003),
    ],
)
def test_a_refused_notice_spends_no_credit(sandbox: Any, template: str, data: Any, errcode: int) -> None:
    openid = sandbox.login_code()["openid"]
    sandbox.subscribe(openid)
    send = sandbox.wechat().wxa.send_subscribe_message

    assert wechat_errcode(lambda: send(openid, template, data)) == errcode
    assert credits(sandbox, openid) == {WECHAT_CAR_MOVE: 1}
    assert send(openid, WECHAT_CAR_MOVE, CAR_MOVE_DATA)["errcode"] == 0


def test_alipay_refuses_without_a_subscription_and_spends_one_with(sandbox: Any) -> None:
    issued = sandbox.auth_code()
    client = sandbox.alipay()
    biz = {"to_user_id": issued["user_id"], "user_template_id": ALIPAY_CAR_MOVE, "data": json.dumps(ALIPAY_DATA)}

    refused = client.server_api(SEND, biz_content=biz)
    assert (refused["code"], refused["sub_code"]) == ("40004", "USER_NOT_SUBSCRIBED")

    assert sandbox.alipay_subscribe(issued["user_id"]) == 1
    by_open_id = {**biz, "to_open_id": issued["open_id"]}
    del by_open_id["to_user_id"]
    assert client.server_api(SEND, biz_content=by_open_id)["code"] == "10000"
    assert client.server_api(SEND, biz_content=biz)["sub_code"] == "USER_NOT_SUBSCRIBED"
    listed = sandbox.helper("GET", "messages", params={"channel": "alipay", "user": issued["user_id"]}).json()
    assert [(m["template_id"], m["data"]) for m in listed["messages"]] == [(ALIPAY_CAR_MOVE, ALIPAY_DATA)]


@pytest.mark.parametrize(
    ("template", "data", "sub_code"),
    [
        ("TPL-unknown", ALIPAY_DATA, "TEMPLATE_NOT_EXIST"),
        (ALIPAY_CAR_MOVE, {"keyword9": {"value": "x"}}, "INVALID_DATA"),
        (ALIPAY_CAR_MOVE, {"keyword1": "x"}, "INVALID_DATA"),
    ],
)
def test_alipay_refusals_spend_no_credit(sandbox: Any, template: str, data: Any, sub_code: str) -> None:
    issued = sandbox.auth_code()
    sandbox.alipay_subscribe(issued["user_id"])
    client = sandbox.alipay()
    biz = {"to_user_id": issued["user_id"], "user_template_id": template, "data": json.dumps(data)}

    assert client.server_api(SEND, biz_content=biz)["sub_code"] == sub_code
    assert credits(sandbox, issued["user_id"]) == {ALIPAY_CAR_MOVE: 1}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("wechat/subscribe", {"app_id": OFFICIAL_ACCOUNT, "openid": "o-someone-123", "template_id": WECHAT_CAR_MOVE}),
        ("wechat/subscribe", {"app_id": MINI_PROGRAM, "openid": "o-nobody-at-all", "template_id": WECHAT_CAR_MOVE}),
        ("wechat/subscribe", {"app_id": MINI_PROGRAM, "openid": "PERSON", "template_id": ALIPAY_CAR_MOVE}),
        ("wechat/subscribe", {"app_id": ALIPAY_APP, "openid": "PERSON", "template_id": WECHAT_CAR_MOVE}),
        ("alipay/subscribe", {"app_id": ALIPAY_APP, "user_id": "2088000000000000", "template_id": ALIPAY_CAR_MOVE}),
        ("alipay/subscribe", {"app_id": ALIPAY_APP, "user_id": "USER", "template_id": WECHAT_CAR_MOVE}),
        ("alipay/subscribe", {"app_id": MINI_PROGRAM, "user_id": "USER", "template_id": ALIPAY_CAR_MOVE}),
    ],
)
def test_subscribing_needs_a_real_user_app_and_template(sandbox: Any, path: str, body: dict[str, str]) -> None:
    person, user = sandbox.login_code()["openid"], sandbox.auth_code()["user_id"]
    filled = {k: {"PERSON": person, "USER": user}.get(v, v) for k, v in body.items()}

    response = sandbox.helper("POST", path, json=filled)

    assert response.status_code == 400 and response.json()["error"]["code"] == "sandbox.invalid_request"


def test_the_templates_are_listed(sandbox: Any) -> None:
    listed = sandbox.helper("GET", "notice-templates").json()

    wechat = {t["template_id"]: t for t in listed["wechat"][MINI_PROGRAM]}
    assert wechat[WECHAT_CAR_MOVE]["keywords"] == list(CAR_MOVE_DATA)
    assert {t["title"] for t in listed["alipay"][ALIPAY_APP]} == {"挪车通知", "预约成功通知", "缴费成功通知"}
    assert ALIPAY_PAYMENT in {t["template_id"] for t in listed["alipay"][ALIPAY_APP]}
    assert all(len(t) == 43 for t in wechat)  # the length WeChat's template ids have
