"""Races through the API on both databases: a lost race is a 409 or the winner's answer, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.fake_channels import FakeChannel
from identity.id_numbers import check_digit
from identity.models import AuditEntry
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.ports import RealNameClaim
from identity.ports import RealNameResult
from tests.app.test_real_name import CONSENT
from tests.app.test_real_name import ID_NUMBER
from tests.app.test_real_name import NAME
from tests.app.test_real_name import bind
from tests.app.test_real_name import wechat_resident
from tests.concurrency import run_together
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import Api
from tests.conftest import Clock

OFFERING = "/admin/api/cities/330100/services/outpatient/channels/alipay"


def send(app: Flask, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    """One request from its own client, as a separate connection would send it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = app.test_client().open(path, method=method, headers=headers, **kwargs)
    return response.status_code, response.get_json(silent=True)


def test_parallel_creations_of_one_username_make_one_account_and_409s(app: Flask, make_staff) -> None:
    admin = make_staff("root", "platform_admin")
    account = {
        "username": "ops.hz",
        "display_name": "Ops",
        "password": "a long enough password",
        "role": "city_operator",
        "cities": ["330100"],
        "reason": "new operator",
    }
    seeded_city(app)
    results = run_together(12, lambda _: send(app, "POST", "/admin/api/staff", admin, json=account))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 11, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"staff.username_taken"}


def seeded_city(app: Flask) -> None:
    """Hangzhou, so operator scopes name a served city."""
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue
    from tests.conftest import SEED

    with app.extensions["session_factory"]() as session:
        seed_catalogue(session, read_seed(SEED), now=app.extensions["clock"]())


@pytest.mark.usefixtures("seeded")
def test_parallel_patches_of_one_offering_keep_the_audit_chain_and_the_window_limit(
    app: Flask, make_staff, clock: Clock, session: Session
) -> None:
    admin = make_staff("root", "platform_admin")

    def patch(index: int) -> tuple[int, Any]:
        windows = [
            {
                "starts_at": (clock() + timedelta(days=day, hours=1)).isoformat(),
                "ends_at": (clock() + timedelta(days=day, hours=2)).isoformat(),
                "message_zh": f"维护 {index}",
            }
            for day in range(12 + index % 9)
        ]
        return send(app, "PATCH", OFFERING, admin, json={"reason": f"change {index}", "maintenance_windows": windows})

    results = run_together(16, patch)
    assert {status for status, _ in results} == {200}, results
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert len(entries) == 16
    for earlier, later in zip(entries, entries[1:], strict=False):
        assert later.before == earlier.after  # each change saw the one committed before it
    stored = send(app, "GET", "/admin/api/cities/330100/catalogue", admin)[1]["offerings"]
    [outpatient] = [o for o in stored if o["service"] == "outpatient" and o["channel"] == "alipay"]
    assert outpatient["maintenance_windows"] == entries[-1].after["maintenance_windows"]
    assert len(outpatient["maintenance_windows"]) <= 20


def test_parallel_first_logins_of_one_person_all_succeed_as_one_resident(
    app: Flask, fake_wechat: FakeChannel, session: Session
) -> None:
    for person in ("o-a", "o-b"):
        codes = [fake_wechat.issue_code(person, unionid=f"u-{person}")[0] for _ in range(12)]
        logins = [{"channel": "wechat", "app_id": MINI, "code": code} for code in codes]
        results = run_together(12, lambda i, logins=logins: send(app, "POST", "/api/v1/sessions", json=logins[i]))
        assert [status for status, _ in results] == [201] * 12, results
        assert len({body["resident"]["id"] for _, body in results}) == 1
    assert session.scalar(select(func.count()).select_from(Resident)) == 2
    assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 2


class AgreeableVerifier:
    """A channel that vouches for whatever it is asked, slowly enough for two requests to overlap."""

    name = "agreeable"

    def __init__(self) -> None:
        import threading

        self.both_asked = threading.Barrier(2, timeout=10)

    def verify(self, claim: RealNameClaim) -> RealNameResult:
        self.both_asked.wait()
        return RealNameResult(matched=True, verifier=self.name)


def test_two_bindings_of_different_numbers_at_once_bind_one_and_refuse_the_other(
    app: Flask, api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    token = wechat_resident(api, fake_wechat)
    app.extensions["channels"].verifiers["wechat"] = AgreeableVerifier()
    other = "11010519800101001"
    numbers = [ID_NUMBER, other + check_digit(other)]
    body = {"name": NAME, "consent_version": CONSENT}
    results = run_together(
        2, lambda i: send(app, "POST", "/api/v1/me/real-name", token, json={**body, "id_number": numbers[i]})
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    [(_, refused)] = [r for r in results if r[0] == 409]
    assert refused["error"]["code"] == "identity.real_name_already_bound"
    [(_, won)] = [r for r in results if r[0] == 200]
    assert api.get("/api/v1/me", token=token)["id_number"] == won["id_number"]


def test_an_erasure_racing_bindings_leaves_nothing_and_the_person_can_bind_again(
    app: Flask, api: Api, fake_wechat: FakeChannel, session: Session
) -> None:
    for round_ in range(4):
        openid = f"o-erase-{round_}"
        token = wechat_resident(api, fake_wechat, openid, real_name=NAME, id_number=ID_NUMBER)
        payload = {"name": NAME, "id_number": ID_NUMBER, "consent_version": CONSENT}

        def act(index: int, token: str = token, payload: dict[str, str] = payload) -> tuple[int, Any]:
            if index == 0:
                return send(app, "DELETE", "/api/v1/me", token)
            return send(app, "POST", "/api/v1/me/real-name", token, json=payload)

        results = run_together(5, act)
        assert results[0][0] == 204, results
        assert {status for status, _ in results[1:]} <= {200, 401, 409}, results
        session.rollback()  # a fresh snapshot
        erased = session.scalars(select(Resident).where(Resident.erased_at.is_not(None))).all()
        assert len(erased) == 2 * round_ + 1  # this round's, and each earlier round's two
        for resident in erased:
            assert (resident.real_name_sealed, resident.id_number_sealed, resident.id_number_lookup) == (None,) * 3
        fresh = wechat_resident(api, fake_wechat, openid, real_name=NAME, id_number=ID_NUMBER)
        assert bind(api, fresh)["real_name_verified"] is True
        api.delete("/api/v1/me", token=fresh, expected=204)
