"""Reconciliation through the admin API: runs per channel and day, discrepancies reviewed by four eyes, CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.ledger import balance
from billing.models import LedgerEntry
from billing.models import Refund
from billing.payments import open_payment
from identity.models import AuditEntry
from tests.app.paying_world import alipay_pay_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import paying_app_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import wechat_pay_fixture  # noqa: F401 - a fixture
from tests.billing.world import MERCHANT
from tests.billing.world import add_resident
from tests.billing.world import charge
from tests.billing.world import deliver
from tests.concurrency import run_together
from tests.conftest import Api
from tests.conftest import Clock

DAY = "2026-11-18"  # the test clock's day in Beijing


def paid(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500) -> str:
    """A paid payment for a purpose with nothing to deliver after it (so nothing refunds it)."""
    order = replace(charge(add_resident(session, clock), clock, amount_fen), purpose="donation")
    placed = open_payment(session, gateway, order, clock)
    assert deliver(app, gateway, gateway.pay(placed.out_trade_no), clock).received
    return placed.public_id


def reconciled(app: Flask, api: Api, token: str, channel: str = "wechat", day: str = DAY) -> dict[str, Any]:
    run = api.post("/admin/api/reconciliation-runs", json={"channel": channel, "date": day}, token=token, expected=201)
    app.extensions["tasks"].drain()
    result: dict[str, Any] = api.get(f"/admin/api/reconciliation-runs/{run['id']}", token=token)
    return result


def out_trade_no(api: Api, token: str, payment_id: str) -> str:
    number: str = api.get(f"/admin/api/payments/{payment_id}", token=token)["out_trade_no"]
    return number


def test_a_run_finds_exactly_the_planted_differences_and_balances(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    agreed, changed, dropped, odd_fee = (paid(app, session, wechat_pay, clock, 2500) for _ in range(4))
    wechat_pay.plant_bill_difference("amount_differs", out_trade_no(api, finance, changed), 2600)
    wechat_pay.plant_bill_difference("missing_payment", out_trade_no(api, finance, dropped))
    wechat_pay.plant_bill_difference("fee", out_trade_no(api, finance, odd_fee), 99)
    stranger = wechat_pay.plant_bill_difference("extra_payment", amount_fen=1200)
    run = reconciled(app, api, finance)
    assert (run["status"], run["channel"], run["merchant_id"], run["date"]) == ("reconciled", "wechat", MERCHANT, DAY)
    summary = run["summary"]
    assert summary["balances"] is True
    assert summary["bill"]["payments"] == 4 and summary["ledger"]["payments"] == 4
    assert summary["bill"]["paid_fen"] == 2500 + 2600 + 2500 + 1200
    assert summary["ledger"]["paid_fen"] == 4 * 2500
    assert summary["bill"]["fee_fen"] == 15 + 16 + 99 + 7
    assert summary["net_settlement_fen"] == summary["bill"]["net_fen"] - summary["bill"]["fee_fen"]
    found = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=finance)["discrepancies"]
    assert sorted((d["kind"], d["out_trade_no"], d["at_stake_fen"]) for d in found) == sorted(
        [
            ("amount_mismatch", out_trade_no(api, finance, changed), 100),
            ("missing_in_bill", out_trade_no(api, finance, dropped), 2500),
            ("unexpected_fee", out_trade_no(api, finance, odd_fee), 84),
            ("missing_in_ledger", stranger, 1200),
        ]
    )
    assert {d["state"] for d in found} == {"open"}
    session.rollback()
    assert balance(session, "fees:wechat") == summary["bill"]["fee_fen"]
    assert balance(session, f"clearing:wechat:{MERCHANT}") == 4 * 2500 - summary["bill"]["fee_fen"]
    only_fees = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies?kind=unexpected_fee", token=finance)[
        "discrepancies"
    ]
    assert [d["out_trade_no"] for d in only_fees] == [out_trade_no(api, finance, odd_fee)]
    assert agreed not in {d["payment_id"] for d in found}
    (asked,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "reconciliation.run")).all()
    assert (asked.target, asked.channel, asked.actor_username) == (
        f"reconciliation_run:{run['id']}",
        "wechat",
        "finance",
    )


def test_the_same_bill_again_changes_nothing_and_a_review_survives_a_new_bill(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    changed = paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("amount_differs", out_trade_no(api, finance, changed), 2600)
    first = reconciled(app, api, finance)
    (found,) = api.get(f"/admin/api/reconciliation-runs/{first['id']}/discrepancies", token=finance)["discrepancies"]
    session.rollback()
    entries = session.scalar(select(func.count()).select_from(LedgerEntry))
    again = reconciled(app, api, finance)
    assert again["id"] == first["id"] and again["summary"] == first["summary"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    assert api.get(f"/admin/api/discrepancies/{found['id']}", token=finance)["id"] == found["id"]
    body = {"resolution": "fixed_upstream", "note": "the channel corrected its amount"}
    api.post(f"/admin/api/discrepancies/{found['id']}/resolution", json=body, token=finance)
    paid(app, session, wechat_pay, clock, 1000)  # the bill changes: one more payment, a bigger fee
    third = reconciled(app, api, finance)
    listed = api.get(f"/admin/api/reconciliation-runs/{third['id']}/discrepancies", token=finance)["discrepancies"]
    assert [(d["id"], d["state"], d["resolution"]) for d in listed] == [(found["id"], "resolved", "fixed_upstream")]
    session.rollback()
    assert balance(session, "fees:wechat") == third["summary"]["bill"]["fee_fen"] == 16 + 6


def test_a_refund_resolution_moves_money_only_when_a_second_admin_approves(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    maker = make_staff("maker", "channel_admin", channels=("wechat",))
    checker = make_staff("checker", "channel_admin", channels=("wechat",))
    payment_id = paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("amount_differs", out_trade_no(api, maker, payment_id), 2400)
    run = reconciled(app, api, maker)
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=maker)["discrepancies"]
    assert (found["payment_id"], found["bill_record"]["amount_fen"]) == (payment_id, 2400)
    path = f"/admin/api/discrepancies/{found['id']}"
    body = {"resolution": "refunded", "note": "the payer was charged 1 yuan less", "refund_fen": 100}
    waiting = api.post(f"{path}/resolution", json=body, token=maker)
    assert (waiting["state"], waiting["refund_fen"]) == ("awaiting_approval", 100)
    again = api.post(f"{path}/resolution", json=body, token=checker, expected=409)
    assert again["error"]["code"] == "reconciliation.already_resolved"
    own = api.post(f"{path}/approval", json={"approve": True, "note": "mine"}, token=maker, expected=403)
    assert own["error"]["code"] == "reconciliation.four_eyes"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0
    approved = api.post(f"{path}/approval", json={"approve": True, "note": "checked the bill"}, token=checker)
    assert (approved["state"], approved["resolution"], approved["approved_by"]) == ("resolved", "refunded", 2)
    session.rollback()
    (refund,) = session.scalars(select(Refund)).all()
    assert (refund.amount_fen, refund.requested_by) == (100, f"staff:{approved['resolved_by']}+2")
    assert [call for call in wechat_pay.calls if call[0] == "refund"] == [("refund", refund.out_refund_no)]
    twice = api.post(f"{path}/approval", json={"approve": True, "note": "again"}, token=checker, expected=409)
    assert twice["error"]["code"] == "reconciliation.not_awaiting_approval"
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"discrepancy:{found['id']}")).all()
    assert actions == ["discrepancy.resolve", "discrepancy.approve"]


def test_a_write_off_is_posted_once_and_a_sent_back_resolution_opens_again(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    maker = make_staff("maker", "channel_admin", channels=("wechat",))
    checker = make_staff("checker", "channel_admin", channels=("wechat",))
    paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("extra_payment", amount_fen=1200)
    run = reconciled(app, api, maker)
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=maker)["discrepancies"]
    path = f"/admin/api/discrepancies/{found['id']}"
    refund = {"resolution": "refunded", "note": "give it back", "refund_fen": 100}
    nothing = api.post(f"{path}/resolution", json=refund, token=maker, expected=409)
    assert nothing["error"]["code"] == "reconciliation.nothing_to_refund"
    api.post(f"{path}/resolution", json={"resolution": "written_off", "note": "unknown payer"}, token=maker)
    back = api.post(f"{path}/approval", json={"approve": False, "note": "ask the channel first"}, token=checker)
    assert (back["state"], back["resolution"], back["resolved_by"]) == ("open", None, None)
    api.post(f"{path}/resolution", json={"resolution": "written_off", "note": "channel says keep"}, token=maker)
    api.post(f"{path}/approval", json={"approve": True, "note": "agreed"}, token=checker)
    session.rollback()
    assert balance(session, "writeoffs:wechat") == -1200
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "write_off")) == 1


def test_each_admin_sees_and_reviews_only_their_channels(
    app: Flask,
    api: Api,
    session: Session,
    make_staff: Any,
    wechat_pay: FakePaymentGateway,
    alipay_pay: FakePaymentGateway,
    clock: Clock,
) -> None:
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    alipay_admin = make_staff("alifinance", "channel_admin", channels=("alipay",))
    paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("extra_payment", amount_fen=500)
    run = reconciled(app, api, finance)
    refused = api.post(
        "/admin/api/reconciliation-runs", json={"channel": "wechat", "date": DAY}, token=alipay_admin, expected=403
    )
    assert refused["error"]["code"] == "auth.channel_out_of_scope"
    api.get(f"/admin/api/reconciliation-runs/{run['id']}", token=alipay_admin, expected=404)
    assert api.get("/admin/api/reconciliation-runs", token=alipay_admin)["runs"] == []
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=finance)["discrepancies"]
    body = {"resolution": "accepted", "note": "fine"}
    api.post(f"/admin/api/discrepancies/{found['id']}/resolution", json=body, token=alipay_admin, expected=404)
    admin = make_staff("root", "platform_admin")
    assert [r["id"] for r in api.get("/admin/api/reconciliation-runs", token=admin)["runs"]] == [run["id"]]
    api.post(f"/admin/api/discrepancies/{found['id']}/resolution", json=body, token=admin, expected=403)
    operator = make_staff("operator", "city_operator", cities=("330100",))
    api.get("/admin/api/reconciliation-runs", token=operator, expected=403)


def test_bad_requests_get_clear_errors(app: Flask, api: Api, make_staff: Any) -> None:
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    for body in (
        {"channel": "wechat", "date": "2026-02-30"},
        {"channel": "wechat", "date": "2026-11-18\n"},
        {"channel": "unionpay", "date": DAY},
        {"channel": "wechat"},
    ):
        assert api.post("/admin/api/reconciliation-runs", json=body, token=finance, expected=422)["error"]["code"] == (
            "request.invalid"
        )
    future = api.post(
        "/admin/api/reconciliation-runs", json={"channel": "wechat", "date": "2026-11-19"}, token=finance, expected=422
    )
    assert future["error"]["code"] == "reconciliation.day_in_future"
    unknown = api.post(
        "/admin/api/reconciliation-runs",
        json={"channel": "wechat", "date": DAY, "merchant_id": "1999999999"},
        token=finance,
        expected=404,
    )
    assert unknown["error"]["code"] == "reconciliation.merchant_not_found"
    api.get("/admin/api/reconciliation-runs/rc%20x", token=finance, expected=404)
    api.get("/admin/api/discrepancies/dc0000000000000000000000", token=finance, expected=404)


def test_a_bill_not_made_yet_leaves_the_run_waiting_then_it_is_reconciled(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    from datetime import date

    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    paid(app, session, wechat_pay, clock)
    wechat_pay.bill_not_ready(date(2026, 11, 18))
    run = reconciled(app, api, finance)
    assert (run["status"], run["summary"]) == ("waiting", None)
    wechat_pay._days_not_ready.clear()  # the channel has made it now
    clock.advance(minutes=11)
    app.extensions["tasks"].kick()
    app.extensions["tasks"].drain()
    assert api.get(f"/admin/api/reconciliation-runs/{run['id']}", token=finance)["status"] == "reconciled"


def test_runs_and_discrepancies_export_as_csv_for_excel(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    finance = make_staff("finance", "channel_admin", channels=("wechat",))
    payment_id = paid(app, session, wechat_pay, clock, 123456)
    paid(app, session, wechat_pay, clock, 100)
    wechat_pay.plant_bill_difference("missing_payment", out_trade_no(api, finance, payment_id))
    run = reconciled(app, api, finance)
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=finance)["discrepancies"]
    body = {"resolution": "accepted", "note": '=HYPERLINK("http://evil")'}
    api.post(f"/admin/api/discrepancies/{found['id']}/resolution", json=body, token=finance)
    answer = api.client.get(
        f"/admin/api/reconciliation-runs/{run['id']}/discrepancies.csv", headers={"Authorization": f"Bearer {finance}"}
    )
    assert answer.status_code == 200 and answer.content_type == "text/csv; charset=utf-8"
    assert answer.data.startswith(b"\xef\xbb\xbf") and b"\r\n" in answer.data
    rows = list(csv.DictReader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert [(r["kind"], r["ledger (yuan)"], r["bill (yuan)"], r["at stake (yuan)"]) for r in rows] == [
        ("missing_in_bill", "1234.56", "0.00", "1234.56")
    ]
    assert rows[0]["note"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["resolved at"] == "2026-11-18 10:00:00"  # Beijing time
    runs = api.client.get("/admin/api/reconciliation-runs.csv", headers={"Authorization": f"Bearer {finance}"})
    (row,) = csv.DictReader(io.StringIO(runs.data.decode("utf-8-sig")))
    assert (row["run"], row["bill paid (yuan)"], row["ledger paid (yuan)"], row["date"]) == (
        run["id"],
        "1.00",
        "1235.56",
        DAY,
    )


def test_checkers_approving_at_once_move_the_money_once(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    maker = make_staff("maker", "channel_admin", channels=("wechat",))
    checkers = [make_staff(f"checker{i}", "channel_admin", channels=("wechat",)) for i in range(5)]
    payment_id = paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("amount_differs", out_trade_no(api, maker, payment_id), 2400)
    run = reconciled(app, api, maker)
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=maker)["discrepancies"]
    body = {"resolution": "refunded", "note": "charged too much", "refund_fen": 100}
    api.post(f"/admin/api/discrepancies/{found['id']}/resolution", json=body, token=maker)

    def approve(index: int) -> int:
        response = app.test_client().post(
            f"/admin/api/discrepancies/{found['id']}/approval",
            json={"approve": True, "note": "checked"},
            headers={"Authorization": f"Bearer {checkers[index]}"},
        )
        return response.status_code

    assert sorted(run_together(5, approve)) == [200, 409, 409, 409, 409]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Refund)) == 1
    assert [call[0] for call in wechat_pay.calls].count("refund") == 1


def test_resolvers_at_once_resolve_once(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    admins = [make_staff(f"finance{i}", "channel_admin", channels=("wechat",)) for i in range(5)]
    paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("extra_payment", amount_fen=300)
    run = reconciled(app, api, admins[0])
    (found,) = api.get(f"/admin/api/reconciliation-runs/{run['id']}/discrepancies", token=admins[0])["discrepancies"]

    def resolve(index: int) -> int:
        response = app.test_client().post(
            f"/admin/api/discrepancies/{found['id']}/resolution",
            json={"resolution": "written_off", "note": f"by {index}"},
            headers={"Authorization": f"Bearer {admins[index]}"},
        )
        return response.status_code

    assert sorted(run_together(5, resolve)) == [200, 409, 409, 409, 409]
    session.rollback()
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "discrepancy.resolve")).all()
    assert len(entries) == 1


def test_runs_are_listed_latest_day_first_then_latest_asked(
    app: Flask, api: Api, session: Session, make_staff: Any, clock: Clock
) -> None:
    from datetime import date

    from billing.reconciliation.runs import ask_for_run

    older = ask_for_run(session, "wechat", MERCHANT, date(2026, 11, 16), "command", clock())
    first = ask_for_run(session, "wechat", "1900000999", date(2026, 11, 17), "command", clock())
    second = ask_for_run(session, "alipay", "2021004100000001", date(2026, 11, 17), "command", clock())
    admin = make_staff("root", "platform_admin")
    listed = [run["id"] for run in api.get("/admin/api/reconciliation-runs", token=admin)["runs"]]
    assert listed == [second.public_id, first.public_id, older.public_id]
    since = api.get("/admin/api/reconciliation-runs?from=2026-11-17&to=2026-11-17&channel=wechat", token=admin)
    assert [run["id"] for run in since["runs"]] == [first.public_id]
    assert api.get("/admin/api/reconciliation-runs?status=failed", token=admin)["runs"] == []
