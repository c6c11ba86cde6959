"""How much money went back to residents, per service and channel of a city, over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import Payment
from billing.models import Refund
from billing.statuses import SUCCEEDED


@dataclass(frozen=True)
class RefundTotal:
    """Refunds settled, and their sum in fen."""

    count: int
    fen: int


def settled_refunds(
    session: Session, city: str, since: datetime, until: datetime
) -> dict[tuple[str, str], RefundTotal]:
    """Refunds the channel settled in [since, until) on the city's payments, per (service, channel)."""
    rows = session.execute(
        select(Payment.service_code, Payment.channel, func.count(Refund.id), func.sum(Refund.amount_fen))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(
            Payment.city_code == city,
            Refund.status == SUCCEEDED,
            Refund.settled_at >= since,
            Refund.settled_at < until,
        )
        .group_by(Payment.service_code, Payment.channel)
    )
    return {(service, channel): RefundTotal(count, int(fen or 0)) for service, channel, count, fen in rows}
