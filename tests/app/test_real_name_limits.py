"""Attempts that cost a channel call: daily allowances per channel account, login codes per address, consent once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.fake_channels import FakeChannel
from identity.models import ConsentRecord
from tests.app.test_real_name import ID_NUMBER
from tests.app.test_real_name import NAME
from tests.app.test_real_name import bind
from tests.app.test_real_name import wechat_resident
from tests.conftest import Api
from tests.conftest import Clock


def channel_calls(app: Flask) -> int:
    calls: int = app.extensions["channels"].verifiers["wechat"].calls
    return calls


def test_the_sixth_attempt_in_a_day_is_refused_without_asking_the_channel(
    app: Flask, api: Api, fake_wechat: FakeChannel, clock: Clock
) -> None:
    token = wechat_resident(api, fake_wechat, real_name="李四", id_number=ID_NUMBER)
    for _ in range(5):
        assert bind(api, token, expected=422)["error"]["code"] == "identity.real_name_mismatch"
    assert channel_calls(app) == 5
    refused = api.client.post(
        "/api/v1/me/real-name",
        json={"name": NAME, "id_number": ID_NUMBER, "consent_version": "2026-11"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "identity.too_many_attempts"
    assert int(refused.headers["Retry-After"]) == 24 * 3600
    assert channel_calls(app) == 5
    clock.advance(days=1)
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)  # the token lasted a day too
    assert bind(api, token)["real_name_verified"] is True
    assert channel_calls(app) == 6


def test_attempts_refused_before_the_channel_call_are_not_counted(
    app: Flask, api: Api, fake_wechat: FakeChannel
) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    for _ in range(6):
        assert bind(api, token, name="x", expected=422)["error"]["code"] == "identity.invalid_name"
        assert bind(api, token, consent_version="1999-01", expected=422)["error"]["code"] == (
            "identity.unknown_consent_version"
        )
    assert channel_calls(app) == 0
    bind(api, token)


def test_the_allowance_is_per_resident(app: Flask, api: Api, fake_wechat: FakeChannel) -> None:
    first = wechat_resident(api, fake_wechat, "o-1", real_name="李四", id_number=ID_NUMBER)
    second = wechat_resident(api, fake_wechat, "o-2", real_name=NAME, id_number="440524198001010013")
    for _ in range(5):
        bind(api, first, expected=422)
    bind(api, first, expected=429)
    assert bind(api, second, id_number="440524198001010013")["real_name_verified"] is True


def test_an_identical_retry_records_no_new_consent(api: Api, fake_wechat: FakeChannel, session: Session) -> None:
    token = wechat_resident(api, fake_wechat, real_name="李四", id_number=ID_NUMBER)
    for _ in range(3):
        bind(api, token, expected=422)
    fake_wechat.users["o-1"]["real_name"] = NAME
    bind(api, token)
    [consent] = session.scalars(select(ConsentRecord)).all()
    assert (consent.purpose, consent.text_version) == ("real_name_verification", "2026-11")
    assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 1


def test_identical_retries_at_once_record_one_consent(app: Flask, fake_wechat: FakeChannel, session: Session) -> None:
    token = wechat_resident(Api(app.test_client()), fake_wechat, real_name="李四", id_number=ID_NUMBER)

    def attempt(_: int) -> int:
        body = {"name": NAME, "id_number": ID_NUMBER, "consent_version": "2026-11"}
        response = app.test_client().post(
            "/api/v1/me/real-name", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert set(pool.map(attempt, range(5))) == {422}
    assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 1


def test_erasing_and_logging_in_again_does_not_renew_the_allowance(
    app: Flask, api: Api, fake_wechat: FakeChannel
) -> None:
    token = wechat_resident(api, fake_wechat, real_name="李四", id_number=ID_NUMBER)
    for _ in range(5):
        bind(api, token, expected=422)
    api.delete("/api/v1/me", token=token, expected=204)
    again = wechat_resident(api, fake_wechat, real_name="李四", id_number=ID_NUMBER)
    assert bind(api, again, expected=429)["error"]["code"] == "identity.too_many_attempts"
    assert channel_calls(app) == 5


def test_phone_lookups_have_a_daily_allowance_per_account(api: Api, fake_wechat: FakeChannel, clock: Clock) -> None:
    token = wechat_resident(api, fake_wechat, phone="13812345678")
    for attempt in range(5):
        body = api.post("/api/v1/me/phone", json={"code": f"guess-{attempt}"}, token=token, expected=422)
        assert body["error"]["code"] == "identity.phone_code_invalid"
    code, _ = fake_wechat.issue_code("o-1", phone="13812345678")
    refused = api.client.post("/api/v1/me/phone", json={"code": code}, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "identity.too_many_attempts"
    assert int(refused.headers["Retry-After"]) == 24 * 3600
    assert api.get("/api/v1/me", token=token)["phone"] is None
    clock.advance(days=1)
    token = wechat_resident(api, fake_wechat, phone="13812345678")
    code, _ = fake_wechat.issue_code("o-1", phone="13812345678")
    assert api.post("/api/v1/me/phone", json={"code": code}, token=token)["phone"] == "138****5678"


def test_a_bad_phone_code_keeps_the_session_and_challenges_nothing(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat)
    response = api.client.post("/api/v1/me/phone", json={"code": "nope"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and "WWW-Authenticate" not in response.headers
    api.get("/api/v1/me", token=token)


def test_guessed_login_codes_from_one_address_are_limited_and_logged(
    app: Flask, api: Api, fake_wechat: FakeChannel, caplog
) -> None:
    from identity.residents import MAX_FAILED_LOGINS_PER_ADDRESS
    from tests.conftest import WECHAT_MINI_PROGRAM as MINI

    guess = {"channel": "wechat", "app_id": MINI}
    for attempt in range(MAX_FAILED_LOGINS_PER_ADDRESS):
        api.post("/api/v1/sessions", json={**guess, "code": f"guess-{attempt}"}, expected=401)
    code, _ = fake_wechat.issue_code("o-real")
    with caplog.at_level("WARNING", logger="citytiles.security"):
        refused = api.client.post("/api/v1/sessions", json={**guess, "code": code})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "session.too_many_attempts"
    assert int(refused.headers["Retry-After"]) > 0
    assert [r for r in caplog.records if r.getMessage() == "lockout"]
    elsewhere = app.test_client().post(
        "/api/v1/sessions", json={**guess, "code": code}, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert elsewhere.status_code == 201  # another address is not locked out


def test_good_logins_take_their_attempt_back(api: Api, fake_wechat: FakeChannel) -> None:
    from identity.residents import MAX_FAILED_LOGINS_PER_ADDRESS
    from tests.conftest import WECHAT_MINI_PROGRAM as MINI

    for _ in range(MAX_FAILED_LOGINS_PER_ADDRESS + 5):
        code, _ = fake_wechat.issue_code("o-frequent")
        api.post("/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": code}, expected=201)
