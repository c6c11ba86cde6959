"""The payment channels' final answers in billing's words; each channel's errors.py maps its own codes to these."""

from __future__ import annotations

from errors import UpstreamRejected


def order_paid() -> UpstreamRejected:
    """The order was paid: it cannot be closed, nor placed again."""
    return UpstreamRejected("billing.order_paid", "The order was paid at the channel.", "conflict")


def order_not_found() -> UpstreamRejected:
    """The channel never had this order."""
    return UpstreamRejected("billing.order_not_found", "The channel has no such order.", "not_found")


def order_closed() -> UpstreamRejected:
    """The channel closed the order: it takes no payment, and no refund."""
    return UpstreamRejected("billing.order_closed", "The channel has closed this order.", "conflict")


def order_conflict() -> UpstreamRejected:
    """The number is taken by an order with other content."""
    return UpstreamRejected("billing.order_conflict", "The channel holds another order with this number.", "conflict")


def order_not_paid() -> UpstreamRejected:
    """Nothing was paid on the order, so nothing can be refunded."""
    return UpstreamRejected("billing.order_not_paid", "The channel has no payment on this order to refund.", "conflict")


def refund_not_enough() -> UpstreamRejected:
    """The refunds would come to more than was paid."""
    return UpstreamRejected("billing.refund_not_enough", "Not enough is left on this order to refund.", "conflict")


def refund_not_found() -> UpstreamRejected:
    """The channel has no refund with this number."""
    return UpstreamRejected("billing.refund_not_found", "The channel has no such refund.", "not_found")


def refund_period_over() -> UpstreamRejected:
    """The order is past the channel's refund period."""
    return UpstreamRejected("billing.refund_period_over", "The order is past the channel's refund period.", "conflict")


def refund_refused() -> UpstreamRejected:
    """The channel refused the refund for a reason of its own (the buyer's or the seller's account)."""
    return UpstreamRejected("billing.refund_refused", "The channel refused this refund.", "conflict")


def request_refused() -> UpstreamRejected:
    """The channel refused what we sent as invalid: the same request will never succeed."""
    return UpstreamRejected("billing.request_refused", "The channel refused the request as invalid.", "invalid")
