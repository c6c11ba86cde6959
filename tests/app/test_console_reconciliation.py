"""Reconciliation in the console: a day asked for, differences read beside the payment, four eyes on every refund."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.models import Payment
from billing.models import Refund
from billing.reconciliation.models import Discrepancy
from identity.models import AuditEntry
from tests.app.console_client import Console
from tests.app.console_client import alert
from tests.app.console_client import console_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import alipay_pay_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import donation_paid
from tests.app.paying_world import paying_app_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import wechat_pay_fixture  # noqa: F401 - a fixture
from tests.conftest import Clock

DAY = "2026-11-18"  # the test clock's day in Beijing
RUNS = "/admin/reconciliation/"
_DISCREPANCY = re.compile(r"/admin/reconciliation/discrepancies/(dc[0-9a-f]{20})")


def reconciled(app: Flask, console: Console, day: str = DAY) -> str:
    """Ask for the day through the form, let the background carry it out; the run page's path."""
    console.get(RUNS)
    asked = console.post(RUNS, {"channel": "wechat", "date": day, "merchant_id": ""})
    app.extensions["tasks"].drain()
    path: str = asked.headers["Location"]
    return path


def discrepancy_ids(html: str) -> list[str]:
    return list(dict.fromkeys(_DISCREPANCY.findall(html)))


def second_browser(app: Flask, username: str) -> Console:
    other = Console(app.test_client())
    other.log_in(username)
    return other


@pytest.fixture
def amount_differs(app: Flask, session: Session, wechat_pay: FakePaymentGateway, clock: Clock) -> Payment:
    """A 25-yuan payment the channel's bill says was 24 yuan."""
    payment = donation_paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("amount_differs", payment.out_trade_no, 2400)
    return payment


