"""The status tables of payments and refunds, in plain sight: which event moves which status where.

Anything not listed is refused. A duplicate event (the status already is where the event leads)
is not a transition: the caller acknowledges it without a second effect.
"""

from __future__ import annotations

# Payments. created: the order exists (at the channel, or is being placed there); paid: the payer
# paid; partially_refunded/refunded: refunds succeeded for part/all of it; closed: the order was
# closed unpaid (expired or given up); failed: the channel says the payment failed.
CREATED, PAID, PARTIALLY_REFUNDED, REFUNDED, CLOSED, FAILED = (
    "created",
    "paid",
    "partially_refunded",
    "refunded",
    "closed",
    "failed",
)
PAYMENT_STATUSES = (CREATED, PAID, PARTIALLY_REFUNDED, REFUNDED, CLOSED, FAILED)
# Payments whose money we hold (a refund may be asked for).
REFUNDABLE = (PAID, PARTIALLY_REFUNDED)

# Payment events: what a notification, a query or our own decision says happened.
PAY_SUCCEEDED, PAY_FAILED, ORDER_CLOSED, REFUNDED_PART, REFUNDED_ALL = (
    "pay_succeeded",
    "pay_failed",
    "order_closed",
    "refunded_part",
    "refunded_all",
)

# status -> event -> next status. A payer may finish paying after we closed the order, or after a
# failed try: the channel's word wins (the money moved), and the saga gives it back.
PAYMENT_TRANSITIONS: dict[str, dict[str, str]] = {
    CREATED: {PAY_SUCCEEDED: PAID, PAY_FAILED: FAILED, ORDER_CLOSED: CLOSED},
    FAILED: {PAY_SUCCEEDED: PAID, ORDER_CLOSED: CLOSED},
    CLOSED: {PAY_SUCCEEDED: PAID},
    PAID: {REFUNDED_PART: PARTIALLY_REFUNDED, REFUNDED_ALL: REFUNDED},
    PARTIALLY_REFUNDED: {REFUNDED_PART: PARTIALLY_REFUNDED, REFUNDED_ALL: REFUNDED},
    REFUNDED: {},
}

# Refunds. requested: our row exists with its out_refund_no (written before the channel is asked,
# so a crash leaves a visible refund to retry, never a silent one); processing: the channel
# accepted it; succeeded: the money went back; failed: the channel refused or gave up (the amount
# is available again).
REQUESTED, PROCESSING, SUCCEEDED, REFUND_FAILED = "requested", "processing", "succeeded", "failed"
REFUND_STATUSES = (REQUESTED, PROCESSING, SUCCEEDED, REFUND_FAILED)
# Refunds that hold part of the payment's amount.
REFUND_HOLDS = (REQUESTED, PROCESSING, SUCCEEDED)

ACCEPTED, SETTLED, REFUSED = "accepted", "settled", "refused"

# A success never turns into a failure (a late or out-of-order answer cannot undo money that moved).
REFUND_TRANSITIONS: dict[str, dict[str, str]] = {
    REQUESTED: {ACCEPTED: PROCESSING, SETTLED: SUCCEEDED, REFUSED: REFUND_FAILED},
    PROCESSING: {SETTLED: SUCCEEDED, REFUSED: REFUND_FAILED},
    SUCCEEDED: {},
    REFUND_FAILED: {},
}


def next_payment_status(status: str, event: str) -> str | None:
    """Where the event moves a payment, or None when the table does not allow it."""
    return PAYMENT_TRANSITIONS[status].get(event)


def next_refund_status(status: str, event: str) -> str | None:
    """Where the event moves a refund, or None when the table does not allow it."""
    return REFUND_TRANSITIONS[status].get(event)
