"""Matching a day's bill against our books: each kind of difference found once, with its money; runs balance."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from billing.bill_lines import BEIJING
from billing.bill_lines import PAYMENT
from billing.bill_lines import REFUND
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import UnreadableBill
from billing.fake import FakePaymentGateway
from billing.models import Payment
from billing.models import Refund
from billing.reconciliation import models as kinds
from billing.reconciliation.matching import CHUNK
from billing.reconciliation.matching import Found
from billing.reconciliation.matching import Matching
from billing.reconciliation.matching import payment_fee
from billing.reconciliation.matching import refund_fee
from billing.reconciliation.matching import unfulfilled_payments
from billing.refunds import request_refund
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.billing.world import payment
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Clock

DAY = date(2026, 11, 18)  # the clock's day in Beijing


def paid(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500) -> Payment:
    order = open_order(session, gateway, clock, amount_fen)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return payment(app, order.out_trade_no)


def refunded(app: Flask, gateway: FakePaymentGateway, clock: Clock, paid_order: Payment, amount_fen: int) -> Refund:
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        refund = request_refund(db, gateway, paid_order.id, amount_fen, "test", "saga:test", NOTIFY_URL, clock)
    assert deliver(app, gateway, gateway.settle_refund(paid_order.out_trade_no, refund.out_refund_no), clock).received
    return refund


def line_of(order: Payment, line_no: int, **changes: object) -> BillLine:
    line = BillLine(
        line_no=line_no,
        kind=PAYMENT,
        at=(order.paid_at or order.created_at).astimezone(BEIJING),
        app_id=WECHAT_MINI_PROGRAM,
        merchant_id=MERCHANT,
        out_trade_no=order.out_trade_no,
        channel_trade_no="42000" + order.out_trade_no[-10:],
        out_refund_no=None,
        amount_fen=order.amount_fen,
        fee_fen=payment_fee(order.amount_fen, 60),
    )
    return line._replace(**changes)  # type: ignore[arg-type]


def refund_line_of(order: Payment, refund: Refund, line_no: int, before_fen: int = 0, **changes: object) -> BillLine:
    line = line_of(order, line_no)._replace(
        kind=REFUND,
        out_refund_no=refund.out_refund_no,
        amount_fen=refund.amount_fen,
        fee_fen=refund_fee(order.amount_fen, before_fen, refund.amount_fen, 60),
    )
    return line._replace(**changes)  # type: ignore[arg-type]


def matched(session: Session, clock: Clock, lines: list[BillLine | BadLine], **options: object) -> Matching:
    session.rollback()
    matching = Matching(session, "wechat", MERCHANT, DAY, now=clock(), **options)  # type: ignore[arg-type]
    matching.feed(lines)
    matching.summary = matching.finish(None)  # type: ignore[attr-defined]
    return matching


def kinds_of(matching: Matching) -> list[tuple[str, str, int, int, int]]:
    return sorted((f.kind, f.out_trade_no, f.ledger_fen, f.bill_fen, f.at_stake_fen) for f in matching.found)


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


def test_a_bill_that_agrees_with_our_books_finds_nothing_and_balances(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    first, second = paid(app, session, gateway, clock, 2500), paid(app, session, gateway, clock, 1999)
    refund = refunded(app, gateway, clock, first, 1000)
    matching = matched(session, clock, [line_of(first, 2), line_of(second, 3), refund_line_of(first, refund, 4)])
    summary = matching.summary  # type: ignore[attr-defined]
    assert matching.found == []
    assert summary["bill"] == {
        "payments": 2,
        "paid_fen": 4499,
        "refunds": 1,
        "refunded_fen": 1000,
        "net_fen": 3499,
        "fee_fen": 15 + 12 - 6,
    }
    assert summary["ledger"] == {"payments": 2, "paid_fen": 4499, "refunds": 1, "refunded_fen": 1000, "net_fen": 3499}
    assert summary["expected_fee_fen"] == 21
    assert summary["net_settlement_fen"] == 3499 - 21
    assert summary["balances"] is True
    assert summary["at_stake_fen"] == 0


def test_each_difference_of_the_bill_is_found_once_with_its_money(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    agreed, left_out, other_amount, odd_fee = (paid(app, session, gateway, clock, 2500) for _ in range(4))
    unpaid = open_order(session, gateway, clock, 800)
    refund = refunded(app, gateway, clock, agreed, 500)
    lines: list[BillLine | BadLine] = [
        line_of(agreed, 2),
        line_of(other_amount, 3, amount_fen=2600, fee_fen=payment_fee(2600, 60)),
        line_of(odd_fee, 4, fee_fen=99),
        line_of(unpaid, 5),
        line_of(agreed, 6)._replace(out_trade_no="stranger0001", fee_fen=15),
        BadLine(7, "应结订单金额 is not yuan with two decimals"),
    ]
    matching = matched(session, clock, lines)
    assert kinds_of(matching) == sorted(
        [
            (kinds.AMOUNT_MISMATCH, other_amount.out_trade_no, 2500, 2600, 100),
            (kinds.UNEXPECTED_FEE, odd_fee.out_trade_no, 15, 99, 84),
            (kinds.STATUS_MISMATCH, unpaid.out_trade_no, 0, 800, 800),
            (kinds.MISSING_IN_LEDGER, "stranger0001", 0, 2500, 2500),
            (kinds.MISSING_IN_BILL, left_out.out_trade_no, 2500, 0, 2500),
            (kinds.MISSING_IN_BILL, agreed.out_trade_no, -500, 0, 500),
        ]
    )
    summary = matching.summary  # type: ignore[attr-defined]
    assert summary["balances"] is True
    assert (
        summary["bill"]["net_fen"] - summary["ledger"]["net_fen"]
        == summary["flow_difference_fen"]
        == 100 + 800 + 2500 - 2500 + 500
    )
    assert summary["fee_difference_fen"] == 84
    assert summary["bad_lines"] == 1 and matching.tally.bad_lines == [
        {"line": 7, "reason": "应结订单金额 is not yuan with two decimals"}
    ]
    assert refund.out_refund_no in {f.out_refund_no for f in matching.found}


def test_a_refund_the_bill_has_and_we_do_not_or_not_yet(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock, 3000)
    settled = refunded(app, gateway, clock, order, 1000)
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        waiting = request_refund(db, gateway, order.id, 500, "test", "saga:again", NOTIFY_URL, clock)
    lines: list[BillLine | BadLine] = [
        line_of(order, 2),
        refund_line_of(order, settled, 3, amount_fen=1100),
        refund_line_of(order, waiting, 4, before_fen=1000),
        refund_line_of(order, settled, 5)._replace(out_refund_no="rfstranger"),
    ]
    matching = matched(session, clock, lines)
    found = {(f.kind, f.out_refund_no): (f.ledger_fen, f.bill_fen) for f in matching.found}
    assert found == {
        (kinds.AMOUNT_MISMATCH, settled.out_refund_no): (-1000, -1100),
        (kinds.STATUS_MISMATCH, waiting.out_refund_no): (0, -500),
        (kinds.MISSING_IN_LEDGER, "rfstranger"): (0, -1000),
    }
    assert matching.summary["balances"] is True  # type: ignore[attr-defined]


def test_a_refund_asked_for_that_day_and_never_settled_is_at_stake(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock, 3000)
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        waiting = request_refund(db, gateway, order.id, 700, "test", "saga:test", NOTIFY_URL, clock)
    matching = matched(session, clock, [line_of(order, 2)])
    assert [(f.kind, f.out_refund_no, f.at_stake_fen) for f in matching.found] == [
        (kinds.REFUND_NOT_SETTLED, waiting.out_refund_no, 700)
    ]
    assert matching.summary["balances"] is True  # type: ignore[attr-defined]


def test_a_line_twice_in_the_bill_is_counted_once_for_our_books(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock)
    matching = matched(session, clock, [line_of(order, 2), line_of(order, 3)])
    assert [(f.kind, f.bill_line, f.key) for f in matching.found] == [
        (kinds.MISSING_IN_LEDGER, 3, f"payment:{order.out_trade_no}")
    ]
    assert matching.summary["ledger"]["payments"] == 1  # type: ignore[attr-defined]
    assert matching.summary["balances"] is True  # type: ignore[attr-defined]


def test_another_merchants_payment_and_another_days_are_not_ours_to_miss(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    other_merchant = FakePaymentGateway("wechat", "1900000200", clock)
    theirs = paid(app, session, other_merchant, clock)
    clock.advance(days=1)
    tomorrows = paid(app, session, gateway, clock)
    matching = matched(session, clock, [line_of(theirs, 2)])
    assert [(f.kind, f.out_trade_no) for f in matching.found] == [(kinds.MISSING_IN_LEDGER, theirs.out_trade_no)]
    assert tomorrows.out_trade_no not in {f.out_trade_no for f in matching.found}


def test_a_paid_payment_whose_purpose_was_not_delivered_is_found_by_its_check(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    kept, delivered, given_back = (paid(app, session, gateway, clock, 2500) for _ in range(3))
    refund = refunded(app, gateway, clock, given_back, 2500)
    asked: list[list[tuple[int, str]]] = []

    def hospital_has(db: Session, payments: list[tuple[int, str]]) -> set[int]:
        asked.append(payments)
        return {payment_id for payment_id, ref in payments if ref != delivered.purpose_ref}

    lines: list[BillLine | BadLine] = [
        line_of(kept, 2),
        line_of(delivered, 3),
        line_of(given_back, 4),
        refund_line_of(given_back, refund, 5),
    ]
    session.rollback()
    unfulfilled = unfulfilled_payments(session, "wechat", MERCHANT, DAY, {"outpatient": hospital_has})
    matching = matched(session, clock, lines, unfulfilled=unfulfilled)
    assert [(f.kind, f.out_trade_no, f.at_stake_fen) for f in matching.found] == [
        (kinds.PAID_NOT_FULFILLED, kept.out_trade_no, 2500)
    ]
    assert sorted(asked[0]) == sorted([(kept.id, kept.purpose_ref), (delivered.id, delivered.purpose_ref)])


def test_a_bill_longer_than_a_chunk_is_matched_in_chunks(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock)
    strangers = [
        line_of(order, number + 3)._replace(out_trade_no=f"stranger{number:06d}") for number in range(CHUNK + 5)
    ]
    matching = matched(session, clock, [line_of(order, 2), *strangers])
    assert len(matching.found) == CHUNK + 5
    assert {f.kind for f in matching.found} == {kinds.MISSING_IN_LEDGER}
    assert matching.summary["bill"]["payments"] == CHUNK + 6  # type: ignore[attr-defined]
    assert matching.summary["balances"] is True  # type: ignore[attr-defined]


def test_a_bill_found_unreadable_while_a_chunk_is_looked_up_stops_the_matching(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock)

    def cut_short() -> Iterator[BillLine | BadLine]:
        yield line_of(order, 2)
        for number in range(CHUNK + 5):
            yield line_of(order, number + 3)._replace(out_trade_no=f"stranger{number:06d}")
        raise UnreadableBill("no summary line: the file is cut short")

    session.rollback()
    before = set(threading.enumerate())
    with pytest.raises(UnreadableBill, match="cut short"):
        Matching(session, "wechat", MERCHANT, DAY, now=clock()).feed(cut_short())
    # The lookup in flight was waited for, not left running (other threads of the app may come and go).
    assert [thread for thread in set(threading.enumerate()) - before if thread.is_alive()] == []
    session.rollback()
    assert session.get(Payment, order.id) is not None


@pytest.mark.parametrize(("amount", "fee"), [(2500, 15), (83, 0), (84, 1), (250, 2), (100_000, 600), (1, 0)])
def test_the_fee_is_the_rate_rounded_half_up_in_integers(amount: int, fee: int) -> None:
    assert payment_fee(amount, 60) == fee


def test_refunds_give_back_the_fee_in_shares_that_add_up_to_the_whole() -> None:
    shares = [refund_fee(2500, before, 833, 60) for before in (0, 833, 1666)]
    assert sum(shares) + refund_fee(2500, 2499, 1, 60) == -payment_fee(2500, 60)
    assert all(share <= 0 for share in shares)


def test_found_differences_carry_the_bill_line_for_the_admin(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock)
    matching = matched(session, clock, [line_of(order, 9, amount_fen=2400, fee_fen=14)])
    (found,) = matching.found
    assert isinstance(found, Found) and found.payment_id == order.id and found.bill_line == 9
    assert found.bill_record is not None
    assert (found.bill_record["amount_fen"], found.bill_record["line"], found.bill_record["kind"]) == (
        2400,
        9,
        "payment",
    )
    assert found.key == f"payment:{order.out_trade_no}"
    assert clock() - timedelta(days=1) < order.paid_at  # type: ignore[operator]


def test_a_refund_gives_back_its_own_share_of_the_fee_rounded_half_up() -> None:
    assert refund_fee(2500, 0, 833, 60) == -5  # 15 x 833 / 2500 = 4.998
    assert refund_fee(2500, 0, 1250, 60) == -8  # 7.5, half up
    assert refund_fee(2500, 1250, 1250, 60) == -7  # what the first half did not take
    assert all(type(refund_fee(2500, before, 100, 60)) is int for before in (0, 100, 2400))


def test_unreadable_lines_are_all_counted_and_the_first_hundred_kept(session: Session, clock: Clock) -> None:
    bad: list[BillLine | BadLine] = [BadLine(number, f"reason {number}") for number in range(2, 107)]
    matching = matched(session, clock, bad)
    assert matching.summary["bad_lines"] == 105  # type: ignore[attr-defined]
    assert len(matching.tally.bad_lines) == 100
    assert matching.tally.bad_lines[-1] == {"line": 101, "reason": "reason 101"}


def test_an_unexpected_fee_names_its_line_payment_and_refund(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock, 3000)
    refund = refunded(app, gateway, clock, order, 1000)
    lines: list[BillLine | BadLine] = [line_of(order, 2), refund_line_of(order, refund, 3, fee_fen=-1)]
    (found,) = matched(session, clock, lines).found
    assert (found.kind, found.payment_id, found.out_refund_no, found.bill_line) == (
        kinds.UNEXPECTED_FEE,
        order.id,
        refund.out_refund_no,
        3,
    )
    assert (found.ledger_fen, found.bill_fen, found.at_stake_fen) == (-6, -1, 5)
    assert found.key == f"fee:refund:{refund.out_refund_no}"
    assert found.detail == "the fee is not the agreed 0.60%"
    assert found.bill_record is not None and found.bill_record["fee_fen"] == -1


def test_a_refund_the_bill_lacks_names_its_payment(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock, 3000)
    refund = refunded(app, gateway, clock, order, 1000)
    (found,) = matched(session, clock, [line_of(order, 2)]).found
    assert (found.kind, found.key, found.payment_id, found.out_trade_no) == (
        kinds.MISSING_IN_BILL,
        f"refund:{refund.out_refund_no}",
        order.id,
        order.out_trade_no,
    )
    assert (found.ledger_fen, found.bill_fen, found.at_stake_fen, found.detail) == (
        -1000,
        0,
        1000,
        "the bill lacks our refund",
    )


def test_the_day_is_beijing_midnight_to_midnight_and_the_channel_is_the_runs(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    clock.now = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # 2026-11-18 00:00:00 in Beijing
    first = paid(app, session, gateway, clock, 1000)
    same_number_other_channel = FakePaymentGateway("alipay", MERCHANT, clock)
    theirs = paid(app, session, same_number_other_channel, clock, 2000)
    refunded(app, same_number_other_channel, clock, theirs, 500)
    clock.now = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)  # the next day's first second
    paid(app, session, gateway, clock, 3000)
    asked: list[tuple[int, str]] = []

    def nothing_delivered(db: Session, payments: list[tuple[int, str]]) -> set[int]:
        asked.extend(payments)
        return {payment_id for payment_id, _ in payments}

    session.rollback()
    unfulfilled = unfulfilled_payments(session, "wechat", MERCHANT, DAY, {"outpatient": nothing_delivered})
    assert asked == [(first.id, first.purpose_ref)] and unfulfilled == {first.id}
    matching = matched(session, clock, [])
    assert [(f.kind, f.out_trade_no, f.ledger_fen) for f in matching.found] == [
        (kinds.MISSING_IN_BILL, first.out_trade_no, 1000)
    ]


def test_a_refund_the_channel_refused_takes_no_share_of_the_fee(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock, 2500)
    gateway.refusing_refunds = True
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        request_refund(db, gateway, order.id, 1250, "test", "saga:refused", NOTIFY_URL, clock)
    gateway.refusing_refunds = False
    settled = refunded(app, gateway, clock, order, 1250)
    lines: list[BillLine | BadLine] = [line_of(order, 2), refund_line_of(order, settled, 3)]
    assert refund_line_of(order, settled, 3).fee_fen == -8  # the first half's share, as if nothing came before
    assert matched(session, clock, lines).found == []


def test_a_bill_line_is_kept_whole_for_the_admin(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway
) -> None:
    order = paid(app, session, gateway, clock)
    line = line_of(order, 7, amount_fen=2400, fee_fen=14)
    (found,) = matched(session, clock, [line]).found
    assert found.bill_record == {
        "line": 7,
        "kind": "payment",
        "at": line.at.isoformat(),
        "app_id": WECHAT_MINI_PROGRAM,
        "channel_trade_no": line.channel_trade_no,
        "out_refund_no": None,
        "amount_fen": 2400,
        "fee_fen": 14,
    }
