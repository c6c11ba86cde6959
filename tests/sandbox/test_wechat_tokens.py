"""WeChat app access tokens: rotation, grace, stable tokens, expiry, and wechatpy's retry path."""

from __future__ import annotations

import time
from typing import Any

import pytest
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from tests.sandbox.conftest import CAR_MOVE_DATA
from tests.sandbox.conftest import WECHAT_CAR_MOVE

MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"


def classic(sb: Any, app_id: str = MINI_PROGRAM, secret: str | None = None) -> dict[str, Any]:
    secret = sb.secret(app_id) if secret is None else secret
    params = {"grant_type": "client_credential", "appid": app_id, "secret": secret}
    return sb.http.get(sb.base + "/cgi-bin/token", params=params, timeout=5).json()


def stable(sb: Any, force: bool = False, app_id: str = MINI_PROGRAM, secret: str | None = None) -> dict[str, Any]:
    secret = sb.secret(app_id) if secret is None else secret
    body = {"grant_type": "client_credential", "appid": app_id, "secret": secret, "force_refresh": force}
    return sb.http.post(sb.base + "/cgi-bin/stable_token", json=body, timeout=5).json()


def verdict(sb: Any, token: str) -> int:
    """The errcode an API gives this token: 40003 (bad openid) means the token itself was accepted."""
    response = sb.http.post(
        sb.base + "/cgi-bin/message/subscribe/send",
        params={"access_token": token},
        json={"touser": "o-nobody-at-all", "template_id": "T", "data": {"k": {"value": "v"}}},
        timeout=5,
    )
    return response.json()["errcode"]


def test_classic_token_rotates_on_every_call_and_the_old_one_lives_through_the_grace(short_clock_sandbox: Any) -> None:
    first, second = classic(short_clock_sandbox), classic(short_clock_sandbox)

    assert first["access_token"] != second["access_token"]
    assert first["expires_in"] == 2
    assert verdict(short_clock_sandbox, first["access_token"]) == 40003
    time.sleep(1.1)
    assert verdict(short_clock_sandbox, first["access_token"]) == 40001
    assert verdict(short_clock_sandbox, second["access_token"]) == 40003


def test_stable_token_is_not_rotated_unless_forced(short_clock_sandbox: Any) -> None:
    first, again = stable(short_clock_sandbox, force=True), stable(short_clock_sandbox)
    assert again["access_token"] == first["access_token"]
    assert 0 < again["expires_in"] <= first["expires_in"]

    forced = stable(short_clock_sandbox, force=True)
    assert forced["access_token"] != first["access_token"]
    assert verdict(short_clock_sandbox, first["access_token"]) == 40003  # still inside its grace period


def test_stable_and_classic_tokens_are_isolated(short_clock_sandbox: Any) -> None:
    stable_token = stable(short_clock_sandbox, force=True)["access_token"]
    classic_token = classic(short_clock_sandbox)["access_token"]
    classic(short_clock_sandbox)

    assert stable(short_clock_sandbox)["access_token"] == stable_token
    stable(short_clock_sandbox, force=True)
    time.sleep(1.1)
    assert verdict(short_clock_sandbox, classic_token) == 40001  # replaced by the second classic call
    assert verdict(short_clock_sandbox, stable_token) == 40001  # replaced by the forced refresh


def test_expired_token_answers_42001(short_clock_sandbox: Any) -> None:
    token = classic(short_clock_sandbox, app_id=OFFICIAL_ACCOUNT)["access_token"]
    time.sleep(2.1)
    assert verdict(short_clock_sandbox, token) == 42001


def test_unknown_or_missing_token(sandbox: Any) -> None:
    assert verdict(sandbox, "not-a-token") == 40001
    body = sandbox.http.post(sandbox.base + "/cgi-bin/message/subscribe/send", json={}, timeout=5).json()
    assert body["errcode"] == 41001


