"""What a person used of an allowance (a monthly quota, a cooldown, a weekly cap) outlives their erasure.

Erasing a resident must not reset a limit: erase, log in again with the same account, and the sixth
car-move request of the month is still refused. Before a person's rows go, each package lists what
still counts against them (marks); identity keeps each mark under a keyed hash of every channel
account the person had and of their verified ID number, and nothing else: no resident id, no
readable scope, and each mark expires with the window it counts in. A new resident who logs in
with one of those accounts, or verifies the same ID number, inherits the marks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import AllowanceMark
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.residents import channel_account
from identity.vault import Vault

SUBJECT = "allowance_subject"
SCOPE = "allowance_scope"


@dataclass(frozen=True)
class Mark:
    """One use that still counts: its kind, when it happened, until when it counts, and what it was about."""

    kind: str
    at: datetime
    until: datetime
    scope: str = ""
    # A thing the mark is kept under instead of the person (a plate's lookup for its cooldown).
    about: str | None = None


# What a package still counts against a person, read before the person's rows are erased:
# (session, every resident id of the person, now). Packages own theirs; wiring lists them.
Carrier = Callable[[Session, frozenset[int], datetime], Iterable[Mark]]


@dataclass(frozen=True)
class Allowances:
    """Where uses are kept past an erasure and read back: keyed by the vault's lookup key."""

    vault: Vault
    carriers: Sequence[Carrier] = ()

    def subjects(self, session: Session, resident_ids: frozenset[int]) -> frozenset[str]:
        """The keyed hashes a person's uses are kept under: each channel account and the verified ID number."""
        identities = session.scalars(select(ChannelIdentity).where(ChannelIdentity.resident_id.in_(resident_ids)))
        id_lookups = session.scalars(
            select(Resident.id_number_lookup).where(
                Resident.id.in_(resident_ids), Resident.id_number_lookup.is_not(None)
            )
        )
        return frozenset(
            [self._subject("account", channel_account(identity)) for identity in identities]
            + [self._subject("id_number", lookup) for lookup in id_lookups if lookup]
        )

    def thing(self, about: str) -> frozenset[str]:
        """The subject a thing's marks are kept under."""
        return frozenset({self._subject("thing", about)})

    def carry_over(self, session: Session, everyone: frozenset[int], now: datetime) -> None:
        """Keep what still counts against a person who is being erased; call before their accounts go."""
        session.execute(delete(AllowanceMark).where(AllowanceMark.until <= now))
        person = self.subjects(session, everyone)
        for carrier in self.carriers:
            for mark in carrier(session, everyone, now):
                if mark.until <= now:
                    continue
                event = secrets.token_hex(16)
                subjects = person if mark.about is None else self.thing(mark.about)
                scope = self._scope(mark.scope)
                session.add_all(
                    AllowanceMark(
                        subject=subject, kind=mark.kind, scope=scope, event=event, at=mark.at, until=mark.until
                    )
                    for subject in sorted(subjects)
                )
        session.flush()

    def used(
        self, session: Session, subjects: frozenset[str], kind: str, *, after: datetime, now: datetime, scope: str = ""
    ) -> list[datetime]:
        """When the kept uses of this kind (and scope) made after a moment and counting now happened, oldest first."""
        if not subjects:
            return []
        rows = session.execute(
            select(AllowanceMark.event, AllowanceMark.at).where(
                AllowanceMark.subject.in_(subjects),
                AllowanceMark.kind == kind,
                AllowanceMark.scope == self._scope(scope),
                AllowanceMark.at > after,
                AllowanceMark.until > now,
            )
        ).all()
        # A use kept under several of the person's subjects counts once.
        return sorted({event: at for event, at in rows}.values())

    def _subject(self, what: str, value: str) -> str:
        return self.vault.lookup(SUBJECT, f"{what}\x1f{value}")

    def _scope(self, scope: str) -> str:
        return self.vault.lookup(SCOPE, scope) if scope else ""
