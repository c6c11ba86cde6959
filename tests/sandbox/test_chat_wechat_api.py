"""The official account's message APIs: customer-service messages within the 48-hour window, followers' profiles."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.sandbox.chat_citytiles import OFFICIAL_ACCOUNT
from tests.sandbox.chat_citytiles import StandIn
from tests.sandbox.chat_citytiles import chat
from tests.sandbox.conftest import MINI_PROGRAM
from tests.sandbox.conftest import RunningSandbox


def say(sandbox: RunningSandbox, **body: Any) -> dict[str, Any]:
    return chat(sandbox, channel="wechat", app_id=OFFICIAL_ACCOUNT, **body)


def errcode(call: Callable[[], object]) -> int:
    with pytest.raises(WeChatClientException) as caught:
        call()
    return int(caught.value.errcode)


def customer_service(sandbox: RunningSandbox, user: str) -> list[dict[str, Any]]:
    listed = sandbox.helper("GET", "messages", params={"channel": "wechat", "user": user}).json()["messages"]
    return [m for m in listed if m["kind"] == "customer_service"]


def closed_port_url() -> str:
    """A loopback URL nobody listens on: pushes fail at once, and following happens all the same."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_follower_who_wrote_gets_customer_service_messages(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    openid = say(chat_sandbox, text="我要挪车")["user"]
    client = chat_sandbox.wechat(OFFICIAL_ACCOUNT)

    assert client.message.send_text(openid, "已通知车主挪车")["errcode"] == 0
    assert client.message.send_text(openid, "车主已回复：马上到")["errcode"] == 0

    sent = customer_service(chat_sandbox, openid)
    assert [(m["text"], m["app_id"], m["template_id"]) for m in sent] == [
        ("已通知车主挪车", OFFICIAL_ACCOUNT, None),
        ("车主已回复：马上到", OFFICIAL_ACCOUNT, None),
    ]  # newest last


def test_customer_service_messages_are_refused_to_strangers_and_those_who_left(
    chat_sandbox: RunningSandbox, stand_in: StandIn
) -> None:
    client = chat_sandbox.wechat(OFFICIAL_ACCOUNT)
    left = say(chat_sandbox, event={"type": "subscribe"})["user"]
    say(chat_sandbox, user=left, event={"type": "unsubscribe"})
    mini_program_user = chat_sandbox.login_code(app_id=MINI_PROGRAM)["openid"]

    assert errcode(lambda: client.message.send_text("o-never-seen-here", "你好")) == 40003
    assert errcode(lambda: client.message.send_text(mini_program_user, "你好")) == 40003  # another app's openid
    assert errcode(lambda: client.message.send_text(left, "你好")) == 45015
    assert customer_service(chat_sandbox, left) == []


def test_customer_service_messages_end_with_the_window(spawn_sandbox: Callable[..., RunningSandbox]) -> None:
    sandbox = spawn_sandbox("short-window", citytiles_url=closed_port_url(), chat_window_seconds=0.5)
    openid = say(sandbox, text="你好")["user"]
    client = sandbox.wechat(OFFICIAL_ACCOUNT)
    time.sleep(0.7)

    assert errcode(lambda: client.message.send_text(openid, "太晚了")) == 45015
    say(sandbox, user=openid, text="还在吗")  # writing again opens it again
    assert client.message.send_text(openid, "在的")["errcode"] == 0


def test_custom_send_checks_the_access_token_and_the_message(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    openid = say(chat_sandbox, text="你好")["user"]
    send = chat_sandbox.base + "/cgi-bin/message/custom/send"

    def post(token: str, body: dict[str, Any]) -> int:
        answer = chat_sandbox.http.post(send, params={"access_token": token}, json=body, timeout=10).json()
        return int(answer["errcode"])

    token = chat_sandbox.wechat(OFFICIAL_ACCOUNT).access_token
    assert post("not-a-token", {"touser": openid, "msgtype": "text", "text": {"content": "你好"}}) == 40001
    assert post(token, {"touser": openid, "msgtype": "image", "image": {"media_id": "x"}}) == 40008
    assert post(token, {"touser": openid, "msgtype": "text", "text": {"content": ""}}) == 44004
    assert post(token, {"touser": openid, "msgtype": "text", "text": {"content": "字" * 700}}) == 45002
    assert post(token, {"touser": openid, "msgtype": "text", "text": {"content": "好"}}) == 0


def test_user_info_tells_followers_from_others(chat_sandbox: RunningSandbox, stand_in: StandIn) -> None:
    client = chat_sandbox.wechat(OFFICIAL_ACCOUNT)
    login = chat_sandbox.login_code(app_id=MINI_PROGRAM)
    before = int(time.time())
    follower = say(chat_sandbox, person={"app_id": MINI_PROGRAM, "openid": login["openid"]}, text="你好")["user"]

    profile = client.user.get(follower)

    assert profile["subscribe"] == 1 and profile["openid"] == follower
    assert profile["unionid"] == login["unionid"]  # the same person in the same Open Platform account
    assert before - 1 <= profile["subscribe_time"] <= time.time() + 1
    assert {k: profile[k] for k in ("sex", "language", "subscribe_scene", "tagid_list", "groupid")} == {
        "sex": 0,
        "language": "zh_CN",
        "subscribe_scene": "ADD_SCENE_SEARCH",
        "tagid_list": [],
        "groupid": 0,
    }
    say(chat_sandbox, user=follower, event={"type": "unsubscribe"})
    assert client.user.get(follower) == {"subscribe": 0, "openid": follower}
    assert errcode(lambda: client.user.get("o-never-seen-here")) == 40003
    assert errcode(lambda: chat_sandbox.wechat(MINI_PROGRAM).user.get(login["openid"])) == 48001
