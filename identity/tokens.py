"""Bearer tokens: random, stored only as a hash, expiring and revocable at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from errors import Unauthenticated
from identity.models import AccessToken

TOKEN_PREFIX = "ctk_"
# Dead tokens are deleted a day after they expire (a revoked token expires like any other), a
# batch at each login, so the table holds only what could still be presented.
KEPT_AFTER_EXPIRY = timedelta(days=1)
PURGE_BATCH = 100


@dataclass(frozen=True)
class IssuedToken:
    """The token text, shown once to its holder, and when it stops working."""

    token: str
    expires_at: datetime


def issue_token(
    session: Session,
    *,
    now: datetime,
    lifetime: timedelta,
    staff_id: int | None = None,
    resident_id: int | None = None,
    channel_identity_id: int | None = None,
) -> IssuedToken:
    """Create a token for a staff member or a resident; the caller's transaction stores it."""
    _purge_dead_tokens(session, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(
        AccessToken(
            token_hash=_digest(token),
            staff_id=staff_id,
            resident_id=resident_id,
            channel_identity_id=channel_identity_id,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    return IssuedToken(token=token, expires_at=expires_at)


def find_live_token(session: Session, token: str, now: datetime) -> AccessToken:
    """Return the stored token if it exists, is unexpired and unrevoked, else raise Unauthenticated."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("auth.invalid_token", "The access token is not valid.")
    stored = session.scalar(select(AccessToken).where(AccessToken.token_hash == _digest(token)))
    if stored is None or stored.revoked_at is not None:
        raise Unauthenticated("auth.invalid_token", "The access token is not valid.")
    if stored.expires_at <= now:
        raise Unauthenticated("auth.token_expired", "The access token has expired; log in again.")
    return stored


def revoke_all_for_resident(session: Session, resident_id: int, now: datetime) -> None:
    """Stop every token of a resident from working."""
    session.execute(
        update(AccessToken)
        .where(AccessToken.resident_id == resident_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all_for_staff(session: Session, staff_id: int, now: datetime) -> None:
    """Stop every token of a staff member from working."""
    session.execute(
        update(AccessToken)
        .where(AccessToken.staff_id == staff_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke(token: AccessToken, now: datetime) -> None:
    """Stop a token from working from this moment on."""
    if token.revoked_at is None:
        token.revoked_at = now


def _purge_dead_tokens(session: Session, now: datetime) -> None:
    """Delete a batch of tokens long expired; rows another login is deleting are skipped, not waited for."""
    dead = (
        select(AccessToken.id)
        .where(AccessToken.expires_at < now - KEPT_AFTER_EXPIRY)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(AccessToken).where(AccessToken.id.in_(dead.scalar_subquery())))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
