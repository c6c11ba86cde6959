"""Binding a real name: consent, format checks, the channel's verification, and cross-channel linking."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from database import transaction
from database.transaction import end_reads
from errors import Conflict
from errors import Invalid
from identity.attempts import AttemptCounter
from identity.attempts import AttemptKey
from identity.attempts import spend_attempt
from identity.consent import check_consent_version
from identity.consent import record_consent
from identity.id_numbers import id_number_problem
from identity.id_numbers import normalise_id_number
from identity.merging import iso
from identity.merging import merge_residents
from identity.models import Resident
from identity.ports import RealNameClaim
from identity.ports import RealNameVerifier
from identity.residents import SignedIn
from identity.residents import channel_account
from identity.residents import channel_secret
from identity.residents import lock_live_resident
from identity.vault import Vault

REAL_NAME = "resident.real_name"
ID_NUMBER = "resident.id_number"
PURPOSE = "real_name_verification"
# Each attempt costs a channel call: a day's allowance per channel account, which outlives an
# erasure (erasing and logging in again makes a new resident, never a new allowance).
MAX_ATTEMPTS_PER_DAY = 5
ATTEMPT_WINDOW = timedelta(days=1)
ATTEMPT_LIMIT = "real_name.resident"
# A name as on an ID card, applied with fullmatch: CJK unified ideographs (extension A, the basic
# block, and extensions B to I on the supplementary planes, where rare characters in names (生僻字)
# live; not the Yijing hexagram symbols at U+4DC0) in parts joined by single middle dots, as in
# 阿依古丽·买买提; or Latin letters in words joined by single spaces, hyphens, apostrophes or periods.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df\U0002a700-\U0002ee5f\U00030000-\U000323af"
_NAME = re.compile(
    rf"(?=.{{2,30}}\Z)[{_CJK}]+(?:\u00b7[{_CJK}]+)*"
    r"|(?=.{2,60}\Z)[A-Za-z]+(?:(?:\. ?|[ '-])[A-Za-z]+)*\.?"
)


@dataclass(frozen=True)
class RealNameRequest:
    """What a resident submits to bind their real name."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)
    consent_version: str


def bind_real_name(
    session: Session,
    signed_in: SignedIn,
    request: RealNameRequest,
    *,
    verifiers: dict[str, RealNameVerifier],
    vault: Vault,
    attempts: AttemptCounter,
    now: datetime,
) -> Resident:
    """Verify the name and ID number with the channel the resident came through, then store them sealed."""
    # Another resident holding the same verified ID number is the same person: this resident is
    # merged into that one, and the merge is recorded with everything it moved.
    name = request.name.strip()
    id_number = normalise_id_number(request.id_number)
    if not _NAME.fullmatch(name):
        raise Invalid("identity.invalid_name", "Give your name as on your ID card.", {"field": "name"})
    problem = id_number_problem(id_number, now=now)
    if problem:
        raise Invalid("identity.invalid_id_number", problem, {"field": "id_number"})
    resident, identity = signed_in.resident, signed_in.identity
    if identity is None:
        raise Invalid("identity.no_channel_identity", "Log in through a channel app to verify your real name.")
    lookup = vault.lookup(ID_NUMBER, id_number)
    _refuse_another_binding(resident, lookup)
    verifier = verifiers.get(identity.channel)
    if verifier is None:
        raise Invalid(
            "identity.real_name_not_offered", f"Real-name verification through {identity.channel} is not offered yet."
        )
    check_consent_version(PURPOSE, request.consent_version)
    # Every check that could refuse without the channel is done: what is left costs a channel call.
    end_reads(session)
    spend_attempt(
        attempts,
        AttemptKey(ATTEMPT_LIMIT, channel_account(identity)),
        limit=MAX_ATTEMPTS_PER_DAY,
        window=ATTEMPT_WINDOW,
        now=now,
        code="identity.too_many_attempts",
        what="real-name attempts a day",
    )
    with transaction(session):
        # Locked, so identical retries arriving together still leave one consent record.
        lock_live_resident(session, resident.id)
        record_consent(session, resident.id, PURPOSE, request.consent_version, now)
    # That commit also ended the reads: no transaction is open while the channel checks the claim.
    result = verifier.verify(
        RealNameClaim(
            identity.channel, identity.app_id, identity.external_id, channel_secret(identity, vault), name, id_number
        )
    )
    if not result.matched:
        raise Invalid("identity.real_name_mismatch", "The name and ID number do not match your verified identity.")
    with transaction(session):
        # The world may have moved while the channel answered: every check is made again under the lock.
        resident = lock_live_resident(session, resident.id)
        _refuse_another_binding(resident, lookup)
        for attempt in range(2):
            holder = session.scalar(
                select(Resident)
                .where(
                    Resident.id_number_lookup == lookup,
                    Resident.id != resident.id,
                    Resident.erased_at.is_(None),
                    Resident.merged_into_id.is_(None),
                )
                .with_for_update()
            )
            target = holder or resident
            previous = {"verified_by": target.real_name_verified_by, "verified_at": iso(target.real_name_verified_at)}
            try:
                # If another resident binds the same number at this moment, the unique lookup index
                # stops one of us; the loser finds the winner as holder on the second pass and merges.
                with session.begin_nested():
                    target.real_name_sealed = vault.seal(REAL_NAME, name)
                    target.id_number_sealed = vault.seal(ID_NUMBER, id_number)
                    target.id_number_lookup = lookup
                    target.assurance_level = "channel_certified"
                    target.real_name_verified_at = now
                    target.real_name_verified_by = result.verifier
                    session.flush()
                break
            except IntegrityError:
                if attempt:
                    raise
        if holder is not None:
            merge_residents(
                session,
                survivor=holder,
                merged=resident,
                reason="same_verified_id_number",
                now=now,
                survivor_previous_verification=previous,
            )
    return target


def _refuse_another_binding(resident: Resident, lookup: str) -> None:
    """A resident's verified ID number never changes; binding the same one again is a harmless repeat."""
    if resident.id_number_lookup is not None and resident.id_number_lookup != lookup:
        raise Conflict("identity.real_name_already_bound", "A different real name is already bound to this account.")


@dataclass(frozen=True)
class VerifiedPerson:
    """A resident's verified name and ID number, unsealed for one call to a city system; never stored or logged."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)
    # The vault's keyed hash of the ID number: the same person whichever resident id asks.
    lookup: str = field(repr=False)


def verified_person(resident: Resident, vault: Vault) -> VerifiedPerson | None:
    """The resident's verified real name and ID number, or None when they have not verified one."""
    if (
        resident.real_name_verified_at is None
        or resident.real_name_sealed is None
        or resident.id_number_sealed is None
        or resident.id_number_lookup is None
    ):
        return None
    return VerifiedPerson(
        vault.open(REAL_NAME, resident.real_name_sealed),
        vault.open(ID_NUMBER, resident.id_number_sealed),
        resident.id_number_lookup,
    )
