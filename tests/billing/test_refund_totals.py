"""A city's refund figures: settled refunds on its payments in [since, until), per service and channel."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy.orm import Session

from billing.refund_totals import RefundTotal
from billing.refund_totals import settled_refunds
from tests.billing.world import refunded_fee

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 8, tzinfo=UTC)


def test_settled_refunds_are_summed_per_service_and_channel_within_the_period(session: Session) -> None:
    refunded_fee(session, 100, SINCE, SINCE)  # the first moment counts
    refunded_fee(session, 200, SINCE, UNTIL - timedelta(seconds=1))
    refunded_fee(session, 400, SINCE, SINCE + timedelta(days=1), channel="alipay")
    refunded_fee(session, 800, SINCE, SINCE + timedelta(days=2), service="car_move")
    refunded_fee(session, 1600, SINCE, UNTIL)  # the end is the next period's
    refunded_fee(session, 3200, SINCE, SINCE - timedelta(seconds=1))
    refunded_fee(session, 6400, SINCE, SINCE + timedelta(days=1), city="330100")
    refunded_fee(session, 12800, SINCE, None, status="processing")
    refunded_fee(session, 25600, SINCE, SINCE + timedelta(days=1), status="failed")
    assert settled_refunds(session, "440300", SINCE, UNTIL) == {
        ("outpatient", "wechat"): RefundTotal(2, 300),
        ("outpatient", "alipay"): RefundTotal(1, 400),
        ("car_move", "wechat"): RefundTotal(1, 800),
    }
    assert settled_refunds(session, "440300", UNTIL, UNTIL + timedelta(days=7)) == {
        ("outpatient", "wechat"): RefundTotal(1, 1600)
    }
    assert settled_refunds(session, "110000", SINCE, UNTIL) == {}
