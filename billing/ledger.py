"""The double-entry ledger: every movement of money is one balanced entry, posted once, never changed.

Accounts are named by what they hold: `clearing:<channel>:<merchant>` is what a channel holds for
us (debited when a payer pays, credited when we give money back or it takes a fee);
`revenue:<city>:<service>` is what a city's service earned; `fees:<channel>` what channels charged
(posted from their daily bills); `writeoffs:<channel>` what reconciliation accepted as lost or found.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from datetime import datetime
from typing import Any
from typing import cast

from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import LedgerEntry
from billing.models import LedgerLine
from billing.models import Payment
from billing.models import Refund
from database.transaction import built_once

# How the names begin: a payment's entry key, and the account of what a city's service earned.
PAYMENT_ENTRY_PREFIX, REVENUE_PREFIX = "paid:", "revenue:"


class Unbalanced(ValueError):
    """An entry whose lines do not sum to zero: a bug, never posted."""


def clearing(payment: Payment) -> str:
    """The account of what the payment's channel merchant holds for us."""
    return clearing_account(payment.channel, payment.merchant_id)


def revenue(payment: Payment) -> str:
    """The account of what the payment's city service earned."""
    return f"{REVENUE_PREFIX}{payment.city_code}:{payment.service_code}"


def post(
    session: Session,
    key: str,
    kind: str,
    lines: Sequence[tuple[str, int]],
    now: datetime,
    *,
    payment_id: int | None = None,
    refund_id: int | None = None,
) -> bool:
    """Post one balanced entry under its key; False when that key was posted before (nothing happens)."""
    checked_lines(lines, key)
    entry_id = session.execute(
        _new_entry(session),
        {"key": key, "kind": kind, "payment_id": payment_id, "refund_id": refund_id, "posted_at": now},
    ).scalar()
    if entry_id is None:
        return False
    # One statement for all lines (an executemany), not the unit of work's flush.
    session.execute(
        insert(cast(Table, LedgerLine.__table__)),
        [{"entry_id": entry_id, "account": account, "amount_fen": amount} for account, amount in lines],
    )
    return True


@built_once
def _new_entry(insert_or_skip: Any) -> Any:
    entries = LedgerEntry.__table__
    return insert_or_skip(entries).on_conflict_do_nothing(index_elements=[entries.c.key]).returning(entries.c.id)


def checked_lines(lines: Sequence[tuple[str, int]], key: str = "") -> Sequence[tuple[str, int]]:
    """The lines of one entry, once they balance with no empty line; Unbalanced otherwise."""
    if not lines or sum(amount for _, amount in lines) != 0 or any(amount == 0 for _, amount in lines):
        raise Unbalanced(f"entry {key} does not balance: {list(lines)}")
    return lines


def post_payment(session: Session, payment: Payment, now: datetime) -> bool:
    """The payer paid: the channel holds the money the city's service earned."""
    return post(session, payment_entry_key(payment), "payment", payment_lines(payment), now, payment_id=payment.id)


def payment_entry_key(payment: Payment) -> str:
    """The key a payment's entry is posted under: one per payment, ever."""
    return PAYMENT_ENTRY_PREFIX + payment.out_trade_no


def payment_lines(payment: Payment) -> list[tuple[str, int]]:
    """The payer paid: the channel holds (debit) what the city's service earned (credit)."""
    return [(clearing(payment), payment.amount_fen), (revenue(payment), -payment.amount_fen)]


def post_refund(session: Session, payment: Payment, refund: Refund, now: datetime) -> bool:
    """Money went back to the payer: the service's earning and the channel's holding shrink alike."""
    return post(
        session,
        f"refund:{refund.out_refund_no}",
        "refund",
        [(revenue(payment), refund.amount_fen), (clearing(payment), -refund.amount_fen)],
        now,
        payment_id=payment.id,
        refund_id=refund.id,
    )


def balance(session: Session, account: str) -> int:
    """An account's balance in fen (debits positive)."""
    total = session.scalar(select(func.sum(LedgerLine.amount_fen)).where(LedgerLine.account == account))
    return int(total or 0)


def unbalanced_entries(session: Session) -> list[str]:
    """Keys of entries whose lines do not sum to zero (there must be none)."""
    rows = session.execute(
        select(LedgerEntry.key)
        .join(LedgerLine, LedgerLine.entry_id == LedgerEntry.id)
        .group_by(LedgerEntry.id, LedgerEntry.key)
        .having(func.sum(LedgerLine.amount_fen) != 0)
    )
    return [key for (key,) in rows]


def entries_of(session: Session, payment_id: int) -> list[tuple[LedgerEntry, list[LedgerLine]]]:
    """A payment's entries with their lines, oldest first."""
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.payment_id == payment_id).order_by(LedgerEntry.id)
    ).all()
    lines = session.scalars(
        select(LedgerLine).where(LedgerLine.entry_id.in_([entry.id for entry in entries])).order_by(LedgerLine.id)
    ).all()
    return [(entry, [line for line in lines if line.entry_id == entry.id]) for entry in entries]


def clearing_account(channel: str, merchant_id: str) -> str:
    """The account of what a channel merchant holds for us."""
    return f"clearing:{channel}:{merchant_id}"


def post_channel_fee(
    session: Session, channel: str, merchant_id: str, day: date, fee_fen: int, bill_sha1: str, now: datetime
) -> bool:
    """The channel's fees of a day from its bill; what an earlier bill of that day posted is not posted twice."""
    prefix = f"fee:{channel}:{merchant_id}:{day.isoformat()}:"
    posted = session.scalar(
        select(func.coalesce(func.sum(LedgerLine.amount_fen), 0))
        .join(LedgerEntry, LedgerEntry.id == LedgerLine.entry_id)
        .where(LedgerEntry.key.startswith(prefix, autoescape=True), LedgerLine.account == fees(channel))
    )
    change = fee_fen - int(posted or 0)
    if change == 0:
        return False
    lines = [(fees(channel), change), (clearing_account(channel, merchant_id), -change)]
    return post(session, prefix + bill_sha1[:16], "channel_fee", lines, now)


def fees(channel: str) -> str:
    """The account of what a channel charged us."""
    return f"fees:{channel}"


def write_off(
    session: Session,
    key: str,
    channel: str,
    merchant_id: str,
    amount_fen: int,
    now: datetime,
    *,
    payment_id: int | None,
) -> bool:
    """Accept that the channel holds amount_fen more (or, negative, less) than our books said, and say so."""
    lines = [(clearing_account(channel, merchant_id), amount_fen), (f"writeoffs:{channel}", -amount_fen)]
    return post(session, key, "write_off", lines, now, payment_id=payment_id)
