"""The status tables say exactly the business's rules: every allowed move listed here, everything else refused."""

from __future__ import annotations

import itertools

from billing import statuses as s

PAYMENT_EVENTS = (s.PAY_SUCCEEDED, s.PAY_FAILED, s.ORDER_CLOSED, s.REFUNDED_PART, s.REFUNDED_ALL)
REFUND_EVENTS = (s.ACCEPTED, s.SETTLED, s.REFUSED)

# The rules in words: money that moved wins over a close or a failure; refunds follow payment only;
# a refunded payment and a settled or failed refund are final.
ALLOWED_PAYMENT_MOVES = {
    ("created", "pay_succeeded"): "paid",
    ("created", "pay_failed"): "failed",
    ("created", "order_closed"): "closed",
    ("failed", "pay_succeeded"): "paid",
    ("failed", "order_closed"): "closed",
    ("closed", "pay_succeeded"): "paid",
    ("paid", "refunded_part"): "partially_refunded",
    ("paid", "refunded_all"): "refunded",
    ("partially_refunded", "refunded_part"): "partially_refunded",
    ("partially_refunded", "refunded_all"): "refunded",
}
ALLOWED_REFUND_MOVES = {
    ("requested", "accepted"): "processing",
    ("requested", "settled"): "succeeded",
    ("requested", "refused"): "failed",
    ("processing", "settled"): "succeeded",
    ("processing", "refused"): "failed",
}


def test_every_payment_move_is_the_rules_and_nothing_else() -> None:
    for status, event in itertools.product(s.PAYMENT_STATUSES, PAYMENT_EVENTS):
        assert s.next_payment_status(status, event) == ALLOWED_PAYMENT_MOVES.get((status, event)), (status, event)


def test_every_refund_move_is_the_rules_and_nothing_else() -> None:
    for status, event in itertools.product(s.REFUND_STATUSES, REFUND_EVENTS):
        assert s.next_refund_status(status, event) == ALLOWED_REFUND_MOVES.get((status, event)), (status, event)


def test_the_named_groups_are_the_ones_the_rules_use() -> None:
    assert s.PAYMENT_STATUSES == ("created", "paid", "partially_refunded", "refunded", "closed", "failed")
    assert s.REFUNDABLE == ("paid", "partially_refunded")
    assert s.REFUND_STATUSES == ("requested", "processing", "succeeded", "failed")
    # A failed refund gives its amount back to what may be refunded; every other holds it.
    assert s.REFUND_HOLDS == ("requested", "processing", "succeeded")
