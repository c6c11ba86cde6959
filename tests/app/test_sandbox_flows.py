"""The resident flows end to end: real SDKs, over HTTP, against the sandbox, on both databases."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import text

from migrations.metadata import target_metadata
from tests.conftest import Api
from tests.conftest import Sandbox

NAME, ID_NUMBER, PHONE = "陈静", "440524198001010013", "13700001111"
MINI, OA, ALIPAY = "wx7c1b5d1e2f3a4b50", "wx9a8b7c6d5e4f3a20", "2021004100000001"


def log_in(api: Api, channel: str, app_id: str, code: str, expected: int = 201) -> dict:
    return api.post("/api/v1/sessions", json={"channel": channel, "app_id": app_id, "code": code}, expected=expected)


def test_full_resident_journey_leaves_no_plaintext_in_database_or_logs(
    real_app: Flask, real_api: Api, clean_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        person = {"real_name": NAME, "id_number": ID_NUMBER, "phone": PHONE}
        mini = clean_sandbox.wechat_code(MINI, **person)
        session = log_in(real_api, "wechat", MINI, mini["code"])
        token = session["token"]
        assert mini["openid"] not in str(session) and mini["unionid"] not in str(session)
        web = clean_sandbox.wechat_code(OA, unionid=mini["unionid"], **person)
        assert log_in(real_api, "wechat", OA, web["code"])["resident"]["id"] == session["resident"]["id"]
        real_api.post("/api/v1/me/phone", json={"code": mini["phone_code"]}, token=token)
        body = {"name": NAME, "id_number": ID_NUMBER, "consent_version": "2026-11"}
        profile = real_api.post("/api/v1/me/real-name", json=body, token=token)
        assert (profile["name"], profile["id_number"], profile["phone"]) == ("陈*", "4405**********0013", "137****1111")
        alipay = clean_sandbox.alipay_code(**person)
        alipay_token = log_in(real_api, "alipay", ALIPAY, alipay["auth_code"])["token"]
        linked = real_api.post("/api/v1/me/real-name", json=body, token=alipay_token)
        assert linked["id"] == profile["id"]
        assert {c["app_id"] for c in linked["channels"]} == {MINI, OA, ALIPAY}
        mismatch = clean_sandbox.alipay_code(real_name="陈静", id_number="11010519491231002X")
        other = log_in(real_api, "alipay", ALIPAY, mismatch["auth_code"])["token"]
        assert real_api.post("/api/v1/me/real-name", json=body, token=other, expected=422)["error"]["code"] == (
            "identity.real_name_mismatch"
        )
    finally:
        logger.removeHandler(caplog.handler)
    assert any(r.name == "citytiles.outbound" and r.connection.startswith("channel.") for r in caplog.records)
    session_factory = real_app.extensions["session_factory"]
    with session_factory() as db:
        stored = "\n".join(
            str(row)
            for table in target_metadata.sorted_tables
            for row in db.execute(text(f"SELECT * FROM {table.name}"))
        )
    everything = stored + caplog.text
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret not in everything
    assert mini["openid"] not in caplog.text  # openids are kept in the database, never logged


def test_login_errors_from_the_real_channels(real_api: Api, clean_sandbox: Sandbox) -> None:
    code = clean_sandbox.wechat_code()["code"]
    log_in(real_api, "wechat", MINI, code)
    assert log_in(real_api, "wechat", MINI, code, expected=401)["error"]["code"] == "session.code_used"
    assert log_in(real_api, "wechat", MINI, "0" * 32, expected=401)["error"]["code"] == "session.code_invalid"
    assert log_in(real_api, "alipay", ALIPAY, "bogus", expected=401)["error"]["code"] == "session.code_invalid"
    clean_sandbox.helper("POST", "faults", json={"target": "alipay.oauth", "mode": "down", "times": 1})
    response = real_api.client.post(
        "/api/v1/sessions",
        json={"channel": "alipay", "app_id": ALIPAY, "code": clean_sandbox.alipay_code()["auth_code"]},
    )
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    clean_sandbox.helper("POST", "faults", json={"target": "wechat.jscode2session", "mode": "rate_limit", "times": 1})
    response = real_api.client.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": clean_sandbox.wechat_code()["code"]}
    )
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "channel.rate_limited"


def test_a_slow_channel_times_out_as_unavailable(real_api: Api, clean_sandbox: Sandbox) -> None:
    clean_sandbox.helper(
        "POST", "faults", json={"target": "wechat.jscode2session", "mode": "slow", "delay_seconds": 4, "times": 1}
    )
    body = log_in(real_api, "wechat", MINI, clean_sandbox.wechat_code()["code"], expected=503)
    assert body["error"]["code"] == "channel.unavailable"
