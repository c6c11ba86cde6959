"""What a run finds and stores, through carry_out on the fake channel's bills: each kind of difference with its money.

These go through the use-case, not the matching's parts, so they hold however the matching is done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.gateway import DayBill
from billing.gateway import PaymentGateway
from billing.models import Payment
from billing.models import Refund
from billing.payments import open_payment
from billing.reconciliation.matching import FulfilmentChecks
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import Reconciler
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import carry_out
from billing.refunds import request_refund
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import add_resident
from tests.billing.world import charge
from tests.billing.world import deliver
from tests.conftest import Clock

DAY = date(2026, 11, 18)  # the test clock's day in Beijing
OTHER_MERCHANT = "1900000999"


class Editable(FakePaymentGateway):
    """The fake channel, whose bills a test may edit line by line (as a channel's own mistakes would)."""

    def __init__(self, channel: str, merchant_id: str, clock: Clock) -> None:
        super().__init__(channel, merchant_id, clock)
        self.edit: Callable[[list[list[str]]], list[list[str]]] = lambda lines: lines

    def bill(self, day: date, folder: Path) -> DayBill:
        made = super().bill(day, folder)
        header, *rows = made.path.read_bytes().decode("utf-8").split("\r\n")
        # The detail lines: every cell after a backtick; the summary's header and line come after them.
        end = next(index for index, row in enumerate(rows) if not row.startswith("`"))
        edited = self.edit([row[1:].split(",`") for row in rows[:end]])
        raw = "\r\n".join([header, *("`" + ",`".join(cells) for cells in edited), *rows[end:]]).encode("utf-8")
        made.path.write_bytes(raw)
        return replace(made, sha1=hashlib.sha1(raw).hexdigest())


# The cells of a WeChat bill's refund line that name the refund and its amount (fake_bill.COLUMNS).
OUT_REFUND_NO, REFUNDED, ASKED_BACK = 15, 16, 25


class World:
    """The fake channel's merchants, our books, and runs of their bills."""

    def __init__(self, app: Flask, session: Session, clock: Clock) -> None:
        self.app, self.session, self.clock = app, session, clock
        self.gateways: dict[tuple[str, str], FakePaymentGateway] = {
            ("wechat", MERCHANT): Editable("wechat", MERCHANT, clock),
            ("wechat", OTHER_MERCHANT): FakePaymentGateway("wechat", OTHER_MERCHANT, clock),
            # The same merchant number on another channel: its payments are no business of the WeChat bill's.
            ("alipay", MERCHANT): FakePaymentGateway("alipay", MERCHANT, clock),
        }
        self.wechat = self.gateways[("wechat", MERCHANT)]
        assert isinstance(self.wechat, Editable)
        self.editable = self.wechat

    def opened(
        self, amount_fen: int = 2500, *, at: tuple[str, str] = ("wechat", MERCHANT), purpose: str = ""
    ) -> Payment:
        order = charge(add_resident(self.session, self.clock), self.clock, amount_fen)
        if purpose:
            order = replace(order, purpose=purpose)
        return open_payment(self.session, self.gateways[at], order, self.clock)

    def paid(self, amount_fen: int = 2500, *, at: tuple[str, str] = ("wechat", MERCHANT), purpose: str = "") -> Payment:
        order = self.opened(amount_fen, at=at, purpose=purpose)
        gateway = self.gateways[at]
        assert deliver(self.app, gateway, gateway.pay(order.out_trade_no), self.clock).received
        self.clock.advance(minutes=1)
        return order

    def refund(self, order: Payment, amount_fen: int, *, settled: bool = True, told: bool = True) -> Refund:
        """A refund asked for; settled by the channel, and the channel's notice received, unless said otherwise."""
        gateway = self.gateways[(order.channel, order.merchant_id)]
        with self.app.extensions["session_factory"](expire_on_commit=False) as db:
            refund = request_refund(db, gateway, order.id, amount_fen, "test", "saga:test", NOTIFY_URL, self.clock)
        if settled:
            notice = gateway.settle_refund(order.out_trade_no, refund.out_refund_no)
            if told:
                assert deliver(self.app, gateway, notice, self.clock).received
        self.clock.advance(minutes=1)
        return refund

    def reconciled(
        self, day: date = DAY, at: tuple[str, str] = ("wechat", MERCHANT), checks: FulfilmentChecks | None = None
    ) -> ReconciliationRun:
        gateways: dict[tuple[str, str], PaymentGateway] = dict(self.gateways)
        reconciler = Reconciler(
            gateway_for=lambda c, m: gateways[(c, m)],
            merchants=lambda: sorted(gateways),
            clock=self.clock,
            checks=checks or {},
        )
        run = ask_for_run(self.session, at[0], at[1], day, "command", self.clock())
        done = carry_out(self.session, reconciler, run.public_id)
        assert done is not None and done.status == "reconciled", done and done.failure
        return done

    def found(self, run: ReconciliationRun) -> dict[str, tuple[Any, ...]]:
        """The run's stored discrepancies by key: what they are, whose, where in the bill, and their money."""
        self.session.rollback()
        rows = self.session.scalars(select(Discrepancy).where(Discrepancy.run_id == run.id)).all()
        assert all(row.channel == run.channel and row.state == "open" for row in rows)
        return {
            row.key: (
                row.kind,
                row.out_trade_no,
                row.out_refund_no,
                row.payment_id,
                row.bill_line,
                row.ledger_fen,
                row.bill_fen,
                row.at_stake_fen,
                row.detail,
            )
            for row in rows
        }


@pytest.fixture
def world(app: Flask, session: Session, clock: Clock) -> World:
    return World(app, session, clock)


def counts(**found: int) -> dict[str, int]:
    """A summary's count per kind: those named, none of the others."""
    kinds = (
        "missing_in_ledger",
        "missing_in_bill",
        "amount_mismatch",
        "status_mismatch",
        "paid_not_fulfilled",
        "refund_not_settled",
        "unexpected_fee",
    )
    return {kind: found.get(kind, 0) for kind in kinds}


def test_each_difference_of_the_bills_payments_is_stored_with_its_payment_line_and_money(world: World) -> None:
    """Changed amounts, a line twice, strangers, odd fees, a payment our books have not seen paid, and lost ones."""
    changed, twice, dropped, lost, odd_fee = (world.paid() for _ in range(5))
    unpaid = world.opened()
    world.wechat.pay(unpaid.out_trade_no)  # the channel took the money; its notice never came
    world.clock.advance(minutes=1)
    wechat = world.wechat
    wechat.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    wechat.plant_bill_difference("extra_payment", twice.out_trade_no)  # the same payment on a second line...
    wechat.plant_bill_difference("amount_differs", twice.out_trade_no, 2400)  # ...both lines with another amount
    stranger = wechat.plant_bill_difference("extra_payment", amount_fen=1200)
    wechat.plant_bill_difference("fee", stranger, 50)  # a payment our books lack, with a fee not the agreed one
    wechat.plant_bill_difference("missing_payment", dropped.out_trade_no)
    wechat.plant_bill_difference("missing_payment", lost.out_trade_no)
    wechat.plant_bill_difference("fee", odd_fee.out_trade_no, 99)
    run = world.reconciled()
    fee_detail = "the fee is not the agreed 0.60%"
    not_ours = "the bill has a payment our books do not"
    not_in_bill = "our books have a payment the bill does not"
    # The bill's lines, after its header: changed, twice, odd_fee, unpaid, then the two added lines.
    assert world.found(run) == {
        f"payment:{changed.out_trade_no}": (
            "amount_mismatch", changed.out_trade_no, None, changed.id, 2, 2500, 2600, 100,
            "the bill's amount is not ours",
        ),
        f"payment:{twice.out_trade_no}": (
            "amount_mismatch", twice.out_trade_no, None, twice.id, 3, 2500, 2400, 100, "the bill's amount is not ours"
        ),
        f"payment:{twice.out_trade_no}#2": (
            "missing_in_ledger", twice.out_trade_no, None, None, 6, 0, 2400, 2400, not_ours
        ),
        f"fee:payment:{odd_fee.out_trade_no}": (
            "unexpected_fee", odd_fee.out_trade_no, None, odd_fee.id, 4, 15, 99, 84, fee_detail
        ),
        f"payment:{unpaid.out_trade_no}": (
            "status_mismatch", unpaid.out_trade_no, None, unpaid.id, 5, 0, 2500, 2500,
            "the bill says paid, our books say created",
        ),
        f"payment:{stranger}": ("missing_in_ledger", stranger, None, None, 7, 0, 1200, 1200, not_ours),
        f"fee:payment:{stranger}": ("unexpected_fee", stranger, None, None, 7, 7, 50, 43, fee_detail),
        f"payment:{dropped.out_trade_no}": (
            "missing_in_bill", dropped.out_trade_no, None, dropped.id, None, 2500, 0, 2500, not_in_bill
        ),
        f"payment:{lost.out_trade_no}": (
            "missing_in_bill", lost.out_trade_no, None, lost.id, None, 2500, 0, 2500, not_in_bill
        ),
    }  # fmt: skip
    summary = run.summary or {}
    assert summary["discrepancies"] == counts(
        missing_in_ledger=2, missing_in_bill=2, amount_mismatch=2, status_mismatch=1, unexpected_fee=2
    )
    bill_paid = 2600 + 2400 + 2500 + 2500 + 2400 + 1200
    bill_fees = 16 + 14 + 99 + 15 + 14 + 50  # 0.60% of each line, rounded, but the planted 99 and 50
    assert summary["bill_says"] == {"count": 6, "paid_fen": bill_paid, "refunded_fen": 0, "fee_fen": bill_fees}
    assert summary["bill"] == {
        "payments": 6, "paid_fen": bill_paid, "refunds": 0, "refunded_fen": 0, "net_fen": bill_paid,
        "fee_fen": bill_fees,
    }  # fmt: skip
    assert summary["ledger"] == {
        "payments": 5, "paid_fen": 5 * 2500, "refunds": 0, "refunded_fen": 0, "net_fen": 5 * 2500
    }  # fmt: skip
    assert summary["balances"] is True


def test_each_difference_of_the_refunds_is_stored_with_its_refund_and_money(world: World) -> None:
    """A refund the bill has and our books have not seen settle, one not settled yet, and one the bill lacks."""
    halves = world.paid(3000)
    first = world.refund(halves, 300, settled=False)  # asked first and still open: no part of the fee is its yet
    world.refund(halves, 1250)
    world.refund(halves, 1250)  # the fee given back is shared out between the two: 8 fen, then 7
    unsettled_here, pending, lost = world.paid(), world.paid(), world.paid()
    told_late = world.refund(unsettled_here, 1000, told=False)  # settled by the channel, its notice not come yet
    waiting = world.refund(pending, 700, settled=False)
    missing = world.refund(lost, 500)
    world.wechat.plant_bill_difference("missing_refund", lost.out_trade_no)
    run = world.reconciled()
    # The bill's lines, after its header: halves and its two refunds, the three payments, then told_late.
    assert world.found(run) == {
        f"refund:{told_late.out_refund_no}": (
            "status_mismatch", unsettled_here.out_trade_no, told_late.out_refund_no, unsettled_here.id, 8, 0, -1000,
            1000, "the bill says refunded, our books say processing",
        ),
        f"refund:{waiting.out_refund_no}": (
            "refund_not_settled", pending.out_trade_no, waiting.out_refund_no, pending.id, None, 0, 0, 700,
            "the refund was asked for that day and is not settled yet",
        ),
        f"refund:{missing.out_refund_no}": (
            "missing_in_bill", lost.out_trade_no, missing.out_refund_no, lost.id, None, -500, 0, 500,
            "the bill lacks our refund",
        ),
        f"refund:{first.out_refund_no}": (
            "refund_not_settled", halves.out_trade_no, first.out_refund_no, halves.id, None, 0, 0, 300,
            "the refund was asked for that day and is not settled yet",
        ),
    }  # fmt: skip
    summary = run.summary or {}
    assert summary["discrepancies"] == counts(status_mismatch=1, refund_not_settled=2, missing_in_bill=1)
    assert (summary["bill"]["refunds"], summary["bill"]["refunded_fen"]) == (3, 1250 + 1250 + 1000)
    assert (summary["ledger"]["refunds"], summary["ledger"]["refunded_fen"]) == (3, 1250 + 1250 + 500)
    assert summary["expected_fee_fen"] == summary["bill"]["fee_fen"]  # every refund gave back its share of the fee
    assert summary["balances"] is True


def test_a_refund_line_is_ours_only_by_its_own_number_with_the_runs_merchant_and_is_matched_on_its_amount(
    world: World,
) -> None:
    """Lines naming another merchant's or channel's refund are not ours; a refund line's amount is checked."""
    ours, changed = world.paid(), world.paid()
    other_merchant, other_channel = world.paid(at=("wechat", OTHER_MERCHANT)), world.paid(at=("alipay", MERCHANT))
    theirs = [world.refund(other_merchant, 200), world.refund(other_channel, 100)]
    refund = world.refund(ours, 1000)
    differs = world.refund(changed, 600)

    def edit(lines: list[list[str]]) -> list[list[str]]:
        edited = []
        for cells in lines:
            if cells[OUT_REFUND_NO] == refund.out_refund_no:  # two strangers' refunds, just before ours
                edited.extend(
                    [*cells[:OUT_REFUND_NO], other.out_refund_no, *cells[OUT_REFUND_NO + 1 :]] for other in theirs
                )
            if cells[OUT_REFUND_NO] == differs.out_refund_no:
                cells = [*cells[:REFUNDED], "7.00", *cells[REFUNDED + 1 : ASKED_BACK], "7.00", *cells[ASKED_BACK + 1 :]]
            edited.append(cells)
        return edited

    world.editable.edit = edit
    run = world.reconciled()
    not_ours = "the bill has a refund our books do not"
    # The bill's lines, after its header: the two payments, the two strangers, our refund, the changed one.
    assert world.found(run) == {
        f"refund:{theirs[0].out_refund_no}": (
            "missing_in_ledger", ours.out_trade_no, theirs[0].out_refund_no, None, 4, 0, -1000, 1000, not_ours
        ),
        f"refund:{theirs[1].out_refund_no}": (
            "missing_in_ledger", ours.out_trade_no, theirs[1].out_refund_no, None, 5, 0, -1000, 1000, not_ours
        ),
        f"refund:{differs.out_refund_no}": (
            "amount_mismatch", changed.out_trade_no, differs.out_refund_no, changed.id, 7, -600, -700, 100,
            "the bill's refund is not ours",
        ),
    }  # fmt: skip
    summary = run.summary or {}
    assert (summary["ledger"]["refunds"], summary["ledger"]["refunded_fen"]) == (2, 1000 + 600)
    assert (summary["bill"]["refunds"], summary["bill"]["refunded_fen"]) == (4, 1000 + 1000 + 1000 + 700)


def test_the_day_is_beijing_midnight_to_midnight_for_refunds_and_payments_our_books_hold(
    world: World, clock: Clock
) -> None:
    """What our books hold of the day is what was paid or settled from its first instant, and not its last."""
    clock.now = datetime(2026, 11, 17, 15, 55, tzinfo=UTC)  # 23:55 the day before, in Beijing
    before = world.paid()  # paid the day before: that day's bill
    world.refund(before, 100)  # settled the day before: that day's too
    world.refund(before, 200, settled=False)  # asked the day before, still open: that day's difference
    asked_before = world.paid()
    late = world.refund(asked_before, 400, settled=False)  # asked at 23:59 the day before...
    clock.now = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # ...settled at 00:00 on the day, its first instant
    gateway = world.wechat
    assert deliver(
        world.app, gateway, gateway.settle_refund(asked_before.out_trade_no, late.out_refund_no), clock
    ).received
    world.clock.advance(minutes=1)
    gateway.plant_bill_difference("missing_refund", asked_before.out_trade_no, day=DAY)
    world.paid()  # on the day
    clock.now = datetime(2026, 11, 18, 15, 59, tzinfo=UTC)
    at_the_end = world.paid()  # paid at 23:59
    last = world.refund(at_the_end, 300, settled=False)
    clock.now = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)  # settled at 00:00 the next day: the next day's
    assert deliver(
        world.app, gateway, gateway.settle_refund(at_the_end.out_trade_no, last.out_refund_no), clock
    ).received
    run = world.reconciled()
    assert set(world.found(run)) == {f"refund:{late.out_refund_no}"}
    summary = run.summary or {}
    assert summary["ledger"]["payments"] == 2 and summary["ledger"]["paid_fen"] == 2 * 2500  # on the day, at the end
    assert before.out_trade_no not in {row[1] for row in world.found(run).values()}


