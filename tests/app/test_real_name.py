"""Real-name binding, phone binding, cross-channel linking and erasure — and no plaintext PII at rest or in logs."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from errors import UpstreamUnavailable
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeRealNames
from identity.models import ConsentRecord
from identity.models import Resident
from identity.models import ResidentMerge
from identity.ports import RealNameResult
from migrations.metadata import target_metadata
from tests.conftest import ALIPAY_MINI_PROGRAM as ALIPAY
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import Api

NAME, ID_NUMBER, PHONE = "张三", "11010519491231002X", "13812345678"
CONSENT = "2026-11"


def wechat_resident(api: Api, fake: FakeChannel, openid: str = "o-1", **identity: str) -> str:
    code, _ = fake.issue_code(openid, unionid=f"u-{openid}", **identity)
    return api.post("/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": code}, expected=201)["token"]


def alipay_resident(api: Api, fake: FakeChannel, user_id: str = "2088000000000001", **identity: str) -> str:
    # As with real Alipay, the user_id is what joins a person across our Alipay apps.
    code, _ = fake.issue_code(user_id, unionid=user_id, **identity)
    return api.post("/api/v1/sessions", json={"channel": "alipay", "app_id": ALIPAY, "code": code}, expected=201)[
        "token"
    ]


def bind(api: Api, token: str, name: str = NAME, id_number: str = ID_NUMBER, expected: int = 200, **extra: str) -> dict:
    body = {"name": name, "id_number": id_number, "consent_version": CONSENT, **extra}
    return api.post("/api/v1/me/real-name", json=body, token=token, expected=expected)


def test_binding_a_verified_real_name_shows_it_masked(api: Api, fake_wechat: FakeChannel, session: Session) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    profile = bind(api, token, id_number=ID_NUMBER.lower())
    assert profile["real_name_verified"] is True
    assert profile["name"] == "张*" and profile["id_number"] == "1101**********002X"
    assert profile["assurance_level"] == "channel_certified"
    assert api.get("/api/v1/me", token=token) == profile
    [consent] = session.scalars(select(ConsentRecord)).all()
    assert (consent.purpose, consent.text_version) == ("real_name_verification", CONSENT)


@pytest.mark.parametrize(
    ("name", "id_number", "code"),
    [
        (NAME, "110105194912310021", "identity.invalid_id_number"),
        (NAME, "11010519491331002X", "identity.invalid_id_number"),
        ("x", ID_NUMBER, "identity.invalid_name"),
        ("张三3", ID_NUMBER, "identity.invalid_name"),
    ],
)
def test_malformed_claims_are_refused_before_asking_the_channel(
    api: Api, fake_wechat: FakeChannel, session: Session, name: str, id_number: str, code: str
) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    fake_wechat.fail_next(AssertionError("the channel must not be asked"))
    assert bind(api, token, name, id_number, expected=422)["error"]["code"] == code
    fake_wechat.failures.clear()
    assert session.scalar(select(Resident.id_number_sealed)) is None


def test_unknown_consent_version_is_refused(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    body = bind(api, token, consent_version="1999-01", expected=422)
    assert body["error"]["code"] == "identity.unknown_consent_version"


def test_a_mismatch_stores_nothing(api: Api, fake_wechat: FakeChannel, session: Session) -> None:
    token = wechat_resident(api, fake_wechat, real_name="李四", id_number=ID_NUMBER)
    assert bind(api, token, expected=422)["error"]["code"] == "identity.real_name_mismatch"
    resident = session.scalar(select(Resident))
    assert resident.id_number_sealed is None and resident.real_name_verified_at is None
    assert api.get("/api/v1/me", token=token)["real_name_verified"] is False


def test_channel_without_a_certified_identity(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat)
    assert bind(api, token, expected=422)["error"]["code"] == "identity.real_name_unavailable"


def test_channel_down_during_verification_is_503(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    fake_wechat.fail_next(UpstreamUnavailable("channel.unavailable", "WeChat cannot be reached.", retry_after=10))
    assert bind(api, token, expected=503)["error"]["code"] == "channel.unavailable"


def test_a_different_real_name_cannot_replace_a_bound_one(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    bind(api, token)
    fake_wechat.users["o-1"].update(real_name="李四", id_number="440524198001010013")
    assert (
        bind(api, token, "李四", "440524198001010013", expected=409)["error"]["code"]
        == "identity.real_name_already_bound"
    )


def test_verified_wechat_and_alipay_residents_are_linked_and_the_merge_recorded(
    api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel, session: Session
) -> None:
    wechat = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER, phone=PHONE)
    alipay = alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER)
    phone_code, _ = fake_wechat.issue_code("o-1", phone=PHONE)
    api.post("/api/v1/me/phone", json={"code": phone_code}, token=wechat)
    wechat_profile = bind(api, wechat)
    linked = bind(api, alipay)
    assert linked["id"] == wechat_profile["id"]
    assert linked["channels"] == [{"channel": "alipay", "app_id": ALIPAY}, {"channel": "wechat", "app_id": MINI}]
    assert linked["phone"] == "138****5678"
    assert api.get("/api/v1/me", token=alipay)["id"] == wechat_profile["id"]
    [merge] = session.scalars(select(ResidentMerge)).all()
    assert merge.reason == "same_verified_id_number"
    assert merge.moved["identities"] == [{"channel": "alipay", "app_id": ALIPAY}]
    merged = session.get(Resident, merge.merged_id)
    assert merged.merged_into_id == merge.survivor_id and merged.id_number_lookup is None
    # The Alipay account now signs in straight to the linked resident.
    assert (
        api.get("/api/v1/me", token=alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER))["id"]
        == linked["id"]
    )


def test_unverified_residents_are_never_linked(api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel) -> None:
    wechat = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    alipay = alipay_resident(api, fake_alipay, real_name="李四", id_number=ID_NUMBER)
    bind(api, wechat)
    bind(api, alipay, expected=422)
    assert api.get("/api/v1/me", token=alipay)["id"] != api.get("/api/v1/me", token=wechat)["id"]


def test_phone_binding_through_wechat_only(api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat, phone=PHONE)
    code, _ = fake_wechat.issue_code("o-1", phone=PHONE)
    assert api.post("/api/v1/me/phone", json={"code": code}, token=token)["phone"] == "138****5678"
    assert (
        api.post("/api/v1/me/phone", json={"code": code}, token=token, expected=422)["error"]["code"]
        == "identity.phone_code_invalid"
    )
    alipay = alipay_resident(api, fake_alipay)
    body = api.post("/api/v1/me/phone", json={"code": "x"}, token=alipay, expected=422)
    assert body["error"]["code"] == "identity.phone_not_supported"


def test_erasure_removes_personal_data_and_revokes_every_token(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    second = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    first_id = bind(api, token)["id"]
    api.delete("/api/v1/me", token=token, expected=204)
    for used in (token, second):
        assert api.get("/api/v1/me", token=used, expected=401)["error"]["code"] == "auth.invalid_token"
    erased = session.scalar(select(Resident).where(Resident.public_id == first_id))
    assert erased.erased_at is not None
    assert (erased.real_name_sealed, erased.id_number_sealed, erased.id_number_lookup, erased.identities) == (
        None,
        None,
        None,
        [],
    )
    assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 1  # kept, as proof of consent
    fresh = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    assert api.get("/api/v1/me", token=fresh)["id"] != first_id
    bind(api, fresh)  # the ID number is free again


def test_no_plaintext_name_id_number_or_phone_in_the_database_or_logs(
    app: Flask,
    api: Api,
    fake_wechat: FakeChannel,
    fake_alipay: FakeChannel,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        wechat = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER, phone=PHONE)
        code, _ = fake_wechat.issue_code("o-1", phone=PHONE)
        api.post("/api/v1/me/phone", json={"code": code}, token=wechat)
        bind(api, wechat)
        bind(api, alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER))
        bind(api, wechat, "李四", "440524198001010013", expected=409)
    finally:
        logger.removeHandler(caplog.handler)
    assert caplog.records, "the flow should have logged its requests"
    stored = []
    for table in target_metadata.sorted_tables:
        stored.extend(str(row) for row in session.execute(text(f"SELECT * FROM {table.name}")))
    everything = "\n".join(stored) + caplog.text
    for secret in (NAME, ID_NUMBER, PHONE, "李四", "440524198001010013", ID_NUMBER[:-1]):
        assert secret not in everything
    assert "1101**********002X" not in "\n".join(stored)  # not even masked copies are stored


def test_the_merge_record_says_what_moved_and_what_was_dropped(
    api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel, session: Session
) -> None:
    wechat = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER, phone=PHONE)
    api.post("/api/v1/me/phone", json={"code": fake_wechat.issue_code("o-1", phone=PHONE)[0]}, token=wechat)
    bind(api, wechat)
    alipay = alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER)
    second_alipay_session = alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER)
    merged = session.scalar(select(Resident).where(Resident.public_id == api.get("/api/v1/me", token=alipay)["id"]))
    merged.phone_sealed, merged.phone_lookup = "v1:dev1:placeholder", "lookup"  # the Alipay resident had a phone too
    session.commit()
    bind(api, alipay)
    [merge] = session.scalars(select(ResidentMerge)).all()
    assert merge.moved["sessions"] == 2 and merge.moved["consents"] == 1 and merge.moved["unions"] == 1
    assert merge.moved["phone"] == "dropped_survivor_has_one"
    assert merge.moved["survivor_previous_verification"]["verified_by"] == "fake_real_name"
    assert api.get("/api/v1/me", token=second_alipay_session)["phone"] == "138****5678"


def test_a_channel_without_a_verifier_says_so(app: Flask, api: Api, fake_wechat: FakeChannel) -> None:
    app.extensions["channels"].verifiers.pop("wechat")
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    assert bind(api, token, expected=422)["error"]["code"] == "identity.real_name_not_offered"


def test_another_residents_phone_code_is_refused(api: Api, fake_wechat: FakeChannel) -> None:
    mine = wechat_resident(api, fake_wechat, "o-me")
    wechat_resident(api, fake_wechat, "o-other", phone="13900000002")
    their_code, _ = fake_wechat.issue_code("o-other", phone="13900000002")
    body = api.post("/api/v1/me/phone", json={"code": their_code}, token=mine, expected=422)
    assert body["error"]["code"] == "identity.phone_code_invalid"
    assert api.get("/api/v1/me", token=mine)["phone"] is None


def test_two_residents_binding_the_same_id_number_at_once_are_merged_not_failed(
    database_url: str, clock, fake_channels, fake_wechat: FakeChannel, fake_alipay: FakeChannel
) -> None:
    import threading
    from dataclasses import replace

    from app import create_app
    from config import Settings
    from identity.fake_channels import FakeRealNames

    barrier = threading.Barrier(2, timeout=10)

    class RendezvousVerifier(FakeRealNames):
        def verify(self, claim):  # type: ignore[no-untyped-def]
            result = super().verify(claim)
            barrier.wait()
            return result

    fake_channels.verifiers.update(wechat=RendezvousVerifier(fake_wechat), alipay=RendezvousVerifier(fake_alipay))
    racing = create_app(replace(Settings.from_env({}), database_url=database_url), clock=clock, channels=fake_channels)
    racing_api = Api(racing.test_client())
    tokens = [
        wechat_resident(racing_api, fake_wechat, real_name=NAME, id_number=ID_NUMBER),
        alipay_resident(racing_api, fake_alipay, real_name=NAME, id_number=ID_NUMBER),
    ]
    results: list[tuple[int, dict]] = []

    def bind_now(token: str) -> None:
        response = racing.test_client().post(
            "/api/v1/me/real-name",
            json={"name": NAME, "id_number": ID_NUMBER, "consent_version": CONSENT},
            headers={"Authorization": f"Bearer {token}"},
        )
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=bind_now, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200, 200], results
    assert results[0][1]["id"] == results[1][1]["id"]
    with racing.extensions["session_factory"]() as db:
        assert db.scalar(select(func.count()).select_from(ResidentMerge)) == 1
    racing.extensions["engine"].dispose()


def test_erasing_while_the_channel_verifies_leaves_nothing_behind(
    app: Flask, api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER, phone=PHONE)
    erase_now = lambda: api.delete("/api/v1/me", token=token, expected=204)  # noqa: E731

    class ErasingVerifier:
        name = "erasing"

        def verify(self, claim):  # type: ignore[no-untyped-def]
            erase_now()
            return RealNameResult(matched=True, verifier=self.name)

    app.extensions["channels"].verifiers["wechat"] = ErasingVerifier()
    assert bind(api, token, expected=409)["error"]["code"] == "identity.resident_changed"
    erased = session.scalar(select(Resident))
    assert erased.erased_at is not None
    assert (erased.real_name_sealed, erased.id_number_sealed, erased.id_number_lookup) == (None, None, None)
    # The same person starts afresh and can bind, with no lingering claim on the number.
    fresh = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    app.extensions["channels"].verifiers["wechat"] = FakeRealNames(fake_wechat)
    assert bind(api, fresh)["real_name_verified"] is True
    assert api.get("/api/v1/me", token=fresh)["real_name_verified"] is True


def test_a_later_login_carrying_the_unionid_joins_an_official_account_resident(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    from tests.conftest import WECHAT_OFFICIAL_ACCOUNT as OA

    # snsapi_base: the official account first sees the person without a unionid.
    web_code, _ = fake_wechat.issue_code("o-oa")
    web = api.post("/api/v1/sessions", json={"channel": "wechat", "app_id": OA, "code": web_code}, expected=201)
    mini = wechat_resident(api, fake_wechat, "o-mini")  # the mini-program carries unionid "u-o-mini"
    assert api.get("/api/v1/me", token=mini)["id"] != web["resident"]["id"]
    fake_wechat.users["o-oa"]["unionid"] = "u-o-mini"  # later, snsapi_userinfo reveals the unionid
    again_code, _ = fake_wechat.issue_code("o-oa")
    again = api.post("/api/v1/sessions", json={"channel": "wechat", "app_id": OA, "code": again_code}, expected=201)
    assert again["resident"]["id"] == api.get("/api/v1/me", token=mini)["id"]
    assert {c["app_id"] for c in again["resident"]["channels"]} == {OA, MINI}
    assert api.get("/api/v1/me", token=web["token"])["id"] == again["resident"]["id"]
    [merge] = session.scalars(select(ResidentMerge)).all()
    assert merge.reason == "same_unionid"


def test_the_consent_text_to_show_and_its_version(api: Api) -> None:
    body = api.get("/api/v1/consent-texts/real_name_verification")
    assert body["purpose"] == "real_name_verification" and body["version"] == CONSENT and "身份证号" in body["text"]
    missing = api.get("/api/v1/consent-texts/marketing", expected=404)
    assert missing["error"]["code"] == "identity.unknown_consent_purpose"
