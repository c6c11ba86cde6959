"""Payment and refund notifications: verified, checked against our order, applied once, and only then acknowledged.

Order of work (reliability.md §1): the adapter verifies the signature over the raw bytes and reads
the notification; here it must be fresh and never seen before (a replay is refused), name one of
our orders with the same merchant, app and amount, and then, in one transaction under the
payment's row lock, the allowed transition is applied, the raw notification stored sealed, and
the follow-up work written to the outbox. Only after that commit does the channel hear "received".
Anything else hears "send again": a forged, stale or garbled notification, a replay, a valid one
that does not match our order, or one for an order we have not committed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from billing import statuses
from billing.gateway import CLOSED
from billing.gateway import FAILED
from billing.gateway import PAID
from billing.gateway import PAYMENT_NOTICE
from billing.gateway import ChannelRefund
from billing.gateway import Notice
from billing.gateway import NotificationRefused
from billing.gateway import PaymentGateway
from billing.ledger import PAYMENT_ENTRY_PREFIX
from billing.ledger import REVENUE_PREFIX
from billing.ledger import clearing_account
from billing.ledger import post_payment
from billing.models import NotificationNonce
from billing.models import Payment
from billing.models import PaymentNotification
from billing.models import Refund
from billing.outbox import enqueue
from billing.refunds import settle_refund
from database import transaction
from database.transaction import built_once
from database.transaction import one_statement
from database.types import UTCDateTime
from identity.vault import Vault

log = logging.getLogger("citytiles.billing")
security_log = logging.getLogger("citytiles.security")
# A delivery signed longer ago than this (or this far ahead of our clock) is refused as stale.
FRESHNESS = timedelta(minutes=5)
RAW_NOTIFICATION = "billing.raw_notification"
FULFIL = "fulfil"
PAYMENT_EVENTS = {PAID: statuses.PAY_SUCCEEDED, FAILED: statuses.PAY_FAILED, CLOSED: statuses.ORDER_CLOSED}
# Whatever the order did since, a payment that was paid stays paid: a late success repeats what we know.
SETTLED_PAID = (statuses.PAID, statuses.PARTIALLY_REFUNDED, statuses.REFUNDED)
APPLIED, DUPLICATE = "applied", "duplicate"


@dataclass(frozen=True)
class Receipt:
    """What became of a notification: received (acknowledge it) or not, and why."""

    received: bool
    outcome: str


def receive_notification(
    session: Session,
    gateway: PaymentGateway,
    headers: Mapping[str, str],
    body: bytes,
    *,
    vault: Vault,
    clock: Callable[[], datetime],
) -> Receipt:
    """Take one delivery of a notification from a channel; received only once its effect is committed."""
    try:
        notice = gateway.parse_notification(headers, body)
        now = clock()
        if abs(now - notice.sent_at) > FRESHNESS:
            raise NotificationRefused("stale")
    except NotificationRefused as refused:
        security_log.warning(
            "payment notification refused", extra={"channel": gateway.channel, "reason": refused.reason}
        )
        return Receipt(False, refused.reason)
    sealed = vault.seal(RAW_NOTIFICATION, body.decode("utf-8"))
    first_try = _AT_FIRST_SIGHT_BY_DIALECT.get(session.get_bind().dialect.name)
    if first_try is not None and notice.kind == PAYMENT_NOTICE and notice.state == PAID:
        if first_try(session, gateway, notice, sealed, now):
            return Receipt(True, APPLIED)
        # It changed nothing: a replay, a duplicate, a mismatch or an order we do not know. The
        # steps below say which, under the lock, exactly as for every other notification.
    with transaction(session):
        # Remembered in the same transaction as its effect: one commit per notification.
        if not _first_sight(session, gateway.channel, notice, now):
            security_log.warning(
                "payment notification refused", extra={"channel": gateway.channel, "reason": "replayed"}
            )
            return Receipt(False, "replayed")
        payment = session.scalar(select(Payment).where(Payment.out_trade_no == notice.out_trade_no).with_for_update())
        if payment is None:
            # Our order row is committed before the channel hears of it, so this is a foreign order
            # or one still being placed: the channel sends it again, and then it is known.
            log.warning("a notification named an order we do not have", extra={"channel": gateway.channel})
            return Receipt(False, "unknown_order")
        mismatch = _mismatch(payment, gateway, notice)
        if mismatch is not None:
            security_log.warning(
                "payment notification does not match our order",
                extra={"channel": gateway.channel, "reason": mismatch, "out_trade_no": payment.out_trade_no},
            )
            return Receipt(False, mismatch)
        if notice.kind == PAYMENT_NOTICE:
            changed = apply_payment_state(session, payment, notice.state, notice.channel_trade_no, notice.at, now)
        else:
            refund = session.scalar(select(Refund).where(Refund.out_refund_no == notice.out_refund_no))
            if refund is None or refund.payment_id != payment.id or refund.amount_fen != notice.refund_fen:
                security_log.warning(
                    "refund notification does not match our refund",
                    extra={"channel": gateway.channel, "out_trade_no": payment.out_trade_no},
                )
                return Receipt(False, "refund_mismatch")
            answer = ChannelRefund(refund.out_refund_no, notice.state, notice.channel_refund_id, notice.at)
            changed = settle_refund(session, payment, refund, answer, now)
        outcome = APPLIED if changed else DUPLICATE
        _store(session, payment, gateway.channel, notice, sealed, outcome, now)
    return Receipt(True, outcome)


def forget_old_deliveries(session: Session, now: datetime) -> None:
    """Drop replay records older than anything fresh enough to be accepted."""
    with transaction(session):
        session.execute(delete(NotificationNonce).where(NotificationNonce.seen_at < now - 2 * FRESHNESS))


def _first_sight(session: Session, channel: str, notice: Notice, now: datetime) -> bool:
    """Remember this delivery; False when it was seen before: a replay (the channel signs every try afresh)."""
    remembered = session.execute(
        _remember_delivery(session), {"channel": channel, "nonce": notice.delivery[:128], "seen_at": now}
    )
    return remembered.first() is not None


@built_once
def _remember_delivery(insert_or_skip: Any) -> Any:
    nonces = NotificationNonce.__table__
    return insert_or_skip(nonces).on_conflict_do_nothing().returning(nonces.c.nonce)


def _mismatch(payment: Payment, gateway: PaymentGateway, notice: Notice) -> str | None:
    """Why a validly signed notification is not about our order as we placed it, or None."""
    checks = (
        ("merchant_mismatch", payment.channel == gateway.channel and payment.merchant_id == notice.merchant_id),
        ("app_mismatch", payment.app_id == notice.app_id),
        ("amount_mismatch", payment.amount_fen == notice.amount_fen),
        ("currency_mismatch", notice.currency == payment.currency),
    )
    return next((reason for reason, fine in checks if not fine), None)


def payment_moves_to(status: str, state: str) -> str | None:
    """Where what the channel says moves a payment in this status, or None when it changes nothing."""
    if state == PAID and status in SETTLED_PAID:
        return None
    event = PAYMENT_EVENTS.get(state)
    following = statuses.next_payment_status(status, event) if event is not None else None
    return None if following == status else following


@cache
def movable_to_paid() -> tuple[str, ...]:
    """The statuses a success moves to paid, as payment_moves_to reads the status table."""
    return tuple(status for status in statuses.PAYMENT_STATUSES if payment_moves_to(status, PAID) == statuses.PAID)


def apply_payment_state(
    session: Session, payment: Payment, state: str, channel_trade_no: str | None, at: datetime | None, now: datetime
) -> bool:
    """Apply what the channel says of a locked payment (a notification or a query), once; whether anything changed."""
    following = payment_moves_to(payment.status, state)
    if following is None:
        return False
    payment.status = following
    payment.updated_at = now
    if following == statuses.PAID:
        payment.paid_at = at or now
        payment.channel_trade_no = channel_trade_no or payment.channel_trade_no
        post_payment(session, payment, now)
        enqueue(session, FULFIL, payment.out_trade_no, now)
    return True


def _store(
    session: Session, payment: Payment, channel: str, notice: Notice, sealed: str, outcome: str, now: datetime
) -> None:
    """Keep the notification (once per channel event id), counting its copies, in one statement."""
    session.execute(_keep_notification(session), _kept(payment, channel, notice, sealed, outcome, now))


def _kept(payment: Payment, channel: str, notice: Notice, sealed: str, outcome: str, now: datetime) -> dict[str, Any]:
    return {
        "channel": channel,
        "event_id": notice.event_id,
        "payment_id": payment.id,
        "kind": notice.kind,
        "out_refund_no": notice.out_refund_no,
        "raw_sealed": sealed,
        "outcome": outcome,
        "copies": 1,
        "received_at": now,
        "last_received_at": now,
    }


@cache
def _paid_when_fresh_and_matching() -> TextClause:
    """A success in one statement: the move, and its entry, lines, task and kept notification only if it moved.

    It moves only a delivery never seen, for an order ours as placed, in a status that may become paid.

    The UPDATE takes the payment's row lock; a copy that waited on it reads the row again and finds
    it paid (PostgreSQL's READ COMMITTED re-check), so it moves nothing. A payment of nothing is left
    to the long way, where checked_lines refuses its empty entry. Tables as in billing/models.py.
    """
    return text(
        """
    WITH fresh AS (
        SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM notification_nonces WHERE channel = :channel AND nonce = :nonce)
    ), moved AS (
        UPDATE payments SET status = :status, paid_at = :paid_at,
            channel_trade_no = coalesce(nullif(:channel_trade_no, ''), channel_trade_no), updated_at = :received_at
        WHERE out_trade_no = :out_trade_no AND status = ANY(:movable) AND channel = :channel
            AND merchant_id = :merchant_id AND app_id = :app_id AND amount_fen = :amount_fen
            AND currency = :currency AND amount_fen > 0 AND EXISTS (SELECT 1 FROM fresh)
        RETURNING id, out_trade_no, amount_fen, city_code, service_code
    ), remembered AS (
        INSERT INTO notification_nonces (channel, nonce, seen_at) SELECT :channel, :nonce, :received_at FROM moved
        ON CONFLICT DO NOTHING
    ), entry AS (
        INSERT INTO ledger_entries (key, kind, payment_id, refund_id, posted_at)
        SELECT :entry_key, 'payment', id, NULL, :received_at FROM moved
        ON CONFLICT (key) DO NOTHING
        RETURNING id
    ), lines AS (
        INSERT INTO ledger_lines (entry_id, account, amount_fen)
        SELECT entry.id, line.account, line.amount_fen
        FROM entry, moved, LATERAL (VALUES
            (CAST(:debit AS VARCHAR), moved.amount_fen),
            (:revenue_prefix || moved.city_code || ':' || moved.service_code, -moved.amount_fen)
        ) AS line (account, amount_fen)
    ), task AS (
        INSERT INTO outbox_tasks (kind, ref, due_at, attempts, created_at)
        SELECT :task_kind, out_trade_no, :received_at, 0, :received_at FROM moved
        ON CONFLICT (kind, ref) DO NOTHING
    ), kept AS (
        INSERT INTO payment_notifications
            (channel, event_id, payment_id, kind, out_refund_no, raw_sealed, outcome, copies, received_at,
            last_received_at)
        SELECT :channel, :event_id, id, :kind, NULL, :raw_sealed, :outcome, 1, :received_at, :received_at FROM moved
        ON CONFLICT (channel, event_id) DO UPDATE
            SET copies = payment_notifications.copies + 1, last_received_at = EXCLUDED.received_at
    )
    SELECT count(*) FROM moved
    """
    ).bindparams(
        bindparam("movable", type_=ARRAY(String())),
        bindparam("paid_at", type_=UTCDateTime()),
        bindparam("received_at", type_=UTCDateTime()),
        bindparam("channel_trade_no", type_=String()),
        bindparam("amount_fen", type_=Integer()),
    )


def _paid_at_first_sight(session: Session, gateway: PaymentGateway, notice: Notice, sealed: str, now: datetime) -> bool:
    """The payer paid an order as we placed it, and this delivery is new: applied in one statement, or nothing."""
    moved = one_statement(
        session,
        _paid_when_fresh_and_matching(),
        {
            "channel": gateway.channel,
            "nonce": notice.delivery[:128],
            "out_trade_no": notice.out_trade_no,
            "movable": list(movable_to_paid()),
            "merchant_id": notice.merchant_id,
            "app_id": notice.app_id,
            "amount_fen": notice.amount_fen,
            "currency": notice.currency,
            "status": statuses.PAID,
            "paid_at": notice.at or now,
            "channel_trade_no": notice.channel_trade_no,
            "received_at": now,
            "entry_key": PAYMENT_ENTRY_PREFIX + notice.out_trade_no,
            "debit": clearing_account(gateway.channel, notice.merchant_id),
            "revenue_prefix": REVENUE_PREFIX,
            "task_kind": FULFIL,
            "event_id": notice.event_id,
            "kind": notice.kind,
            "raw_sealed": sealed,
            "outcome": APPLIED,
        },
    )
    return bool(moved == 1)


@built_once
def _keep_notification(insert_or_skip: Any) -> Any:
    kept = PaymentNotification.__table__
    statement = insert_or_skip(kept)
    return statement.on_conflict_do_update(
        index_elements=[kept.c.channel, kept.c.event_id],
        set_={"copies": kept.c.copies + 1, "last_received_at": statement.excluded.received_at},
    )


_AT_FIRST_SIGHT_BY_DIALECT: dict[str, Callable[[Session, PaymentGateway, Notice, str, datetime], bool]] = {
    "postgresql": _paid_at_first_sight,
}
