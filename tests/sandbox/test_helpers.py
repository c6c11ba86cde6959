"""The /_sandbox/ helpers: input checking, people across apps, messages, faults, the proxy and the page."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from tests.sandbox.conftest import CAR_MOVE_DATA
from tests.sandbox.conftest import WECHAT_CAR_MOVE

WECHAT_PAYMENT = "PaymentNotice_kY7nJ3aRm5QeZ1tXw8CvLp2Ds4Bq7"
PAYMENT_DATA = {
    "character_string1": {"value": "CT20240101000001"},
    "amount2": {"value": "25.00元"},
    "thing3": {"value": "门诊挂号费"},
    "time4": {"value": "2024-01-01 10:00:00"},
}
MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ALIPAY_APP = "2021004100000001"
OAUTH = "alipay.system.oauth.token"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("wechat/login-code", {}),
        ("wechat/login-code", {"app_id": "wx-unknown"}),
        ("wechat/login-code", {"app_id": ALIPAY_APP}),
        ("wechat/login-code", {"app_id": MINI_PROGRAM, "openid": "bad openid!"}),
        ("wechat/login-code", {"app_id": MINI_PROGRAM, "id_number": "12345"}),
        ("wechat/login-code", {"app_id": MINI_PROGRAM, "phone": "call me"}),
        ("wechat/login-code", {"app_id": MINI_PROGRAM, "real_name": "{evil}"}),
        ("wechat/login-code", {"app_id": MINI_PROGRAM, "scope": "snsapi_base"}),
        ("wechat/login-code", {"app_id": OFFICIAL_ACCOUNT, "scope": "snsapi_everything"}),
        ("wechat/phone-code", {"app_id": MINI_PROGRAM, "openid": "o-nobody-here"}),
        ("wechat/expire-tokens", {"app_id": "nope"}),
        ("alipay/auth-code", {"app_id": MINI_PROGRAM}),
        ("alipay/auth-code", {"app_id": ALIPAY_APP, "user_id": "1234"}),
        ("faults", {"target": "wechat.nothing", "mode": "down"}),
        ("faults", {"target": "wechat.jscode2session", "mode": "explode"}),
        ("faults", {"target": "wechat.jscode2session", "mode": "slow"}),
        ("faults", {"target": "wechat.jscode2session", "mode": "down", "times": 0}),
        ("faults", {"target": "alipay.oauth", "mode": "rate_limit"}),
    ],
)
def test_bad_helper_input_is_a_400_with_an_error_body(sandbox: Any, path: str, body: dict[str, Any]) -> None:
    response = sandbox.helper("POST", path, json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sandbox.invalid_request" and error["message"] and isinstance(error["details"], dict)


def test_non_json_body_is_a_400(sandbox: Any) -> None:
    response = sandbox.helper("POST", "wechat/login-code", data="app_id=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and "error" in response.json()


def test_bad_query_helpers_are_400(sandbox: Any) -> None:
    assert sandbox.helper("GET", "messages", params={"channel": "sms"}).status_code == 400
    assert sandbox.helper("GET", "wechat/token-stats", params={"app_id": "nope"}).status_code == 400


def test_one_unionid_many_openids(sandbox: Any) -> None:
    mini = sandbox.login_code()
    official = sandbox.login_code(app_id=OFFICIAL_ACCOUNT, unionid=mini["unionid"])
    official_again = sandbox.login_code(app_id=OFFICIAL_ACCOUNT, unionid=mini["unionid"])

    assert official["unionid"] == mini["unionid"]
    assert official["openid"] != mini["openid"]
    assert official_again["openid"] == official["openid"]


def test_an_openid_cannot_change_its_person(sandbox: Any) -> None:
    first, second = sandbox.login_code(), sandbox.login_code()
    mixed = {"app_id": MINI_PROGRAM, "openid": first["openid"], "unionid": second["unionid"]}
    response = sandbox.helper("POST", "wechat/login-code", json=mixed)
    assert response.status_code == 400


def test_alipay_user_id_is_kept_and_open_id_is_per_user(sandbox: Any) -> None:
    chosen = sandbox.auth_code(user_id="2088000011112222")
    again = sandbox.auth_code(user_id="2088000011112222")
    other = sandbox.auth_code()

    assert chosen["user_id"] == again["user_id"] == "2088000011112222"
    assert chosen["open_id"] == again["open_id"] != other["open_id"]
    assert chosen["auth_code"] != again["auth_code"]


def test_messages_filter_by_channel_and_user(sandbox: Any) -> None:
    one, two = sandbox.login_code()["openid"], sandbox.login_code()["openid"]
    sandbox.subscribe(one, WECHAT_CAR_MOVE)
    sandbox.subscribe(two, WECHAT_PAYMENT)
    client = sandbox.wechat()
    client.wxa.send_subscribe_message(one, WECHAT_CAR_MOVE, CAR_MOVE_DATA)
    client.wxa.send_subscribe_message(two, WECHAT_PAYMENT, PAYMENT_DATA)

    mine = sandbox.helper("GET", "messages", params={"user": one}).json()["messages"]
    assert [m["template_id"] for m in mine] == [WECHAT_CAR_MOVE]
    assert sandbox.helper("GET", "messages", params={"channel": "alipay", "user": one}).json()["messages"] == []


def test_down_fault_answers_503_once(sandbox: Any, faults: Any) -> None:
    client, person = sandbox.wechat(), sandbox.login_code()
    assert faults(target="wechat.jscode2session", mode="down").status_code == 201

    with pytest.raises(WeChatClientException) as caught:
        client.wxa.code_to_session(person["code"])
    assert caught.value.response.status_code == 503
    assert client.wxa.code_to_session(person["code"])["openid"] == person["openid"]  # the code survived the outage


def test_down_fault_can_drop_the_connection(sandbox: Any, faults: Any) -> None:
    faults(target="wechat.jscode2session", mode="down", close_connection=True)
    with pytest.raises(requests.ConnectionError):
        sandbox.wechat().wxa.code_to_session(sandbox.login_code()["code"])


def test_slow_fault_outlasts_a_client_timeout(sandbox: Any, faults: Any) -> None:
    client = sandbox.wechat(timeout=0.3)
    client.fetch_access_token()
    faults(target="wechat.jscode2session", mode="slow", delay_seconds=1.0)

    with pytest.raises(requests.Timeout):
        client.wxa.code_to_session(sandbox.login_code()["code"])


@pytest.mark.parametrize(
    ("mode", "extra", "errcode"),
    [("error", {}, -1), ("error", {"errcode": 40226}, 40226), ("rate_limit", {}, 45011)],
)
def test_error_faults(sandbox: Any, faults: Any, mode: str, extra: dict[str, Any], errcode: int) -> None:
    faults(target="wechat.jscode2session", mode=mode, **extra)
    with pytest.raises(WeChatClientException) as caught:
        sandbox.wechat().wxa.code_to_session(sandbox.login_code()["code"])
    assert caught.value.errcode == errcode


def test_flaky_and_persistent_faults_until_cleared(sandbox: Any, faults: Any) -> None:
    client = sandbox.wechat()
    faults(target="wechat.jscode2session", mode="flaky")
    outcomes = []
    for _ in range(4):
        try:
            client.wxa.code_to_session(sandbox.login_code()["code"])
            outcomes.append("ok")
        except WeChatClientException:
            outcomes.append("fail")
    assert outcomes == ["fail", "ok", "fail", "ok"]
    assert [f["mode"] for f in sandbox.helper("GET", "faults").json()["faults"]] == ["flaky"]

    sandbox.helper("DELETE", "faults")
    assert sandbox.helper("GET", "faults").json()["faults"] == []
    client.wxa.code_to_session(sandbox.login_code()["code"])


def test_alipay_faults(sandbox: Any, faults: Any) -> None:
    client = sandbox.alipay()
    faults(target="alipay.oauth", mode="error", times=1)
    answer = client.server_api(OAUTH, grant_type="authorization_code", code=sandbox.auth_code()["auth_code"])
    assert (answer["code"], answer["sub_code"]) == ("20000", "isp.unknow-error")

    faults(target="alipay.oauth", mode="down")
    with pytest.raises(urllib.error.HTTPError) as caught:
        client.server_api(OAUTH, grant_type="authorization_code", code=sandbox.auth_code()["auth_code"])
    assert caught.value.code == 503


def test_proxy_forwards_method_body_query_and_authorization(sandbox: Any, fake_citytiles: dict[str, Any]) -> None:
    response = sandbox.http.post(
        sandbox.base + "/_sandbox/citytiles/api/v1/me/real-name?x=1&y=2",
        json={"name": "张三"},
        headers={"Authorization": "Bearer t0k", "Cookie": "leak=1"},
        timeout=5,
    )

    assert response.status_code == 200
    echo = response.json()["echo"]
    seen = (echo["method"], echo["path"], echo["query"], echo["authorization"])
    assert seen == ("POST", "api/v1/me/real-name", "x=1&y=2", "Bearer t0k")
    assert echo["body"] == '{"name": "\\u5f20\\u4e09"}'


def test_proxy_passes_errors_through_and_reports_an_absent_citytiles(sandbox: Any, spawn_sandbox: Any) -> None:
    broken = sandbox.http.get(sandbox.base + "/_sandbox/citytiles/api/v1/broken", timeout=5)
    assert broken.status_code == 422 and broken.json()["error"]["message"] == "it broke"

    lonely = spawn_sandbox("lonely", citytiles_url="http://127.0.0.1:9")
    unreachable = lonely.http.get(lonely.base + "/_sandbox/citytiles/api/v1/cities", timeout=15)
    assert unreachable.status_code == 502 and unreachable.json()["error"]["code"] == "sandbox.citytiles_unreachable"


def test_the_super_app_page_is_self_contained(sandbox: Any) -> None:
    page = sandbox.http.get(sandbox.base + "/_sandbox/", timeout=5)

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text) is None  # no CDN, no external asset
    script = sandbox.http.get(sandbox.base + "/_sandbox/static/page.js", timeout=5).text
    calls = ("/api/v1/cities", "/api/v1/sessions", "/api/v1/me", "/api/v1/me/real-name", "/_sandbox/wechat/login-code")
    for call in (*calls, "/_sandbox/alipay/auth-code"):
        assert call in script
    services = sandbox.http.get(sandbox.base + "/_sandbox/static/services.js", timeout=5).text
    for call in ("/housing-fund/", "/car-move-requests", "/me/vehicles", "/hospitals", "/api/v1/appointments"):
        assert call in services  # the tiles are tappable: each service has its screen
    assert "openService(t.code)" in script
    chat = sandbox.http.get(sandbox.base + "/_sandbox/static/chat.js", timeout=5).text
    for call in ("/_sandbox/chat", "/_sandbox/messages", "customer_service", "person"):
        assert call in chat  # the chat pane writes as the logged-in person and shows customer-service messages
    for key in ("housing_fund", "car_move", "outpatient", "progress"):
        assert f'data-menu-key="{key}"' in page.text
    config = sandbox.http.get(sandbox.base + "/_sandbox/config", timeout=5).json()
    assert [a["app_id"] for a in config["wechat_apps"]] == [MINI_PROGRAM, OFFICIAL_ACCOUNT]


class _PageParts(HTMLParser):
    """What a Content-Security-Policy of default-src 'self' would block, and the assets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.inline += [f"{tag} {name}=" for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script" and named.get("src"):
            self.assets.append(named["src"] or "")
        self._in_inline_script = tag == "script" and not named.get("src")
        if tag == "link" and named.get("rel") == "stylesheet":
            self.assets.append(named.get("href") or "")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline.append("<script> with a body")

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False


def test_the_super_app_page_works_under_a_strict_content_security_policy(sandbox: Any) -> None:
    page = sandbox.http.get(sandbox.base + "/_sandbox/", timeout=5)
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and page.headers["X-Content-Type-Options"] == "nosniff"

    parts = _PageParts()
    parts.feed(page.text)
    assert parts.inline == []
    assert sorted(parts.assets) == [
        "/_sandbox/static/chat.js",
        "/_sandbox/static/page.css",
        "/_sandbox/static/page.js",
        "/_sandbox/static/services.js",
    ]
    types = {".css": "text/css", ".js": "text/javascript"}
    for asset in parts.assets:
        loaded = sandbox.http.get(sandbox.base + asset, timeout=5)
        assert loaded.status_code == 200 and loaded.headers["Content-Type"].startswith(
            types[PurePosixPath(asset).suffix]
        )
        assert loaded.headers["X-Content-Type-Options"] == "nosniff"  # so the browser runs it only as what it is


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the page script's syntax")
@pytest.mark.parametrize("name", ["page.js", "services.js", "chat.js"])
def test_the_page_scripts_parse(sandbox: Any, tmp_path: Any, name: str) -> None:
    script = tmp_path / name
    script.write_text(sandbox.http.get(sandbox.base + "/_sandbox/static/" + name, timeout=5).text)
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
