"""Which resident ids are one person: other packages keep resident ids in their own rows and ask here.

A merge leaves the merged resident's row in place, pointing at the survivor (and a survivor may
itself be merged later), so rows written before a merge still belong to the person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import ChannelIdentity
from identity.models import Resident

# How each package erases what it keeps about a person, inside the erasing transaction:
# (session, every resident id of the person, now). Packages own theirs; wiring lists them.
Eraser = Callable[[Session, frozenset[int], datetime], None]


def person_ids(session: Session, resident_id: int) -> frozenset[int]:
    """The resident's id and the ids of every resident merged into it, directly or through others."""
    found = {resident_id}
    frontier = {resident_id}
    while frontier:
        merged = set(session.scalars(select(Resident.id).where(Resident.merged_into_id.in_(frontier)))) - found
        found |= merged
        frontier = merged
    return frozenset(found)


@dataclass(frozen=True)
class ChannelAccount:
    """One channel app account of a person: where a notice to them can go."""

    resident_id: int
    channel: str
    app_id: str
    external_id: str
    unionid: str | None


def channel_accounts(session: Session, resident_ids: frozenset[int]) -> list[ChannelAccount]:
    """The channel app accounts of these residents, most recently used first."""
    rows = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.resident_id.in_(resident_ids))
        .order_by(ChannelIdentity.last_login_at.desc(), ChannelIdentity.id.desc())
    ).all()
    return [ChannelAccount(r.resident_id, r.channel, r.app_id, r.external_id, r.unionid) for r in rows]
