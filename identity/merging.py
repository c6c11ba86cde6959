"""Two residents found to be one person become one, with a record of everything that moved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from database.transaction import rows_changed
from identity.models import AccessToken
from identity.models import ChannelIdentity
from identity.models import ChannelUnion
from identity.models import ConsentRecord
from identity.models import Resident
from identity.models import ResidentMerge


def merge_residents(
    session: Session,
    *,
    survivor: Resident,
    merged: Resident,
    reason: str,
    now: datetime,
    survivor_previous_verification: dict[str, str | None] | None = None,
) -> ResidentMerge:
    """Move everything of one resident to the survivor, and record exactly what moved and what was dropped."""
    moved_identities = [
        {"channel": i.channel, "app_id": i.app_id}
        for i in session.scalars(select(ChannelIdentity).where(ChannelIdentity.resident_id == merged.id))
    ]
    moves = {
        "identities": update(ChannelIdentity).where(ChannelIdentity.resident_id == merged.id),
        "unions": update(ChannelUnion).where(ChannelUnion.resident_id == merged.id),
        "sessions": update(AccessToken).where(AccessToken.resident_id == merged.id),
        "consents": update(ConsentRecord).where(ConsentRecord.resident_id == merged.id),
    }
    counts = {
        name: rows_changed(session.execute(statement.values(resident_id=survivor.id)))
        for name, statement in moves.items()
    }
    moved: dict[str, object] = {
        "identities": moved_identities,
        "unions": counts["unions"],
        "sessions": counts["sessions"],
        "consents": counts["consents"],
        "survivor_previous_verification": survivor_previous_verification,
    }
    if merged.phone_sealed is not None:
        # The survivor's own phone wins; the record says the other was dropped, never which number it was.
        moved["phone"] = "dropped_survivor_has_one" if survivor.phone_sealed is not None else "moved"
        if survivor.phone_sealed is None:
            survivor.phone_sealed, survivor.phone_lookup = merged.phone_sealed, merged.phone_lookup
    merged.phone_sealed = merged.phone_lookup = None
    merged.real_name_sealed = merged.id_number_sealed = merged.id_number_lookup = None
    merged.merged_into_id = survivor.id
    record = ResidentMerge(survivor_id=survivor.id, merged_id=merged.id, reason=reason, moved=moved, at=now)
    session.add(record)
    session.flush()
    session.expire(survivor, ["identities"])
    return record


def iso(moment: datetime | None) -> str | None:
    """A timestamp as ISO text for a record, or None."""
    return moment.isoformat() if moment else None
