"""Reviewing discrepancies as use-cases: the rules hold for every caller, not only for what the API's schemas let by."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.models import LedgerEntry
from billing.models import LedgerLine
from billing.models import Refund
from billing.reconciliation import review
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import new_discrepancy_id
from database import transaction
from errors import Conflict
from errors import DomainError
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Recording
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import Clock

DAY = date(2026, 11, 18)


def member(
    session: Session, clock: Clock, name: str, role: str = "channel_admin", channels: tuple[str, ...] = ("wechat",)
) -> StaffMember:
    channels = channels if role == "channel_admin" else ()
    with transaction(session):
        created = create_staff_member(
            session, NewStaffMember(name, name, "a long enough password", role, (), channels), now=clock()
        )
    return created


def planted(session: Session, clock: Clock, kind: str, *, payment_id: int | None = None, **facts: Any) -> str:
    """A discrepancy of a run of the day, as matching would store it; its public id."""
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    public_id = new_discrepancy_id()
    with transaction(session):
        session.add(
            Discrepancy(
                public_id=public_id,
                run_id=run.id,
                key=f"test:{public_id}",
                kind=kind,
                channel="wechat",
                out_trade_no="ct-test",
                payment_id=payment_id,
                ledger_fen=facts.get("ledger_fen", 0),
                bill_fen=facts.get("bill_fen", 0),
                at_stake_fen=facts.get("at_stake_fen", 0),
                detail="planted",
                state="open",
                created_at=clock(),
                updated_at=clock(),
            )
        )
    return public_id


def refusal(action: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as refused:
        action()
    return refused.value


def test_a_resolution_needs_a_known_kind_a_note_and_for_a_refund_a_positive_amount(
    session: Session, clock: Clock
) -> None:
    maker = member(session, clock, "maker")
    found = planted(session, clock, "amount_mismatch", payment_id=None)

    def resolve(resolution: str, note: str, refund_fen: int | None = None) -> DomainError:
        return refusal(lambda: review.resolve(session, maker, found, resolution, note, refund_fen, clock()))

    unknown = resolve("forgiven", "fine")
    assert (unknown.code, unknown.details) == ("reconciliation.resolution_unknown", {"resolution": "unknown"})
    assert isinstance(unknown, Invalid) and "accepted, refunded, written_off, fixed_upstream" in unknown.message
    blank = resolve("accepted", "   ")
    assert blank.code == "reconciliation.note_required" and blank.message and set(blank.details) == {"note"}
    nothing = resolve("refunded", "give it back", 100)
    assert isinstance(nothing, Conflict) and nothing.code == "reconciliation.nothing_to_refund"
    session.rollback()
    assert session.scalar(select(Discrepancy.state).where(Discrepancy.public_id == found)) == "open"


@pytest.mark.parametrize("refund_fen", [None, 0, -1])
def test_a_refund_resolution_names_a_positive_amount(
    app: Flask, session: Session, clock: Clock, refund_fen: int | None
) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    maker = member(session, clock, "maker")
    found = planted(session, clock, "amount_mismatch", payment_id=order.id)
    refused = refusal(lambda: review.resolve(session, maker, found, "refunded", "back", refund_fen, clock()))
    assert (refused.code, refused.details) == ("billing.refund_amount_invalid", {"refund_fen": "positive"})
    assert refused.message == "A refund is a positive amount in fen."
    one_fen = review.resolve(session, maker, found, "refunded", "back", 1, clock())
    assert (one_fen.state, one_fen.refund_fen) == ("awaiting_approval", 1)


def test_an_accepted_resolution_keeps_no_refund_amount_and_is_audited(session: Session, clock: Clock) -> None:
    maker = member(session, clock, "maker")
    found = planted(session, clock, "unexpected_fee", ledger_fen=15, bill_fen=99, at_stake_fen=84)
    resolved = review.resolve(session, maker, found, "accepted", "the channel's promotion", 500, clock())
    assert (resolved.state, resolved.resolution, resolved.refund_fen, resolved.resolved_by) == (
        "resolved",
        "accepted",
        None,
        maker.id,
    )
    session.rollback()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "discrepancy.resolve")).one()
    assert (entry.target, entry.channel, entry.reason) == (f"discrepancy:{found}", "wechat", "the channel's promotion")
    assert entry.after == {
        "kind": "unexpected_fee",
        "state": "resolved",
        "resolution": "accepted",
        "refund_fen": None,
        "at_stake_fen": 84,
    }


def test_writing_off_what_is_no_flow_of_money_posts_nothing(session: Session, clock: Clock) -> None:
    maker, checker = member(session, clock, "maker"), member(session, clock, "checker")
    fee = planted(session, clock, "unexpected_fee", ledger_fen=15, bill_fen=99, at_stake_fen=84)
    review.resolve(session, maker, fee, "written_off", "not worth chasing", None, clock())
    approved = review.approve(session, checker, fee, True, "agreed", _no_gateway, _no_url, clock)
    assert (approved.state, approved.approved_by) == ("resolved", checker.id)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    flow = planted(session, clock, "missing_in_ledger", bill_fen=700, at_stake_fen=700)
    review.resolve(session, maker, flow, "written_off", "unknown payer", None, clock())
    review.approve(session, checker, flow, True, "agreed", _no_gateway, _no_url, clock)
    session.rollback()
    assert session.scalars(select(LedgerEntry.key)).all() == [f"writeoff:{flow}"]


def test_an_approved_refund_is_the_discrepancys_refund(app: Flask, session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    maker, checker = member(session, clock, "maker"), member(session, clock, "checker")
    found = planted(session, clock, "paid_not_fulfilled", payment_id=order.id, ledger_fen=2500, bill_fen=2500)
    review.resolve(session, maker, found, "refunded", "no appointment was booked", 2500, clock())
    review.approve(session, checker, found, True, "checked", lambda payment: gateway, lambda g: NOTIFY_URL, clock)
    session.rollback()
    refund = session.scalars(select(Refund)).one()
    row = session.scalars(select(Discrepancy).where(Discrepancy.public_id == found)).one()
    assert (row.refund_id, row.approved_by, row.state) == (refund.id, checker.id, "resolved")
    assert refund.reason == "reconciliation 2026-11-18: no appointment was booked"
    sent_back = refusal(lambda: review.approve(session, checker, found, False, "no", _no_gateway, _no_url, clock))
    assert sent_back.code == "reconciliation.not_awaiting_approval" and sent_back.message


def test_runs_and_discrepancies_are_filtered_as_asked(session: Session, clock: Clock) -> None:
    finance = member(session, clock, "finance")
    fee = planted(session, clock, "unexpected_fee")
    flow = planted(session, clock, "missing_in_bill")
    review.resolve(session, finance, fee, "accepted", "fine", None, clock())
    run = session.scalars(select(ReconciliationRun)).one()

    def listed(**wanted: Any) -> list[str]:
        return [
            d.public_id
            for d in review.discrepancies_of(session, finance, run.public_id, review.DiscrepancyFilter(**wanted))
        ]

    assert listed(state="open") == [flow] and listed(state="resolved") == [fee]
    assert listed(kind="missing_in_bill") == [flow] and sorted(listed()) == sorted([fee, flow])
    assert len(listed(limit=1)) == 1
    wanted = review.RunFilter(status="reconciled")
    assert review.find_runs(session, finance, wanted) == []
    assert [r.public_id for r in review.find_runs(session, finance, review.RunFilter(limit=1))] == [run.public_id]


def test_asking_for_a_run_needs_its_channel_in_scope_and_is_audited_with_the_runs_status_and_count(
    session: Session, clock: Clock
) -> None:
    """Whoever calls the use-case, an admin of another channel cannot ask; each asking is in the audit log."""
    outsider = member(session, clock, "alifinance", channels=("alipay",))
    refused = refusal(lambda: review.ask_as_staff(session, outsider, "wechat", MERCHANT, DAY, clock()))
    assert isinstance(refused, Forbidden) and refused.code == "auth.channel_out_of_scope"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ReconciliationRun)) == 0
    finance = member(session, clock, "finance")
    run = review.ask_as_staff(session, finance, "wechat", MERCHANT, DAY, clock())
    review.ask_as_staff(session, finance, "wechat", MERCHANT, DAY, clock())
    session.rollback()
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "reconciliation.run")).all()
    assert [(e.target, e.channel, e.actor_username, e.after) for e in entries] == [
        (f"reconciliation_run:{run.public_id}", "wechat", "finance", {"status": "queued", "asked": 1}),
        (f"reconciliation_run:{run.public_id}", "wechat", "finance", {"status": "queued", "asked": 2}),
    ]
    assert entries[0].reason == f"reconcile wechat {MERCHANT} 2026-11-18"


def test_a_run_or_discrepancy_unknown_malformed_or_of_another_channel_is_not_found(
    session: Session, clock: Clock
) -> None:
    """Not found, with its code, whether it does not exist or belongs to a channel the admin does not answer for."""
    found = planted(session, clock, "unexpected_fee")
    run = session.scalars(select(ReconciliationRun)).one()
    outsider = member(session, clock, "alifinance", channels=("alipay",))
    finance, root = member(session, clock, "finance"), member(session, clock, "root", "platform_admin")
    for public_id in (run.public_id, "rc" + "0" * 20, "rc%20x"):
        missing = refusal(lambda: review.run_of(session, outsider, public_id))  # noqa: B023 - called at once
        assert isinstance(missing, NotFound) and missing.code == "reconciliation.run_not_found"
    for public_id in (found, "dc" + "0" * 20, "dc" + "0" * 21):
        missing = refusal(lambda: review.discrepancy_of(session, outsider, public_id))  # noqa: B023 - called at once
        assert isinstance(missing, NotFound) and missing.code == "reconciliation.discrepancy_not_found"
    for staff in (finance, root):
        assert review.run_of(session, staff, run.public_id).id == run.id
        assert review.discrepancy_of(session, staff, found)[1].id == run.id


def test_runs_are_found_by_channel_status_and_days_latest_day_first_then_latest_asked(
    session: Session, clock: Clock
) -> None:
    """Each filter narrows the list, the limit cuts it, and a channel admin sees only their channels' runs."""
    older = ask_for_run(session, "wechat", MERCHANT, date(2026, 11, 16), "command", clock())
    today = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    alipay = ask_for_run(session, "alipay", "2021004100000001", date(2026, 11, 17), "command", clock())
    later = ask_for_run(session, "wechat", "1900000999", DAY, "command", clock())
    with transaction(session):
        session.get(ReconciliationRun, today.id).status = "reconciled"  # type: ignore[union-attr]
    root, finance = member(session, clock, "root", "platform_admin"), member(session, clock, "finance")

    def found(staff: StaffMember = root, **wanted: Any) -> list[str]:
        return [run.public_id for run in review.find_runs(session, staff, review.RunFilter(**wanted))]

    assert found() == [later.public_id, today.public_id, alipay.public_id, older.public_id]
    assert found(finance) == [later.public_id, today.public_id, older.public_id]
    assert found(channel="alipay") == [alipay.public_id]
    assert found(status="reconciled") == [today.public_id]
    assert found(status="queued") == [later.public_id, alipay.public_id, older.public_id]
    assert found(day_from=date(2026, 11, 17)) == [later.public_id, today.public_id, alipay.public_id]
    assert found(day_to=date(2026, 11, 17)) == [alipay.public_id, older.public_id]
    assert found(limit=2) == [later.public_id, today.public_id]


