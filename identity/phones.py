"""Binding the phone number a channel verified for the resident."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from database import end_reads
from database import transaction
from errors import Invalid
from errors import UpstreamUnavailable
from identity.models import Resident
from identity.ports import PhoneNumbers
from identity.residents import SignedIn
from identity.residents import lock_live_resident
from identity.vault import Vault

PHONE = "resident.phone"
# What the channel verified: ASCII digits, an optional leading +, nothing after (applied with fullmatch).
_PHONE_NUMBER = re.compile(r"\+?[0-9]{5,20}")


def bind_phone(
    session: Session, signed_in: SignedIn, code: str, *, sources: dict[str, PhoneNumbers], vault: Vault, now: datetime
) -> Resident:
    """Exchange the channel's phone authorisation code and store the number sealed."""
    identity = signed_in.identity
    source = sources.get(identity.app_id) if identity is not None else None
    if identity is None or source is None:
        raise Invalid("identity.phone_not_supported", "Phone binding is not offered through this app.")
    end_reads(session)
    phone = source.phone_number(code, identity.external_id)
    if not isinstance(phone, str) or _PHONE_NUMBER.fullmatch(phone) is None:
        # Stored sealed, a value we cannot read back as a number would only surface later, masked wrongly.
        raise UpstreamUnavailable("channel.unavailable", "The channel's answer could not be read; try again later.")
    with transaction(session):
        resident = lock_live_resident(session, signed_in.resident.id)
        resident.phone_sealed = vault.seal(PHONE, phone)
        resident.phone_lookup = vault.lookup(PHONE, phone)
    return resident
