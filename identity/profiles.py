"""A resident's profile as they may see it: personal data masked, channel ids never shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from identity.masking import mask_id_number
from identity.masking import mask_name
from identity.masking import mask_phone
from identity.models import Resident
from identity.phones import PHONE
from identity.real_name import ID_NUMBER
from identity.real_name import REAL_NAME
from identity.vault import Vault


@dataclass(frozen=True)
class ChannelAccount:
    """A channel app the resident has used, without the account id itself."""

    channel: str
    app_id: str


@dataclass(frozen=True)
class ResidentProfile:
    """What GET /me shows."""

    id: str
    created_at: datetime
    channels: list[ChannelAccount]
    real_name_verified: bool
    name: str | None
    id_number: str | None
    assurance_level: str
    verified_at: datetime | None
    phone: str | None


def profile_of(resident: Resident, vault: Vault) -> ResidentProfile:
    """Open the resident's sealed fields only to mask them."""
    name = vault.open(REAL_NAME, resident.real_name_sealed) if resident.real_name_sealed else None
    id_number = vault.open(ID_NUMBER, resident.id_number_sealed) if resident.id_number_sealed else None
    phone = vault.open(PHONE, resident.phone_sealed) if resident.phone_sealed else None
    return ResidentProfile(
        id=resident.public_id,
        created_at=resident.created_at,
        channels=sorted(
            {ChannelAccount(i.channel, i.app_id) for i in resident.identities}, key=lambda a: (a.channel, a.app_id)
        ),
        real_name_verified=resident.real_name_verified_at is not None,
        name=mask_name(name) if name else None,
        id_number=mask_id_number(id_number) if id_number else None,
        assurance_level=resident.assurance_level,
        verified_at=resident.real_name_verified_at,
        phone=mask_phone(phone) if phone else None,
    )
