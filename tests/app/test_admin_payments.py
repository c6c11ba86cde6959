"""Channel admins' payments: within their channels only, the whole story, refunds audited and never past the amount."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from identity.models import AuditEntry
from tests.app.paying_world import alipay_pay_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import paid
from tests.app.paying_world import paying_app_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import wechat_pay_fixture  # noqa: F401 - a fixture
from tests.concurrency import run_together
from tests.conftest import Api
from tests.conftest import Clock


def test_a_channel_admin_sees_only_their_channels_payments(
    app: Flask,
    api: Api,
    session: Session,
    make_staff: Any,
    wechat_pay: FakePaymentGateway,
    alipay_pay: FakePaymentGateway,
    clock: Clock,
) -> None:
    wechat_id = paid(app, session, wechat_pay, clock)
    alipay_id = paid(app, session, alipay_pay, clock, 1800)
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    listed = api.get("/admin/api/payments", token=finance)["payments"]
    assert [p["id"] for p in listed] == [wechat_id]
    assert (
        api.get(f"/admin/api/payments?status=paid&out_trade_no={listed[0]['out_trade_no']}", token=finance)["payments"][
            0
        ]["status"]
        == "paid"
    )
    api.get(f"/admin/api/payments/{alipay_id}", token=finance, expected=404)
    story = api.get(f"/admin/api/payments/{wechat_id}", token=finance)
    assert (story["amount_available"], story["notifications"][0]["outcome"]) == (2500, "applied")
    assert [line["amount_fen"] for line in story["postings"][0]["lines"]] == [2500, -2500]
    admin = make_staff("root", "platform_admin")
    assert {p["id"] for p in api.get("/admin/api/payments", token=admin)["payments"]} == {wechat_id, alipay_id}
    operator = make_staff("operator", "city_operator", cities=("330100",))
    api.get("/admin/api/payments", token=operator, expected=403)
    assert (
        api.get("/admin/api/payments?from=2000-01-01T00:00:00%2B08:00&to=2001-01-01T00:00:00Z", token=admin)["payments"]
        == []
    )


def test_a_refund_is_audited_and_never_more_than_remains(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock)
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    body = {"amount_fen": 1000, "reason": "double charge reported by the resident"}
    refund = api.post(f"/admin/api/payments/{payment_id}/refunds", json=body, token=finance, expected=201)
    assert (refund["status"], refund["amount_fen"], refund["requested_by"].startswith("staff:")) == (
        "processing",
        1000,
        True,
    )
    over = api.post(
        f"/admin/api/payments/{payment_id}/refunds", json={**body, "amount_fen": 1501}, token=finance, expected=409
    )
    assert over["error"]["details"] == {"amount_available": 1500}
    blank = api.post(
        f"/admin/api/payments/{payment_id}/refunds", json={**body, "reason": "   "}, token=finance, expected=422
    )
    assert blank["error"]["code"] == "request.invalid"
    session.rollback()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.refund")).one()
    assert (entry.channel, entry.after["amount_fen"], entry.before) == ("wechat", 1000, {"amount_available": 2500})
    alipay_admin = make_staff("alifinance", "channel_admin", channels=("alipay",))
    api.post(f"/admin/api/payments/{payment_id}/refunds", json=body, token=alipay_admin, expected=404)
    admin = make_staff("root", "platform_admin")
    refused = api.post(f"/admin/api/payments/{payment_id}/refunds", json=body, token=admin, expected=403)
    assert refused["error"]["code"] == "auth.forbidden"


def test_two_admins_refunding_at_once_never_give_back_more_than_was_paid(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock, 1000)
    tokens = [make_staff(f"finance{i}", "channel_admin", channels=("wechat",)) for i in range(6)]

    def attempt(index: int) -> int:
        response = app.test_client().post(
            f"/admin/api/payments/{payment_id}/refunds",
            json={"amount_fen": 400, "reason": "goodwill"},
            headers={"Authorization": f"Bearer {tokens[index]}"},
        )
        return response.status_code

    assert sorted(run_together(6, attempt)) == [201, 201, 409, 409, 409, 409]
    story = api.get(f"/admin/api/payments/{payment_id}", token=tokens[0])
    assert story["amount_available"] == 200 and len(story["refunds"]) == 2