def test_a_channel_admin_asks_for_a_day_and_reads_the_planted_differences(
    app: Flask, console: Console, make_staff: Any, session: Session, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    make_staff("finance", "channel_admin", channels=("wechat",))
    changed = donation_paid(app, session, wechat_pay, clock)
    wechat_pay.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    stranger = wechat_pay.plant_bill_difference("extra_payment", amount_fen=1200)
    console.log_in("finance")
    assert "对账某一天" in console.text(RUNS)
    run_path = reconciled(app, console)
    assert re.fullmatch(r"/admin/reconciliation/rc[0-9a-f]{20}", run_path)
    html = console.text(run_path)
    assert "已对账" in html and "渠道账单" in html and "我方账簿" in html
    assert "38.00" in html and "25.00" in html  # paid by the bill (26 + 12) and by our books
    assert changed.out_trade_no in html and stranger in html
    assert "金额不符" in html and "我方无此交易" in html
    only = console.text(f"{run_path}?kind=missing_in_ledger")
    assert stranger in only and changed.out_trade_no not in only
    listed = console.text(RUNS)
    assert run_path in listed and "12.00" not in listed and "13.00" in listed  # at stake: 1 + 12 yuan
    (found,) = discrepancy_ids(console.text(f"{run_path}?kind=amount_mismatch"))
    page = console.text(f"/admin/reconciliation/discrepancies/{found}")
    assert f"/admin/payments/{changed.public_id}" in page and "26.00" in page and "处理差异" in page


def test_a_refund_moves_money_only_when_a_second_admin_approves(
    app: Flask, console: Console, make_staff: Any, session: Session, amount_differs: Payment
) -> None:
    make_staff("maker", "channel_admin", channels=("wechat",))
    make_staff("checker", "channel_admin", channels=("wechat",))
    console.log_in("maker")
    (found,) = discrepancy_ids(console.text(reconciled(app, console)))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.get(path)
    resolution = {"resolution": "refunded", "refund_yuan": "1.00", "note": "the payer was charged 1 yuan more"}
    assert console.post(f"{path}/resolution", resolution).headers["Location"] == path
    page = console.text(path)
    assert "等待另一位渠道管理员审批" in page and "须由另一位渠道管理员审批" in page and "批准" not in page
    refused = console.post(f"{path}/approval", {"decision": "approve", "note": "mine"}, expected=403)
    assert "您不能审批自己提交的处理" in refused.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0
    checker = second_browser(app, "checker")
    assert "批准" in checker.text(path)
    checker.post(f"{path}/approval", {"decision": "approve", "note": "checked the bill"})
    assert "已审批" in checker.text(path)
    session.rollback()
    (refund,) = session.scalars(select(Refund)).all()
    assert (refund.amount_fen, refund.payment_id) == (100, amount_differs.id)
    item = session.scalar(select(Discrepancy).where(Discrepancy.public_id == found))
    assert item is not None and (item.state, item.refund_id) == ("resolved", refund.id)
    again = checker.post(f"{path}/approval", {"decision": "approve", "note": "again"}, expected=409)
    assert "没有等待审批" in alert(again)
    assert session.scalar(select(func.count()).select_from(Refund)) == 1


def test_a_resolution_sent_back_opens_the_discrepancy_again(
    app: Flask, console: Console, make_staff: Any, session: Session, amount_differs: Payment
) -> None:
    make_staff("maker", "channel_admin", channels=("wechat",))
    make_staff("checker", "channel_admin", channels=("wechat",))
    console.log_in("maker")
    (found,) = discrepancy_ids(console.text(reconciled(app, console)))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.get(path)
    console.post(f"{path}/resolution", {"resolution": "written_off", "refund_yuan": "", "note": "small"})
    checker = second_browser(app, "checker")
    checker.get(path)
    checker.post(f"{path}/approval", {"decision": "send_back", "note": "ask the channel first"})
    assert "差异重新待处理" in checker.text(path)
    session.rollback()
    item = session.scalar(select(Discrepancy).where(Discrepancy.public_id == found))
    assert item is not None and (item.state, item.resolution) == ("open", None)


@pytest.mark.parametrize("typed", ["1.234", "１", "-1", "1,00", "0", " "])
def test_a_malformed_refund_amount_is_refused_and_nothing_is_stored(
    app: Flask, console: Console, make_staff: Any, session: Session, amount_differs: Payment, typed: str
) -> None:
    make_staff("maker", "channel_admin", channels=("wechat",))
    console.log_in("maker")
    (found,) = discrepancy_ids(console.text(reconciled(app, console)))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.get(path)
    resolution = {"resolution": "refunded", "refund_yuan": typed, "note": "refund it"}
    refused = console.post(f"{path}/resolution", resolution, expected=422)
    assert alert(refused) == "请输入以元为单位、大于 0 的金额，最多两位小数，例如 12.50。"
    assert f'value="{typed}"' in refused.get_data(as_text=True)  # what was typed stays to correct
    session.rollback()
    item = session.scalar(select(Discrepancy).where(Discrepancy.public_id == found))
    assert item is not None and (item.state, item.resolution, item.refund_fen) == ("open", None, None)
    assert not session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("discrepancy.%"))
    )


def test_a_note_and_a_day_that_has_begun_are_required(
    app: Flask, console: Console, make_staff: Any, amount_differs: Payment
) -> None:
    make_staff("maker", "channel_admin", channels=("wechat",))
    console.log_in("maker")
    console.get(RUNS)
    future = console.post(RUNS, {"channel": "wechat", "date": "2026-11-19"}, expected=422)
    assert alert(future) == "账单日期不能晚于今天（北京时间）。"
    assert console.post(RUNS, {"channel": "wechat", "date": "２０２６-11-18"}, expected=422)
    (found,) = discrepancy_ids(console.text(reconciled(app, console)))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.get(path)
    blank = console.post(f"{path}/resolution", {"resolution": "accepted", "note": "  "}, expected=422)
    assert alert(blank) == "请填写备注。"