def test_a_written_off_amount_moves_what_the_bill_says_less_our_books_on_the_merchants_account(
    app: Flask, session: Session, clock: Clock
) -> None:
    """The write-off posts bill_fen - ledger_fen between the merchant's clearing and the write-offs, on the payment."""
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    maker, checker = member(session, clock, "maker"), member(session, clock, "checker")
    found = planted(session, clock, "amount_mismatch", payment_id=order.id, ledger_fen=2500, bill_fen=2400)
    review.resolve(session, maker, found, "written_off", "the channel took less", None, clock())
    review.approve(session, checker, found, True, "agreed", _no_gateway, _no_url, clock)
    session.rollback()
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.key == f"writeoff:{found}")).one()
    lines = session.execute(select(LedgerLine.account, LedgerLine.amount_fen).where(LedgerLine.entry_id == entry.id))
    assert (entry.kind, entry.payment_id) == ("write_off", order.id)
    assert sorted(lines) == [(f"clearing:wechat:{MERCHANT}", -100), ("writeoffs:wechat", 100)]


def test_a_sent_back_resolution_is_audited_and_a_second_resolution_is_told_the_state_it_is_in(
    session: Session, clock: Clock
) -> None:
    """Sending back opens it again, in the audit log; resolving what awaits approval says what it awaits."""
    maker, checker = member(session, clock, "maker"), member(session, clock, "checker")
    found = planted(session, clock, "missing_in_ledger", bill_fen=700, at_stake_fen=700)
    review.resolve(session, maker, found, "written_off", "unknown payer", None, clock())
    again = refusal(lambda: review.resolve(session, checker, found, "accepted", "fine", None, clock()))
    assert isinstance(again, Conflict) and (again.code, again.details) == (
        "reconciliation.already_resolved",
        {"state": "awaiting_approval"},
    )
    back = review.approve(session, checker, found, False, "ask the channel first", _no_gateway, _no_url, clock)
    assert (back.state, back.resolution, back.resolved_by) == ("open", None, None)
    session.rollback()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "discrepancy.send_back")).one()
    assert (entry.target, entry.actor_username, entry.reason) == (
        f"discrepancy:{found}",
        "checker",
        "ask the channel first",
    )
    assert entry.after == {
        "kind": "missing_in_ledger",
        "state": "open",
        "resolution": None,
        "refund_fen": None,
        "at_stake_fen": 700,
    }


