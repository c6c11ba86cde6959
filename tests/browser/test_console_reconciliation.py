"""Reconciliation in a real browser: a planted difference found, resolved with a refund, approved by a second admin."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import select

from billing.models import Refund
from billing.reconciliation.models import Discrepancy
from tests.app.paying_world import donation_paid
from tests.browser.conftest import PHONE
from tests.browser.conftest import Server
from tests.browser.conftest import keep_screenshot
from tests.browser.test_console_pages import log_in
from tests.conftest import Clock


def wait_until_reconciled(page: Any) -> None:
    """The run is carried out in the background: reload its page until it says so, as a person would."""
    deadline = time.monotonic() + 15
    while "已对账" not in page.locator("dl.facts").first.inner_text():
        assert time.monotonic() < deadline, page.get_by_role("main").inner_text()
        time.sleep(0.25)
        page.reload()


def test_a_channel_admin_resolves_a_planted_difference_with_a_refund_and_a_second_admin_approves(
    page: Any, browser: Any, server: Server
) -> None:
    with server.app.extensions["session_factory"](expire_on_commit=False) as session:
        payment = donation_paid(server.app, session, server.wechat_pay, Clock(datetime.now(UTC)))
    server.wechat_pay.plant_bill_difference("amount_differs", payment.out_trade_no, 2400)

    log_in(page, "wx-maker")
    page.get_by_role("navigation").get_by_role("link", name="对账").click()
    page.get_by_role("button", name="开始对账").click()
    page.wait_for_url("**/admin/reconciliation/rc*")
    wait_until_reconciled(page)
    keep_screenshot(page, "reconciliation-run")
    run_url = page.url
    page.get_by_role("link", name=payment.out_trade_no).click()
    page.wait_for_url("**/admin/reconciliation/discrepancies/dc*")
    discrepancy_url = page.url
    assert page.get_by_role("link", name=payment.out_trade_no).get_attribute("href") == (
        f"/admin/payments/{payment.public_id}"
    )
    page.get_by_label("处理方式").select_option("refunded")
    page.get_by_label("退款金额（元）", exact=True).fill("1.00")
    page.get_by_label("备注（必填）").fill("The payer was charged 1 yuan more than the bill says")
    page.get_by_role("button", name="提交处理").click()
    page.wait_for_url(discrepancy_url)
    assert "等待另一位渠道管理员审批" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name="批准").count() == 0
    page.goto("/admin/reconciliation/")
    keep_screenshot(page, "reconciliation-runs")

    checker = browser.new_context(viewport=PHONE, base_url=server.base, locale="zh-CN").new_page()
    try:
        log_in(checker, "wx-checker")
        checker.goto(discrepancy_url)
        checker.get_by_label("备注（必填）").fill("Checked against the bill")
        keep_screenshot(checker, "reconciliation-discrepancy")
        checker.get_by_role("button", name="批准").click()
        checker.wait_for_url(discrepancy_url)
        assert checker.get_by_role("status").inner_text() == "已审批，资金操作已执行。"
        assert "已处理" in checker.locator("dl.facts").first.inner_text()
    finally:
        checker.context.close()

    with server.app.extensions["session_factory"]() as session:
        (refund,) = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
        found = session.scalars(select(Discrepancy).where(Discrepancy.payment_id == payment.id)).one()
    assert refund.amount_fen == 100
    assert (found.state, found.resolution, found.refund_id) == ("resolved", "refunded", refund.id)
    page.goto(run_url)
    assert "已处理" in page.get_by_role("main").inner_text()