def test_another_channels_admin_finds_nothing_and_a_platform_admin_reads_without_forms(
    app: Flask, console: Console, make_staff: Any, amount_differs: Payment
) -> None:
    make_staff("finance", "channel_admin", channels=("wechat",))
    make_staff("alifinance", "channel_admin", channels=("alipay",))
    make_staff("root", "platform_admin")
    console.log_in("finance")
    run_path = reconciled(app, console)
    (found,) = discrepancy_ids(console.text(run_path))
    path = f"/admin/reconciliation/discrepancies/{found}"
    alipay = second_browser(app, "alifinance")
    assert run_path not in alipay.text(RUNS)
    alipay.get(run_path, expected=404)
    alipay.get(f"{run_path}/discrepancies.csv", expected=404)
    assert "没有这条差异" in alipay.text(path, expected=404)
    alipay.post(f"{path}/resolution", {"resolution": "accepted", "note": "fine"}, expected=404)
    alipay.post(RUNS, {"channel": "wechat", "date": DAY}, expected=403)
    root = second_browser(app, "root")
    assert run_path in root.text(RUNS) and "对账某一天" not in root.text(RUNS)
    page = root.text(path)
    assert "金额不符" in page and "/resolution" not in page and "/approval" not in page
    assert 'name="note"' not in page
    refused = root.post(f"{path}/resolution", {"resolution": "accepted", "note": "fine"}, expected=403)
    assert "您的角色无权执行此操作" in refused.get_data(as_text=True)
    root.post(RUNS, {"channel": "wechat", "date": DAY}, expected=403)


def test_a_form_without_its_csrf_token_is_refused(
    app: Flask, console: Console, make_staff: Any, session: Session, amount_differs: Payment
) -> None:
    make_staff("finance", "channel_admin", channels=("wechat",))
    console.log_in("finance")
    (found,) = discrepancy_ids(console.text(reconciled(app, console)))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.post(f"{path}/resolution", {"resolution": "accepted", "note": "fine"}, expected=400, csrf=False)
    console.post(RUNS, {"channel": "wechat", "date": DAY}, expected=400, csrf=False)
    session.rollback()
    item = session.scalar(select(Discrepancy).where(Discrepancy.public_id == found))
    assert item is not None and item.state == "open"


def test_the_csv_exports_are_utf8_with_bom_in_yuan_and_beijing_time(
    app: Flask, console: Console, make_staff: Any, amount_differs: Payment
) -> None:
    make_staff("finance", "channel_admin", channels=("wechat",))
    console.log_in("finance")
    run_path = reconciled(app, console)
    runs = console.get("/admin/reconciliation/runs.csv?channel=wechat")
    assert runs.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in runs.headers["Content-Disposition"]
    raw = runs.get_data()
    assert raw.startswith("\ufeff".encode())
    header, row = raw.decode("utf-8-sig").splitlines()
    assert header.startswith("run,date,channel,merchant,status")
    assert f"{run_path.rsplit('/', 1)[1]},{DAY},wechat," in row
    assert ",24.00," in row and ",25.00," in row and ",2026-11-18 10:00:00," in row
    found = console.get(f"{run_path}/discrepancies.csv").get_data()
    assert found.startswith("\ufeff".encode())
    _, line = found.decode("utf-8-sig").splitlines()
    assert ",amount_mismatch,open," in line and ",25.00,24.00,1.00," in line
    assert (
        console.get(f"{run_path}/discrepancies.csv?kind=missing_in_bill")
        .get_data()
        .decode("utf-8-sig")
        .splitlines()[1:]
        == []
    )


def test_the_pages_read_in_english_with_every_step_of_the_review(
    app: Flask, console: Console, make_staff: Any, amount_differs: Payment
) -> None:
    make_staff("maker", "channel_admin", channels=("wechat",))
    make_staff("checker", "channel_admin", channels=("wechat",))
    console.log_in("maker")
    run_path = reconciled(app, console)
    (found,) = discrepancy_ids(console.text(run_path))
    path = f"/admin/reconciliation/discrepancies/{found}"
    console.get(path)
    console.post(f"{path}/resolution", {"resolution": "written_off", "note": "small"})
    checker = second_browser(app, "checker")
    checker.get(path)
    checker.post(f"{path}/approval", {"decision": "send_back", "note": "ask the channel first"})
    checker.post("/admin/language", {"language": "en", "next": path})
    assert "Reconcile a day" in checker.text(RUNS)
    run_page = checker.text(run_path)
    assert "The channel&#39;s bill" in run_page and "Our books" in run_page and "Amount differs" in run_page
    page = checker.text(path)
    assert "The bill&#39;s line" in page and "The payment in our books" in page and "Every step" in page
    assert "Resolved (Write off)" in page and "Sent back" in page and "ask the channel first" in page
    assert "Resolve" in page and '<html lang="en">' in page