def test_only_the_runs_own_merchant_and_channel_are_matched(world: World) -> None:
    """A bill naming another merchant's payment, or the same number's on another channel, names none of ours."""
    ours = world.paid()
    other_merchant = world.paid(at=("wechat", OTHER_MERCHANT))
    world.refund(other_merchant, 200)
    other_channel = world.paid(at=("alipay", MERCHANT))
    world.refund(other_channel, 100)
    for stranger in (other_merchant, other_channel):
        world.wechat.plant_bill_difference("extra_payment", stranger.out_trade_no, stranger.amount_fen)
    run = world.reconciled()
    assert set(world.found(run)) == {
        f"payment:{other_merchant.out_trade_no}",
        f"payment:{other_channel.out_trade_no}",
    }
    assert {row[0] for row in world.found(run).values()} == {"missing_in_ledger"}
    assert (run.summary or {})["ledger"] == {
        "payments": 1, "paid_fen": ours.amount_fen, "refunds": 0, "refunded_fen": 0, "net_fen": ours.amount_fen
    }  # fmt: skip


def test_each_purposes_check_is_asked_about_the_days_paid_payments_of_the_run_and_all_it_finds_is_kept(
    world: World, clock: Clock
) -> None:
    """Every purpose's check hears of its own paid payments of the merchant's day; what each finds is stored."""
    clock.now = datetime(2026, 11, 17, 15, 58, tzinfo=UTC)
    world.paid()  # the day before
    clock.now = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)
    booked, not_booked = world.paid(), world.paid(2000)
    gift = world.paid(800, purpose="donation")
    partly = world.paid()
    world.refund(partly, 500)  # partly refunded: someone settled it already, no check asks again
    world.paid(at=("wechat", OTHER_MERCHANT))
    world.paid(at=("alipay", MERCHANT))
    asked: dict[str, list[int]] = {}

    def check(purpose: str, undelivered: set[int]) -> Callable[[Session, list[tuple[int, str]]], set[int]]:
        def not_fulfilled(session: Session, paid: list[tuple[int, str]]) -> set[int]:
            asked.setdefault(purpose, []).extend(payment_id for payment_id, _ in paid)
            # A check reads what it needs through the session it is given (the hospitals' ids are ours).
            refs = session.execute(select(Payment.id, Payment.purpose_ref).where(Payment.id.in_(undelivered))).all()
            assert {(row.id, row.purpose_ref) for row in refs} <= set(paid)
            return {row.id for row in refs}

        return not_fulfilled

    checks = {"outpatient": check("outpatient", {not_booked.id}), "donation": check("donation", {gift.id})}
    run = world.reconciled(checks=checks)
    assert {purpose: sorted(ids) for purpose, ids in asked.items()} == {
        "outpatient": sorted([booked.id, not_booked.id]),
        "donation": [gift.id],
    }
    detail = "paid, and the service was not delivered"
    assert world.found(run) == {
        f"fulfilment:{not_booked.out_trade_no}": (
            "paid_not_fulfilled", not_booked.out_trade_no, None, not_booked.id, None, 2000, 2000, 2000, detail
        ),
        f"fulfilment:{gift.out_trade_no}": (
            "paid_not_fulfilled", gift.out_trade_no, None, gift.id, None, 800, 800, 800, detail
        ),
    }  # fmt: skip
    assert (run.summary or {})["discrepancies"] == counts(paid_not_fulfilled=2)


def test_a_merchants_own_fee_rate_is_what_its_fees_are_checked_against(world: World) -> None:
    """A merchant charged 1% where the bill took 0.60%: each payment's fee is a difference, at the agreed rate."""
    order = world.paid()
    gateways: dict[tuple[str, str], PaymentGateway] = dict(world.gateways)
    reconciler = Reconciler(
        gateway_for=lambda c, m: gateways[(c, m)],
        merchants=lambda: sorted(gateways),
        clock=world.clock,
        fee_per_ten_thousand=100,
    )
    run = ask_for_run(world.session, "wechat", MERCHANT, DAY, "command", world.clock())
    done = carry_out(world.session, reconciler, run.public_id)
    assert done is not None and done.status == "reconciled"
    assert world.found(done) == {
        f"fee:payment:{order.out_trade_no}": (
            "unexpected_fee",
            order.out_trade_no,
            None,
            order.id,
            2,
            25,
            15,
            10,
            "the fee is not the agreed 1.00%",
        )
    }
