"""Binding the phone number a channel verified for the resident."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta

from sqlalchemy.orm import Session

from database import end_reads
from database import transaction
from errors import Invalid
from errors import UpstreamUnavailable
from identity.attempts import AttemptCounter
from identity.attempts import AttemptKey
from identity.attempts import spend_attempt
from identity.models import Resident
from identity.ports import PhoneNumbers
from identity.residents import SignedIn
from identity.residents import channel_account
from identity.residents import lock_live_resident
from identity.vault import Vault

PHONE = "resident.phone"
# WeChat bills each phone-number lookup: a day's allowance per channel account.
MAX_ATTEMPTS_PER_DAY = 5
ATTEMPT_LIMIT = "phone.account"
# What the channel verified: ASCII digits, an optional leading +, nothing after (applied with fullmatch).
_PHONE_NUMBER = re.compile(r"\+?[0-9]{5,20}")


def bind_phone(
    session: Session,
    signed_in: SignedIn,
    code: str,
    *,
    sources: dict[str, PhoneNumbers],
    attempts: AttemptCounter,
    vault: Vault,
    now: datetime,
) -> Resident:
    """Exchange the channel's phone authorisation code and store the number sealed."""
    identity = signed_in.identity
    source = sources.get(identity.app_id) if identity is not None else None
    if identity is None or source is None:
        raise Invalid("identity.phone_not_supported", "Phone binding is not offered through this app.")
    end_reads(session)
    spend_attempt(
        attempts,
        AttemptKey(ATTEMPT_LIMIT, channel_account(identity)),
        limit=MAX_ATTEMPTS_PER_DAY,
        window=timedelta(days=1),
        now=now,
        code="identity.too_many_attempts",
        what="phone bindings a day",
    )
    phone = source.phone_number(code, identity.external_id)
    if not isinstance(phone, str) or _PHONE_NUMBER.fullmatch(phone) is None:
        # Stored sealed, a value we cannot read back as a number would only surface later, masked wrongly.
        raise UpstreamUnavailable("channel.unavailable", "The channel's answer could not be read; try again later.")
    with transaction(session):
        resident = lock_live_resident(session, signed_in.resident.id)
        resident.phone_sealed = vault.seal(PHONE, phone)
        resident.phone_lookup = vault.lookup(PHONE, phone)
    return resident
