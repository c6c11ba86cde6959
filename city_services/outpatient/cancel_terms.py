"""The terms of cancelling a paid appointment: until when, and how much of the fee comes back.

They are shown with every paid appointment, so a resident knows them before paying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta


@dataclass(frozen=True)
class CancelPolicy:
    """Until how long before the visit a paid appointment may be cancelled, and what the hospital keeps then."""

    cutoff: timedelta
    retained_fen: int = 0


# Each hospital platform's rule for a resident's own cancellation, shown before paying. A hospital that
# refuses the place, or money that comes too late, is always refunded in full.
CANCEL_POLICIES = {
    "zheyi_his": CancelPolicy(cutoff=timedelta(hours=24)),
    "shenzhen_health_platform": CancelPolicy(cutoff=timedelta(hours=2), retained_fen=100),
    "fake": CancelPolicy(cutoff=timedelta(hours=2)),
}
STRICTEST = CancelPolicy(cutoff=timedelta(hours=24))


@dataclass(frozen=True)
class CancelTerms:
    """What the resident sees before paying: until when they may cancel, and how much comes back then."""

    cancel_until: datetime
    refund_fen: int


def cancel_terms(adapter: str, starts_at: datetime, fee_fen: int) -> CancelTerms:
    """The terms of cancelling a paid place at a platform."""
    policy = CANCEL_POLICIES.get(adapter, STRICTEST)
    return CancelTerms(starts_at - policy.cutoff, max(0, fee_fen - policy.retained_fen))
