"""Whether paid appointment fees were delivered: a confirmed appointment in our books and at the hospital.

Reconciliation's third party: the channel's bill says the money came, our books say who paid for
what, and the hospital's own record says whether the place was really booked.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.outpatient import models
from city_services.outpatient import provider as port
from city_services.outpatient.models import Appointment
from database.transaction import end_reads
from errors import UpstreamRejected

ProviderFor = Callable[[Session, str], port.OutpatientProvider]


def not_booked(session: Session, provider_for: ProviderFor, paid: list[tuple[int, str]]) -> set[int]:
    """Of these paid fees (payment id, appointment id), those with no confirmed appointment here or at the hospital."""
    wanted = dict((ref, payment_id) for payment_id, ref in paid)
    rows = session.execute(
        select(Appointment.public_id, Appointment.status, Appointment.city_code, Appointment.upstream_hold_id).where(
            Appointment.public_id.in_(wanted)
        )
    ).all()
    end_reads(session)
    unfulfilled = set()
    for row in rows:
        if row.status != models.CONFIRMED or row.upstream_hold_id is None:
            unfulfilled.add(wanted[row.public_id])
        elif not _booked_at_hospital(session, provider_for, row.city_code, row.upstream_hold_id):
            unfulfilled.add(wanted[row.public_id])
    # A fee whose appointment is gone was its erased resident's: nothing is left to check it against.
    return unfulfilled


def _booked_at_hospital(session: Session, provider_for: ProviderFor, city: str, hold_id: str) -> bool:
    try:
        record = provider_for(session, city).booking(hold_id)
    except UpstreamRejected as refused:
        if refused.code == port.HOLD_NOT_FOUND:
            return False
        raise
    return record.status == port.CONFIRMED