@pytest.mark.parametrize(
    ("appid", "secret", "errcode"),
    [
        ("wx0000000000000000", "x" * 32, 40013),
        (MINI_PROGRAM, "0" * 32, 40125),
        ("", "x", 41002),
        (MINI_PROGRAM, "", 41004),
    ],
)
def test_bad_credentials(sandbox: Any, appid: str, secret: str, errcode: int) -> None:
    for answer in (classic(sandbox, appid, secret), stable(sandbox, app_id=appid, secret=secret)):
        assert answer["errcode"] == errcode
        assert "access_token" not in answer


def test_wrong_grant_type(sandbox: Any) -> None:
    params = {"grant_type": "password", "appid": MINI_PROGRAM, "secret": sandbox.secret(MINI_PROGRAM)}
    assert sandbox.http.get(sandbox.base + "/cgi-bin/token", params=params, timeout=5).json()["errcode"] == 40002


def test_token_calls_are_counted_per_endpoint(sandbox: Any) -> None:
    sandbox.helper("DELETE", "wechat/token-stats", params={"app_id": OFFICIAL_ACCOUNT})
    classic(sandbox, app_id=OFFICIAL_ACCOUNT)
    classic(sandbox, app_id=OFFICIAL_ACCOUNT)
    stable(sandbox, app_id=OFFICIAL_ACCOUNT)

    stats = sandbox.helper("GET", "wechat/token-stats", params={"app_id": OFFICIAL_ACCOUNT}).json()
    assert stats == {"app_id": OFFICIAL_ACCOUNT, "token_calls": 2, "stable_token_calls": 1}


def test_many_wechatpy_clients_sharing_storage_fetch_one_token(sandbox: Any) -> None:
    shared = MemoryStorage()  # stands in for Redis shared by worker processes
    person = sandbox.login_code()
    sandbox.helper("DELETE", "wechat/token-stats", params={"app_id": MINI_PROGRAM})
    for _ in range(3):
        sandbox.subscribe(person["openid"])
        # A fresh client finds the token in the shared storage and uses it instead of fetching.
        client = sandbox.wechat(session=shared)
        client.wxa.send_subscribe_message(person["openid"], WECHAT_CAR_MOVE, CAR_MOVE_DATA)

    stats = sandbox.helper("GET", "wechat/token-stats", params={"app_id": MINI_PROGRAM}).json()
    assert stats["stable_token_calls"] == 1


def test_wechatpy_refetches_after_42001_and_retries(short_clock_sandbox: Any) -> None:
    person = short_clock_sandbox.login_code()
    short_clock_sandbox.subscribe(person["openid"])
    client = short_clock_sandbox.wechat()
    client.fetch_access_token()
    stale = client.session.get(client.access_token_key)
    client.expires_at = int(time.time()) + 7200  # the cache still believes in the token
    time.sleep(2.1)
    assert verdict(short_clock_sandbox, stale) == 42001

    answer = client.wxa.send_subscribe_message(person["openid"], WECHAT_CAR_MOVE, CAR_MOVE_DATA)

    assert answer["errcode"] == 0
    assert client.session.get(client.access_token_key) != stale
    sent = short_clock_sandbox.helper("GET", "messages", params={"user": person["openid"]}).json()["messages"]
    assert [m["template_id"] for m in sent] == [WECHAT_CAR_MOVE]


def test_expire_tokens_helper_forces_42001(sandbox: Any) -> None:
    token = classic(sandbox, app_id=OFFICIAL_ACCOUNT)["access_token"]
    assert sandbox.helper("POST", "wechat/expire-tokens", json={"app_id": OFFICIAL_ACCOUNT}).json()["expired"] >= 1
    assert verdict(sandbox, token) == 42001


def test_wechatpy_surfaces_a_bad_secret(sandbox: Any) -> None:
    client = sandbox.wechat(secret="f" * 32)
    with pytest.raises(WeChatClientException) as caught:
        client.wxa.code_to_session("whatever")
    assert caught.value.errcode == 40125
