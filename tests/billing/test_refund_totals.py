"""A city's refund figures: settled refunds on its payments in [since, until), per service and channel."""

from __future__ import annotations

import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy.orm import Session

from billing.models import Payment
from billing.models import Refund
from billing.refund_totals import RefundTotal
from billing.refund_totals import settled_refunds
from database import transaction

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 8, tzinfo=UTC)


def refunded(
    session: Session,
    fen: int,
    settled_at: datetime | None,
    *,
    city: str = "440300",
    service: str = "outpatient",
    channel: str = "wechat",
    status: str = "succeeded",
) -> None:
    """A paid fee of the city's service and one refund of it."""
    with transaction(session):
        payment = Payment(
            public_id="pay_" + secrets.token_hex(8),
            out_trade_no="ct" + secrets.token_hex(12),
            purpose="outpatient_fee",
            purpose_ref=secrets.token_hex(8),
            city_code=city,
            service_code=service,
            channel=channel,
            app_id="app",
            merchant_id="mch",
            gateway="fake",
            amount_fen=50000,
            description="挂号费",
            status="partially_refunded",
            refunded_fen=fen,
            expires_at=SINCE,
            paid_at=SINCE,
            created_at=SINCE,
            updated_at=SINCE,
        )
        session.add(payment)
        session.flush()
        session.add(
            Refund(
                out_refund_no="rf" + secrets.token_hex(12),
                payment_id=payment.id,
                amount_fen=fen,
                reason="cancelled",
                requested_by="resident",
                status=status,
                created_at=SINCE,
                updated_at=SINCE,
                settled_at=settled_at,
            )
        )


def test_settled_refunds_are_summed_per_service_and_channel_within_the_period(session: Session) -> None:
    refunded(session, 100, SINCE)  # the first moment counts
    refunded(session, 200, UNTIL - timedelta(seconds=1))
    refunded(session, 400, SINCE + timedelta(days=1), channel="alipay")
    refunded(session, 800, SINCE + timedelta(days=2), service="car_move")
    refunded(session, 1600, UNTIL)  # the end is the next period's
    refunded(session, 3200, SINCE - timedelta(seconds=1))
    refunded(session, 6400, SINCE + timedelta(days=1), city="330100")
    refunded(session, 12800, None, status="processing")
    refunded(session, 25600, SINCE + timedelta(days=1), status="failed")
    assert settled_refunds(session, "440300", SINCE, UNTIL) == {
        ("outpatient", "wechat"): RefundTotal(2, 300),
        ("outpatient", "alipay"): RefundTotal(1, 400),
        ("car_move", "wechat"): RefundTotal(1, 800),
    }
    assert settled_refunds(session, "440300", UNTIL, UNTIL + timedelta(days=7)) == {
        ("outpatient", "wechat"): RefundTotal(1, 1600)
    }
    assert settled_refunds(session, "110000", SINCE, UNTIL) == {}
