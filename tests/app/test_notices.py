"""Notices through the real channels: the templates an app offers, credits from the prompt, sending, records."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from city_services.models import NoticeCredit
from city_services.models import NoticeRecord
from tests.conftest import Api
from tests.conftest import Sandbox

MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"
WECHAT_CAR_MOVE = "CarMoveOwnerNotice-2bQ9wL0xVt7pKs3Rj5Ym8NdA"
ALIPAY_CAR_MOVE = "Y2l0eXRpbGVzOmNhci1tb3ZlLW93bmVyLW5vdGljZQ=="
FIELDS = {
    "plate": "浙A1****5",
    "place": "西湖区文三路与学院路交叉口东北角停车场入口",
    "time": "2026-11-23 12:30",
    "message": "麻烦挪一下车",
}


def wechat_session(api: Api, sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    issued = sandbox.wechat_code(MINI)
    body = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": issued["code"]}, expected=201
    )
    return body["token"], {**issued, "resident": body["resident"]["id"]}


def alipay_session(api: Api, sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    issued = sandbox.alipay_code()
    body = api.post(
        "/api/v1/sessions", json={"channel": "alipay", "app_id": ALIPAY, "code": issued["auth_code"]}, expected=201
    )
    return body["token"], {**issued, "resident": body["resident"]["id"]}


def resident_id(app: Flask, public_id: str) -> int:
    from identity.models import Resident

    with app.extensions["session_factory"]() as db:
        return db.scalar(select(Resident.id).where(Resident.public_id == public_id))


def send(app: Flask, public_id: str) -> bool:
    with app.extensions["session_factory"]() as db:
        return app.extensions["notices"].send(
            db, resident_id(app, public_id), "car_move_owner", FIELDS, now=app.extensions["clock"]()
        )


def delivered(sandbox: Sandbox, channel: str, user: str) -> list[dict[str, Any]]:
    return sandbox.helper("GET", "messages", params={"channel": channel, "user": user})["messages"]


def outcomes(app: Flask) -> list[tuple[str, str | None]]:
    with app.extensions["session_factory"]() as db:
        return [(r.outcome, r.reason) for r in db.scalars(select(NoticeRecord).order_by(NoticeRecord.id))]


def test_each_app_lists_its_own_templates_with_the_credits_held(real_api: Api, clean_sandbox: Sandbox) -> None:
    token, _ = wechat_session(real_api, clean_sandbox)
    listed = real_api.get("/api/v1/notice-templates", token=token)
    assert (listed["channel"], listed["app_id"]) == ("wechat", MINI)
    assert [t["name"] for t in listed["templates"]] == ["car_move_owner", "appointment", "payment"]
    assert listed["templates"][0]["template_id"] == WECHAT_CAR_MOVE and listed["templates"][0]["credits"] == 0
    english = real_api.get("/api/v1/notice-templates", token=token, headers={"Accept-Language": "en"})
    assert english["templates"][0]["purpose"] == "Tell you when someone asks you to move your car"
    alipay_token, _ = alipay_session(real_api, clean_sandbox)
    assert real_api.get("/api/v1/notice-templates", token=alipay_token)["templates"][0]["template_id"] == (
        ALIPAY_CAR_MOVE
    )


def test_one_accept_pays_for_one_wechat_notice(real_app: Flask, real_api: Api, clean_sandbox: Sandbox) -> None:
    token, person = wechat_session(real_api, clean_sandbox)
    clean_sandbox.helper(
        "POST", "wechat/subscribe", json={"app_id": MINI, "openid": person["openid"], "template_id": WECHAT_CAR_MOVE}
    )
    answered = real_api.post(
        "/api/v1/me/notice-subscriptions",
        json={"templates": {"car_move_owner": "accept", "payment": "reject"}},
        token=token,
    )
    assert answered == {"credits": {"car_move_owner": 1, "payment": 0}}
    # The credit is this resident's in this app: the list shows it to them and to nobody else.
    listed = real_api.get("/api/v1/notice-templates", token=token)["templates"]
    assert {t["name"]: t["credits"] for t in listed} == {"car_move_owner": 1, "appointment": 0, "payment": 0}
    neighbour, _ = wechat_session(real_api, clean_sandbox)
    assert {t["credits"] for t in real_api.get("/api/v1/notice-templates", token=neighbour)["templates"]} == {0}
    assert send(real_app, person["resident"]) is True
    [message] = delivered(clean_sandbox, "wechat", person["openid"])
    assert message["template_id"] == WECHAT_CAR_MOVE
    assert message["page"] == "pages/car-move/owner"  # where tapping the notice opens the mini-program
    # WeChat's `thing` takes 20 characters: the long place is cut, not refused.
    assert message["data"]["thing2"]["value"] == FIELDS["place"][:19] + "…"
    assert send(real_app, person["resident"]) is False  # the one credit is spent
    assert outcomes(real_app) == [("sent", None), ("no_credit", None)]
    assert len(delivered(clean_sandbox, "wechat", person["openid"])) == 1


def test_the_channels_count_wins_when_ours_is_wrong(
    real_app: Flask, real_api: Api, clean_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    token, person = wechat_session(real_api, clean_sandbox)
    # The front end reports an accept the resident never gave: WeChat refuses (43101), and we believe it.
    real_api.post("/api/v1/me/notice-subscriptions", json={"templates": {"car_move_owner": "accept"}}, token=token)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        assert send(real_app, person["resident"]) is False
    finally:
        logger.removeHandler(caplog.handler)
    assert outcomes(real_app) == [("refused", "no_credit")]
    [refusal] = [r for r in caplog.records if r.name == "citytiles.notices" and r.getMessage() == "notice refused"]
    assert (refusal.levelname, refusal.app_id, refusal.notice) == ("WARNING", MINI, "car_move_owner")
    assert refusal.code == "notices.no_credit" and person["openid"] not in caplog.text
    with real_app.extensions["session_factory"]() as db:
        assert db.scalar(select(NoticeCredit.credits)) == 0
    assert delivered(clean_sandbox, "wechat", person["openid"]) == []


def test_alipay_notices_spend_credits_too(real_app: Flask, real_api: Api, clean_sandbox: Sandbox) -> None:
    token, person = alipay_session(real_api, clean_sandbox)
    clean_sandbox.helper(
        "POST",
        "alipay/subscribe",
        json={"app_id": ALIPAY, "user_id": person["user_id"], "template_id": ALIPAY_CAR_MOVE},
    )
    real_api.post("/api/v1/me/notice-subscriptions", json={"templates": {"car_move_owner": "accept"}}, token=token)
    assert send(real_app, person["resident"]) is True
    [message] = delivered(clean_sandbox, "alipay", person["user_id"])
    assert message["template_id"] == ALIPAY_CAR_MOVE
    assert send(real_app, person["resident"]) is False


def test_an_unreachable_channel_keeps_the_credit(real_app: Flask, real_api: Api, clean_sandbox: Sandbox) -> None:
    token, person = wechat_session(real_api, clean_sandbox)
    clean_sandbox.helper(
        "POST", "wechat/subscribe", json={"app_id": MINI, "openid": person["openid"], "template_id": WECHAT_CAR_MOVE}
    )
    real_api.post("/api/v1/me/notice-subscriptions", json={"templates": {"car_move_owner": "accept"}}, token=token)
    clean_sandbox.helper("POST", "faults", json={"target": "wechat.subscribe_send", "mode": "down", "times": 1})
    assert send(real_app, person["resident"]) is False
    assert outcomes(real_app)[0][0] == "unavailable"
    assert send(real_app, person["resident"]) is True  # the credit was given back
    assert len(delivered(clean_sandbox, "wechat", person["openid"])) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"templates": {}},
        {"templates": {"car_move_owner": "maybe"}},
        {"templates": {"parking_fine": "accept"}},
        {"templates": {"car_move_owner\n": "accept"}},
        {"templates": ["car_move_owner"]},
        {},
    ],
)
def test_bad_answers_are_422_and_change_nothing(real_app: Flask, real_api: Api, clean_sandbox: Sandbox, body) -> None:
    token, _ = wechat_session(real_api, clean_sandbox)
    answer = real_api.post("/api/v1/me/notice-subscriptions", json=body, token=token, expected=422)
    assert answer["error"]["code"] == "request.invalid"
    with real_app.extensions["session_factory"]() as db:
        assert db.scalars(select(NoticeCredit)).all() == []


def test_erasure_forgets_credits_and_records(real_app: Flask, real_api: Api, clean_sandbox: Sandbox, caplog) -> None:
    caplog.set_level(logging.INFO)
    token, person = wechat_session(real_api, clean_sandbox)
    real_api.post("/api/v1/me/notice-subscriptions", json={"templates": {"car_move_owner": "accept"}}, token=token)
    send(real_app, person["resident"])
    real_api.delete("/api/v1/me", token=token, expected=204)
    with real_app.extensions["session_factory"]() as db:
        assert db.scalars(select(NoticeCredit)).all() == [] and db.scalars(select(NoticeRecord)).all() == []
    assert FIELDS["place"] not in caplog.text and person["openid"] not in caplog.text
