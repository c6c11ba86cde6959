"""Erasure and unionid linking touch one person only: other residents' sessions and identities stay as they are."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.fake_channels import FakeChannel
from identity.models import AccessToken
from identity.models import Resident
from identity.models import ResidentMerge
from tests.app.test_real_name import ID_NUMBER
from tests.app.test_real_name import NAME
from tests.app.test_real_name import alipay_resident
from tests.app.test_real_name import bind
from tests.app.test_real_name import wechat_resident
from tests.conftest import WECHAT_OFFICIAL_ACCOUNT as OA
from tests.conftest import Api
from tests.conftest import Clock

OTHER_NAME, OTHER_ID_NUMBER = "李四", "440524198001010013"


def official_account_login(api: Api, fake: FakeChannel, openid: str) -> dict:
    code, _ = fake.issue_code(openid)
    return api.post("/api/v1/sessions", json={"channel": "wechat", "app_id": OA, "code": code}, expected=201)


def test_erasing_one_resident_leaves_every_other_residents_sessions_working(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    leaving = wechat_resident(api, fake_wechat, "o-leaving", real_name=NAME, id_number=ID_NUMBER)
    staying = wechat_resident(api, fake_wechat, "o-staying", real_name=OTHER_NAME, id_number=OTHER_ID_NUMBER)
    staying_too = wechat_resident(api, fake_wechat, "o-staying")
    bind(api, staying, OTHER_NAME, OTHER_ID_NUMBER)
    api.delete("/api/v1/me", token=leaving, expected=204)
    assert api.get("/api/v1/me", token=leaving, expected=401)["error"]["code"] == "auth.invalid_token"
    for token in (staying, staying_too):
        assert api.get("/api/v1/me", token=token)["real_name_verified"] is True
    # Exactly the erased resident's one session was revoked.
    assert session.scalar(select(func.count()).where(AccessToken.revoked_at.is_not(None))) == 1


def test_a_unionid_never_merges_residents_verified_with_different_id_numbers(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    # snsapi_base: the official account first sees the person without a unionid; they bind one ID number.
    fake_wechat.issue_code("o-oa", real_name=OTHER_NAME, id_number=OTHER_ID_NUMBER)
    web = official_account_login(api, fake_wechat, "o-oa")
    bind(api, web["token"], OTHER_NAME, OTHER_ID_NUMBER)
    # The mini-program resident holding unionid "u-o-mini" bound another.
    mini = wechat_resident(api, fake_wechat, "o-mini", real_name=NAME, id_number=ID_NUMBER)
    bind(api, mini)
    fake_wechat.users["o-oa"]["unionid"] = "u-o-mini"  # the channel now says they are one person
    again = official_account_login(api, fake_wechat, "o-oa")
    assert again["resident"]["id"] == web["resident"]["id"] != api.get("/api/v1/me", token=mini)["id"]
    assert {c["app_id"] for c in again["resident"]["channels"]} == {OA}
    assert api.get("/api/v1/me", token=web["token"])["id_number"] == "4405**********0013"
    assert api.get("/api/v1/me", token=mini)["id_number"] == "1101**********002X"
    assert session.scalar(select(func.count()).select_from(ResidentMerge)) == 0
    assert session.scalar(select(func.count()).where(Resident.merged_into_id.is_not(None))) == 0


def test_a_unionid_merge_keeps_the_verified_resident_whichever_side_holds_the_unionid(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    # The official-account resident is verified; the unionid's holder (the mini-program resident) is not.
    fake_wechat.issue_code("o-oa", real_name=NAME, id_number=ID_NUMBER)
    web = official_account_login(api, fake_wechat, "o-oa")
    verified = bind(api, web["token"])
    mini = wechat_resident(api, fake_wechat, "o-mini")
    fake_wechat.users["o-oa"]["unionid"] = "u-o-mini"
    again = official_account_login(api, fake_wechat, "o-oa")
    assert again["resident"]["id"] == verified["id"]
    assert api.get("/api/v1/me", token=mini) == api.get("/api/v1/me", token=again["token"])
    assert api.get("/api/v1/me", token=mini)["id_number"] == "1101**********002X"
    [merge] = session.scalars(select(ResidentMerge)).all()
    assert merge.reason == "same_unionid"
    assert session.get(Resident, merge.survivor_id).public_id == verified["id"]


def test_a_unionid_joins_a_verified_and_an_unverified_resident(
    api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    # Only one side verified: nothing contradicts the channel, so they merge onto the verified one.
    web = official_account_login(api, fake_wechat, "o-oa")
    mini = wechat_resident(api, fake_wechat, "o-mini", real_name=NAME, id_number=ID_NUMBER)
    verified = bind(api, mini)
    fake_wechat.users["o-oa"]["unionid"] = "u-o-mini"
    again = official_account_login(api, fake_wechat, "o-oa")
    assert again["resident"]["id"] == verified["id"] != web["resident"]["id"]
    assert api.get("/api/v1/me", token=web["token"])["id_number"] == "1101**********002X"


def test_a_token_revoked_before_erasure_keeps_the_moment_it_was_revoked(
    api: Api, fake_wechat: FakeChannel, session: Session, clock: Clock
) -> None:
    signed_out = wechat_resident(api, fake_wechat, "o-1")
    current = wechat_resident(api, fake_wechat, "o-1")
    signed_out_at = clock()
    api.delete("/api/v1/sessions/current", token=signed_out, expected=204)
    clock.advance(hours=1)
    api.delete("/api/v1/me", token=current, expected=204)
    assert sorted(t.revoked_at for t in session.scalars(select(AccessToken))) == [signed_out_at, clock()]


def test_the_merge_record_keeps_when_the_survivor_was_verified_before(
    api: Api, fake_wechat: FakeChannel, fake_alipay: FakeChannel, session: Session, clock: Clock
) -> None:
    first = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    bind(api, first)
    verified_at = clock().isoformat()
    clock.advance(minutes=5)
    bind(api, alipay_resident(api, fake_alipay, real_name=NAME, id_number=ID_NUMBER))
    [merge] = session.scalars(select(ResidentMerge)).all()
    assert merge.moved["survivor_previous_verification"] == {
        "verified_by": "fake_real_name",
        "verified_at": verified_at,
    }


def test_an_unknown_consent_purpose_names_it(api: Api) -> None:
    error = api.get("/api/v1/consent-texts/marketing", expected=404)["error"]
    assert error["details"] == {"purpose": "marketing"} and "marketing" in error["message"]


def test_a_refused_claim_names_the_field_it_is_about(api: Api, fake_wechat: FakeChannel) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    assert bind(api, token, "x", ID_NUMBER, expected=422)["error"]["details"] == {"field": "name"}
    assert bind(api, token, NAME, "110105194912310021", expected=422)["error"]["details"] == {"field": "id_number"}


def test_a_bound_id_number_is_stored_under_its_own_lookup(
    app: Flask, api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    bind(api, token)
    vault = app.extensions["vault"]
    stored = session.scalar(select(Resident))
    assert stored.id_number_lookup == vault.lookup("resident.id_number", ID_NUMBER)
    assert vault.open("resident.id_number", stored.id_number_sealed) == ID_NUMBER
    assert vault.open("resident.real_name", stored.real_name_sealed) == NAME


def test_binding_the_same_real_name_again_changes_nothing(api: Api, fake_wechat: FakeChannel, session: Session) -> None:
    token = wechat_resident(api, fake_wechat, real_name=NAME, id_number=ID_NUMBER)
    first = bind(api, token)
    assert bind(api, token) == first
    assert api.get("/api/v1/me", token=token) == first
    assert session.scalar(select(func.count()).select_from(ResidentMerge)) == 0