def test_an_approved_refund_asks_the_channel_with_our_notify_url_and_a_reason_cut_to_fit(
    app: Flask, session: Session, clock: Clock
) -> None:
    """The refund's reason is the run's day and the maker's note, cut to the 256 characters a refund keeps."""
    gateway = Recording(clock)
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    maker, checker = member(session, clock, "maker"), member(session, clock, "checker")
    found = planted(session, clock, "paid_not_fulfilled", payment_id=order.id, ledger_fen=2500, bill_fen=2500)
    note = "no appointment was booked; " * 12  # 324 characters, under the 500 a note may have
    review.resolve(session, maker, found, "refunded", note, 2500, clock())
    review.approve(session, checker, found, True, "checked", lambda payment: gateway, lambda g: NOTIFY_URL, clock)
    (asked,) = gateway.refunds
    expected = ("reconciliation 2026-11-18: " + note.strip())[:256]
    assert (asked.notify_url, asked.amount_fen, asked.reason) == (NOTIFY_URL, 2500, expected)
    session.rollback()
    assert session.scalars(select(Refund.reason)).one() == expected and len(expected) == 256


def _no_gateway(payment: Any) -> Any:
    raise AssertionError("no money moves through the channel here")


def _no_url(gateway: Any) -> str:
    raise AssertionError("no money moves through the channel here")
