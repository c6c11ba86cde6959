"""What the car-move API tests share: citytiles on the real sandbox, residents who log in through it, fresh plates."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from identity.id_numbers import check_digit
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"
HANGZHOU, SHENZHEN = "330100", "440300"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
PLACE = {"lat": 30.274153, "lng": 120.155151}
SHENZHEN_OWNER_NAME = "王五"
WECHAT_CAR_MOVE_NOTICE = "CarMoveOwnerNotice-2bQ9wL0xVt7pKs3Rj5Ym8NdA"


@pytest.fixture(name="service_app")
def service_app_fixture(clean_sandbox: Sandbox, database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    """citytiles with its real channel and upstream adapters pointed at the sandbox, catalogue seeded."""
    settings = clean_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    application = create_app(settings, clock=clock)
    with application.extensions["session_factory"]() as session:
        seed_catalogue(session, read_seed(settings.catalogue_seed), now=clock())
    yield application
    application.extensions["engine"].dispose()


@pytest.fixture(name="service_api")
def service_api_fixture(service_app: Flask) -> Api:
    return Api(service_app.test_client())


def id_number(seventeen: str | None = None) -> str:
    """A valid ID number: a fresh one unless the first 17 digits are given."""
    first = seventeen or f"440305198{secrets.randbelow(10)}0{secrets.randbelow(9) + 1}1{secrets.randbelow(10)}" + (
        f"{secrets.randbelow(900) + 100}"
    )
    return first + check_digit(first)


def plate(province: str = "浙", *, new_energy: bool = False) -> str:
    """A plate no other test uses."""
    digits = "".join(secrets.choice("0123456789") for _ in range(4 if new_energy else 5))
    office = "A" if province == "浙" else "B"
    return f"{province}{office}{'D' + secrets.choice(LETTERS) if new_energy else ''}{digits}"


def register_at_police(sandbox: Sandbox, plate_number: str, owner: str) -> None:
    """The traffic police register a car (浙 with Zhejiang, 粤 with Guangdong)."""
    system = "zhejiang_traffic_police" if plate_number.startswith("浙") else "guangdong_traffic_police"
    sandbox.helper("POST", "vehicles", json={"system": system, "plate": plate_number, "owner_id_number": owner})


def log_in(
    api: Api, sandbox: Sandbox, channel: str = "wechat", *, name: str | None = None, person: str = "", **account: str
) -> str:
    """A resident logged in through the channel; with a name, their real name verified too. Returns the token."""
    identity: dict[str, Any] = {"real_name": name, "id_number": person, **account} if name else dict(account)
    if channel == "wechat":
        body = {"channel": "wechat", "app_id": MINI, "code": sandbox.wechat_code(MINI, **identity)["code"]}
    else:
        body = {"channel": "alipay", "app_id": ALIPAY, "code": sandbox.alipay_code(**identity)["auth_code"]}
    token: str = api.post("/api/v1/sessions", json=body, expected=201)["token"]
    if name:
        real_name = {"name": name, "id_number": person, "consent_version": "2026-11"}
        api.post("/api/v1/me/real-name", json=real_name, token=token)
    return token


def ask(api: Api, token: str, plate_number: str, city: str = HANGZHOU, expected: int = 201, **extra: Any) -> Any:
    """POST a car-move request."""
    body = {"plate": plate_number, "location": PLACE, "message": "您的车挡住出口了", **extra}
    return api.post(f"/api/v1/cities/{city}/car-move-requests", json=body, token=token, expected=expected)


def shenzhen_owner(api: Api, sandbox: Sandbox, car: str, *, openid: str | None = None) -> str:
    """A WeChat resident whose car the Guangdong police have registered, and who registered it with us.

    With an openid, the owner also accepted one car-move notice in WeChat's subscription prompt.
    """
    person = id_number()
    register_at_police(sandbox, car, person)
    account = {"openid": openid} if openid else {}
    token = log_in(api, sandbox, "wechat", name=SHENZHEN_OWNER_NAME, person=person, **account)
    if openid:
        prompt = {"app_id": MINI, "openid": openid, "template_id": WECHAT_CAR_MOVE_NOTICE}
        sandbox.helper("POST", "wechat/subscribe", json=prompt)
        accepted = {"templates": {"car_move_owner": "accept"}}
        api.post("/api/v1/me/notice-subscriptions", json=accepted, token=token)
    vehicle = api.post("/api/v1/me/vehicles", json={"city": SHENZHEN, "plate": car}, token=token, expected=201)
    assert vehicle["plate"] == car[:2] + "*" * (len(car) - 4) + car[-2:] and vehicle["city"] == SHENZHEN
    return token
