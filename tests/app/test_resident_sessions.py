"""Resident login through each channel app, one resident across apps, and the session lifecycle."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from app.wiring import ChannelAdapters
from config import Settings
from errors import UpstreamUnavailable
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.ports import ChannelRateLimited
from identity.ports import ChannelUser
from tests.conftest import ALIPAY_MINI_PROGRAM as ALIPAY
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import WECHAT_OFFICIAL_ACCOUNT as OA
from tests.conftest import Api
from tests.conftest import Clock


def log_in(api: Api, channel: str, app_id: str, code: str, expected: int = 201) -> dict:
    return api.post("/api/v1/sessions", json={"channel": channel, "app_id": app_id, "code": code}, expected=expected)


def test_mini_program_login_creates_a_resident_and_reveals_no_channel_secrets(
    api: Api, fake_wechat: FakeChannel, clock: Clock
) -> None:
    code, openid = fake_wechat.issue_code("o-mini-1", unionid="u-1")
    body = log_in(api, "wechat", MINI, code)
    assert body["expires_at"] == (clock() + timedelta(days=1)).isoformat()
    assert body["resident"]["channels"] == [{"channel": "wechat", "app_id": MINI}]
    assert body["resident"]["real_name_verified"] is False and body["resident"]["id"].startswith("r_")
    text = str(body)
    for secret in (openid, "u-1", "fake-session-"):
        assert secret not in text
    assert api.get("/api/v1/me", token=body["token"]) == body["resident"]


def test_same_user_again_and_through_the_official_account_is_one_resident(api: Api, fake_wechat: FakeChannel) -> None:
    first = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-mini-1", unionid="u-1")[0])
    again = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-mini-1", unionid="u-1")[0])
    web = log_in(api, "wechat", OA, fake_wechat.issue_code("o-oa-1", unionid="u-1")[0])
    assert first["resident"]["id"] == again["resident"]["id"] == web["resident"]["id"]
    assert web["resident"]["channels"] == [{"channel": "wechat", "app_id": MINI}, {"channel": "wechat", "app_id": OA}]
    other = log_in(api, "wechat", OA, fake_wechat.issue_code("o-oa-2", unionid="u-2")[0])
    assert other["resident"]["id"] != first["resident"]["id"]


def test_alipay_is_a_separate_resident_until_real_names_link_them(
    api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel
) -> None:
    wechat = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-1", unionid="u-1")[0])
    alipay = log_in(api, "alipay", ALIPAY, fake_alipay.issue_code("2088000000000001")[0])
    assert wechat["resident"]["id"] != alipay["resident"]["id"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"channel": "wechat", "app_id": "wx0000000000000000", "code": "c"}, 422, "session.unknown_app"),
        ({"channel": "alipay", "app_id": MINI, "code": "c"}, 422, "session.unknown_app"),
        ({"channel": "wechat", "app_id": MINI, "code": "never-issued"}, 401, "session.code_invalid"),
        ({"channel": "douyin", "app_id": MINI, "code": "c"}, 422, "request.invalid"),
        ({"channel": "wechat", "app_id": MINI}, 422, "request.invalid"),
    ],
)
def test_bad_logins(api: Api, payload: dict, status: int, code: str) -> None:
    assert api.post("/api/v1/sessions", json=payload, expected=status)["error"]["code"] == code


def test_a_code_works_once(api: Api, fake_wechat: FakeChannel) -> None:
    code, _ = fake_wechat.issue_code("o-1")
    log_in(api, "wechat", MINI, code)
    assert log_in(api, "wechat", MINI, code, expected=401)["error"]["code"] == "session.code_used"


def test_channel_down_is_503_with_retry_after(api: Api, fake_wechat: FakeChannel) -> None:
    fake_wechat.fail_next(UpstreamUnavailable("channel.unavailable", "WeChat cannot be reached.", retry_after=20))
    response = api.client.post("/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": "x"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "20"
    assert response.get_json()["error"]["code"] == "channel.unavailable"


def test_channel_rate_limit_is_429_with_retry_after(api: Api, fake_alipay: FakeChannel) -> None:
    fake_alipay.fail_next(ChannelRateLimited("channel.rate_limited", "Slow down.", retry_after=60))
    response = api.client.post("/api/v1/sessions", json={"channel": "alipay", "app_id": ALIPAY, "code": "x"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"


def test_logout_revokes_at_once_and_tokens_expire(api: Api, fake_wechat: FakeChannel, clock: Clock) -> None:
    token = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-1")[0])["token"]
    other = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-1")[0])["token"]
    api.delete("/api/v1/sessions/current", token=token, expected=204)
    assert api.get("/api/v1/me", token=token, expected=401)["error"]["code"] == "auth.invalid_token"
    api.get("/api/v1/me", token=other)
    clock.advance(days=1)
    assert api.get("/api/v1/me", token=other, expected=401)["error"]["code"] == "auth.token_expired"


def test_staff_and_resident_tokens_do_not_cross(api: Api, fake_wechat: FakeChannel, make_staff) -> None:
    resident = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-1")[0])["token"]
    staff = make_staff("root", "platform_admin")
    assert api.get("/admin/api/me", token=resident, expected=401)["error"]["code"] == "auth.invalid_token"
    assert api.get("/api/v1/me", token=staff, expected=401)["error"]["code"] == "auth.invalid_token"


def test_tampered_resident_token_is_rejected(api: Api, fake_wechat: FakeChannel) -> None:
    token = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-1")[0])["token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert api.get("/api/v1/me", token=tampered, expected=401)["error"]["code"] == "auth.invalid_token"


class RendezvousLogin:
    """A login whose exchanges wait for each other, so two first logins race for real."""

    def __init__(self, inner: FakeLogin, barrier: threading.Barrier) -> None:
        self.inner, self.barrier = inner, barrier
        self.name, self.channel, self.app_id = inner.name, inner.channel, inner.app_id

    def exchange_code(self, code: str) -> ChannelUser:
        user = self.inner.exchange_code(code)
        self.barrier.wait()
        return user


def test_two_concurrent_first_logins_create_one_resident(
    database_url: str, clock: Clock, fake_wechat: FakeChannel
) -> None:
    settings = replace(Settings.from_env({}), database_url=database_url)
    login = RendezvousLogin(FakeLogin(fake_wechat, MINI), threading.Barrier(2, timeout=10))
    racing: Flask = create_app(settings, clock=clock, channels=ChannelAdapters(logins={MINI: login}))
    codes = [(MINI, fake_wechat.issue_code("o-new", unionid="u-new")[0]) for _ in range(2)]
    results = race_logins(racing, codes)
    assert [r["status"] for r in results] == [201, 201]
    assert results[0]["resident"]["id"] == results[1]["resident"]["id"]
    with Session(racing.extensions["engine"]) as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == 1
        assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 1
    racing.extensions["engine"].dispose()


def test_one_person_logging_in_through_two_apps_at_once_is_one_resident(
    database_url: str, clock: Clock, fake_wechat: FakeChannel
) -> None:
    settings = replace(Settings.from_env({}), database_url=database_url)
    barrier = threading.Barrier(2, timeout=10)
    logins = {app: RendezvousLogin(FakeLogin(fake_wechat, app), barrier) for app in (MINI, OA)}
    racing: Flask = create_app(settings, clock=clock, channels=ChannelAdapters(logins=logins))
    codes = [
        (MINI, fake_wechat.issue_code("o-mini", unionid="u-same")[0]),
        (OA, fake_wechat.issue_code("o-oa", unionid="u-same")[0]),
    ]
    results = race_logins(racing, codes)
    assert [r["status"] for r in results] == [201, 201]
    assert results[0]["resident"]["id"] == results[1]["resident"]["id"]
    with Session(racing.extensions["engine"]) as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == 1
        assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 2
    racing.extensions["engine"].dispose()


def race_logins(racing: Flask, codes: list[tuple[str, str]]) -> list[dict]:
    """Send the logins from parallel threads and collect status and body of each."""
    results: list[dict] = []

    def first_login(app_id: str, code: str) -> None:
        response = racing.test_client().post(
            "/api/v1/sessions", json={"channel": "wechat", "app_id": app_id, "code": code}
        )
        results.append({"status": response.status_code, **response.get_json()})

    threads = [threading.Thread(target=first_login, args=pair) for pair in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_dead_tokens_are_purged_so_the_table_stays_bounded(
    api: Api, fake_wechat: FakeChannel, clock: Clock, session: Session
) -> None:
    from identity.models import AccessToken

    for _ in range(30):
        log_in(api, "wechat", MINI, fake_wechat.issue_code("o-often")[0])
    clock.advance(days=3)  # every one of them expired two days ago
    live = log_in(api, "wechat", MINI, fake_wechat.issue_code("o-often")[0])["token"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AccessToken)) == 1
    api.get("/api/v1/me", token=live)
