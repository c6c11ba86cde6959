"""Mini-program login, phone numbers, subscribe messages, OA web login and the real-name check, via wechatpy."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from wechatpy.exceptions import WeChatClientException
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from tests.sandbox.conftest import CAR_MOVE_DATA
from tests.sandbox.conftest import WECHAT_CAR_MOVE

MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"


def oauth_client(sandbox: Any, scope: str = "snsapi_base") -> WeChatOAuth:
    secret = sandbox.secret(OFFICIAL_ACCOUNT)
    oauth = WeChatOAuth(OFFICIAL_ACCOUNT, secret, "https://citytiles.example/oa/back", scope=scope, state="s1")
    oauth.API_BASE_URL = sandbox.base + "/"
    oauth.OAUTH_BASE_URL = sandbox.base + "/connect/"
    oauth._http.trust_env = False
    return oauth


def phone_number(sandbox: Any, client: Any, code: str) -> dict[str, Any]:
    """wechatpy 1.8 has no wrapper for getuserphonenumber: a relative path plus api_base_url."""
    return client.post("wxa/business/getuserphonenumber", api_base_url=sandbox.base + "/", data={"code": code})


def errcode_of(call: Any) -> int | None:
    with pytest.raises(WeChatClientException) as caught:
        call()
    return caught.value.errcode


def test_code_to_session_returns_the_simulated_person(sandbox: Any) -> None:
    issued = sandbox.login_code()

    answer = sandbox.wechat().wxa.code_to_session(issued["code"])

    assert answer["openid"] == issued["openid"]
    assert answer["unionid"] == issued["unionid"]
    assert len(base64.b64decode(answer["session_key"])) == 16
    assert "errcode" not in answer
    assert issued["openid"].startswith("o") and len(issued["openid"]) == 28


def test_a_code_works_once(sandbox: Any) -> None:
    client, code = sandbox.wechat(), sandbox.login_code()["code"]
    client.wxa.code_to_session(code)

    assert errcode_of(lambda: client.wxa.code_to_session(code)) == 40163


def test_unknown_code_and_a_code_of_another_app_are_invalid(sandbox: Any) -> None:
    client = sandbox.wechat()
    oa_code = sandbox.login_code(app_id=OFFICIAL_ACCOUNT)["code"]

    assert errcode_of(lambda: client.wxa.code_to_session("0" * 32)) == 40029
    assert errcode_of(lambda: client.wxa.code_to_session(oa_code)) == 40029


def test_the_same_openid_logs_in_again_as_the_same_person(sandbox: Any) -> None:
    first = sandbox.login_code()
    again = sandbox.login_code(openid=first["openid"])
    answer = sandbox.wechat().wxa.code_to_session(again["code"])

    assert (answer["openid"], answer["unionid"]) == (first["openid"], first["unionid"])


def test_too_many_logins_for_one_user_answer_45011(sandbox: Any) -> None:
    client = sandbox.wechat()
    openid = sandbox.login_code()["openid"]
    codes = [sandbox.login_code(openid=openid)["code"] for _ in range(6)]
    for code in codes[:5]:  # the shared sandbox allows 5 per minute
        client.wxa.code_to_session(code)

    assert errcode_of(lambda: client.wxa.code_to_session(codes[5])) == 45011


def test_phone_number_from_a_phone_code(sandbox: Any) -> None:
    issued = sandbox.login_code(phone="13800138000")
    client = sandbox.wechat()

    answer = phone_number(sandbox, client, issued["phone_code"])

    info = answer["phone_info"]
    assert (answer["errcode"], info["phoneNumber"], info["purePhoneNumber"]) == (0, "13800138000", "13800138000")
    assert (info["countryCode"], info["watermark"]["appid"]) == ("86", MINI_PROGRAM)
    assert errcode_of(lambda: phone_number(sandbox, client, issued["phone_code"])) == 40029


def test_phone_code_helper(sandbox: Any) -> None:
    openid = sandbox.login_code()["openid"]
    asked = {"app_id": MINI_PROGRAM, "openid": openid}
    assert sandbox.helper("POST", "wechat/phone-code", json=asked).status_code == 400  # no phone known yet
    code = sandbox.helper("POST", "wechat/phone-code", json={**asked, "phone": "13900001111"}).json()["code"]

    assert phone_number(sandbox, sandbox.wechat(), code)["phone_info"]["phoneNumber"] == "13900001111"


def test_subscribe_message_is_delivered_and_listed(sandbox: Any) -> None:
    openid = sandbox.login_code()["openid"]
    data = CAR_MOVE_DATA
    sandbox.subscribe(openid, WECHAT_CAR_MOVE)

    answer = sandbox.wechat().wxa.send_subscribe_message(openid, WECHAT_CAR_MOVE, data, page="pages/move/detail?id=1")

    assert answer["errcode"] == 0 and isinstance(answer["msgid"], int)
    listed = sandbox.helper("GET", "messages", params={"channel": "wechat", "user": openid}).json()["messages"]
    assert len(listed) == 1
    notice = listed[0]
    assert (notice["template_id"], notice["data"], notice["page"]) == (WECHAT_CAR_MOVE, data, "pages/move/detail?id=1")
    assert listed[0]["msgid"] == str(answer["msgid"]) and listed[0]["sent_at"].endswith("+08:00")


def test_subscribe_message_errors(sandbox: Any) -> None:
    client, openid = sandbox.wechat(), sandbox.login_code()["openid"]
    sandbox.subscribe(openid, WECHAT_CAR_MOVE)
    tpl = WECHAT_CAR_MOVE

    assert errcode_of(lambda: client.wxa.send_subscribe_message("o" + "x" * 27, tpl, CAR_MOVE_DATA)) == 40003
    assert errcode_of(lambda: client.wxa.send_subscribe_message(openid, tpl, {**CAR_MOVE_DATA, "thing2": "b"})) == 47003
    assert errcode_of(lambda: client.wxa.send_subscribe_message(openid, tpl, {"thing2": {"value": 3}})) == 47003
    assert errcode_of(lambda: client.wxa.send_subscribe_message(openid, "", CAR_MOVE_DATA)) == 40037
    assert errcode_of(lambda: client.wxa.send_subscribe_message(openid, "T", CAR_MOVE_DATA)) == 40037
    assert sandbox.helper("GET", "messages", params={"user": openid}).json()["messages"] == []


def test_official_account_login_has_the_same_unionid_but_its_own_openid(sandbox: Any) -> None:
    mini = sandbox.login_code()
    sandbox.wechat().wxa.code_to_session(mini["code"])
    oa = sandbox.login_code(app_id=OFFICIAL_ACCOUNT, unionid=mini["unionid"], scope="snsapi_userinfo")
    oauth = oauth_client(sandbox, scope="snsapi_userinfo")

    answer = oauth.fetch_access_token(oa["code"])

    assert answer["unionid"] == mini["unionid"]
    assert answer["openid"] == oa["openid"] == oauth.open_id
    assert answer["openid"] != mini["openid"]
    assert answer["scope"] == "snsapi_userinfo"
    assert oauth.get_user_info()["unionid"] == mini["unionid"]
    assert oauth.check_access_token() is True


def test_snsapi_base_gives_the_openid_only_and_the_code_once(sandbox: Any) -> None:
    issued = sandbox.login_code(app_id=OFFICIAL_ACCOUNT)
    oauth = oauth_client(sandbox)

    answer = oauth.fetch_access_token(issued["code"])

    assert (answer["openid"], answer["scope"]) == (issued["openid"], "snsapi_base")
    assert "unionid" not in answer  # WeChat returns unionid only for snsapi_userinfo
    refreshed = oauth.refresh_access_token(answer["refresh_token"])
    assert refreshed["access_token"] != answer["access_token"] and refreshed["openid"] == issued["openid"]
    with pytest.raises(WeChatOAuthException) as caught:
        oauth.fetch_access_token(issued["code"])
    assert caught.value.errcode == 40163
    with pytest.raises(WeChatOAuthException) as caught:
        oauth.get_user_info()
    assert caught.value.errcode == 48001


def test_mini_program_app_cannot_use_web_authorisation(sandbox: Any) -> None:
    secret = sandbox.secret(MINI_PROGRAM)
    params = {"appid": MINI_PROGRAM, "secret": secret, "code": "x", "grant_type": "authorization_code"}
    answer = sandbox.http.get(sandbox.base + "/sns/oauth2/access_token", params=params, timeout=5).json()
    assert answer["errcode"] == 40013


def test_authorize_page_redirects_back_with_a_working_code(sandbox: Any) -> None:
    oauth = oauth_client(sandbox)
    url = oauth.authorize_url.split("#")[0]

    form = sandbox.http.get(url, timeout=5)
    assert form.status_code == 200 and "sandbox_as" in form.text
    back = sandbox.http.get(url + "&sandbox_as=new", allow_redirects=False, timeout=5)

    assert back.status_code == 302
    location = urlsplit(back.headers["Location"])
    assert location.netloc == "citytiles.example" and location.path == "/oa/back"
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    assert oauth.fetch_access_token(query["code"][0])["openid"].startswith("o")


def test_real_name_check(sandbox: Any) -> None:
    certified = sandbox.login_code(real_name="张三", id_number="11010519491231002x")["openid"]
    anonymous = sandbox.login_code()["openid"]
    client = sandbox.wechat()

    def check(openid: str, name: str, number: str) -> str:
        answer = client.post("sandbox/realname/check", data={"openid": openid, "real_name": name, "id_number": number})
        return answer["verify_result"]

    assert check(certified, "张三", "11010519491231002X") == "match"
    assert check(certified, "李四", "11010519491231002X") == "mismatch"
    assert check(certified, "张三", "110105194912310039") == "mismatch"
    assert check(anonymous, "张三", "11010519491231002X") == "no_real_name"
    assert errcode_of(lambda: check("o" + "y" * 27, "张三", "11010519491231002X")) == 40003
