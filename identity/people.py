"""Which resident ids are one person: other packages keep resident ids in their own rows and ask here.

A merge leaves the merged resident's row in place, pointing at the survivor (and a survivor may
itself be merged later), so rows written before a merge still belong to the person.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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
