"""Re-sealing personal data under the active vault key, after a new key is added."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.phones import PHONE
from identity.real_name import ID_NUMBER
from identity.real_name import REAL_NAME
from identity.residents import CHANNEL_SECRET
from identity.vault import Vault

# model -> (column, vault purpose) for every sealed column.
SEALED_COLUMNS: dict[Any, tuple[tuple[str, str], ...]] = {
    Resident: (("real_name_sealed", REAL_NAME), ("id_number_sealed", ID_NUMBER), ("phone_sealed", PHONE)),
    ChannelIdentity: (("channel_secret_sealed", CHANNEL_SECRET),),
}
BATCH = 500


def reseal_personal_data(
    session: Session, vault: Vault, sealed_columns: Mapping[Any, tuple[tuple[str, str], ...]] = SEALED_COLUMNS
) -> int:
    """Re-encrypt every value sealed with an old key; returns how many values changed. Safe to re-run.

    :param sealed_columns: identity's own, and other packages' (wiring adds them), model -> (column, purpose).
    """
    changed = 0
    for model, columns in sealed_columns.items():
        last_id = 0
        while True:
            with transaction(session):
                rows = session.scalars(
                    select(model).where(model.id > last_id).order_by(model.id).limit(BATCH).with_for_update()
                ).all()
                for row in rows:
                    for column, purpose in columns:
                        sealed = getattr(row, column)
                        if sealed and vault.needs_resealing(sealed):
                            setattr(row, column, vault.seal(purpose, vault.open(purpose, sealed)))
                            changed += 1
            if len(rows) < BATCH:
                break
            last_id = rows[-1].id
    return changed
