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
from billing.models import Refund
from billing.reconciliation import review
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import new_discrepancy_id
from database import transaction
from errors import Conflict
from errors import DomainError
from errors import Invalid
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import Clock

DAY = date(2026, 11, 18)


def member(session: Session, clock: Clock, name: str, role: str = "channel_admin") -> StaffMember:
    channels = ("wechat",) if role == "channel_admin" else ()
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


def _no_gateway(payment: Any) -> Any:
    raise AssertionError("no money moves through the channel here")


def _no_url(gateway: Any) -> str:
    raise AssertionError("no money moves through the channel here")
