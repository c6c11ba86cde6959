"""Residents: signing in through a channel, sessions, the profile, and erasure."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from database import transaction
from errors import Conflict
from errors import TooManyRequests
from errors import Unauthenticated
from identity.attempts import AttemptCounter
from identity.attempts import AttemptKey
from identity.attempts import source_of
from identity.merging import merge_residents
from identity.models import AccessToken
from identity.models import ChannelIdentity
from identity.models import ChannelUnion
from identity.models import Resident
from identity.people import Eraser
from identity.people import person_ids
from identity.ports import ChannelLogin
from identity.ports import ChannelUser
from identity.tokens import IssuedToken
from identity.tokens import find_live_token
from identity.tokens import issue_token
from identity.tokens import revoke
from identity.tokens import revoke_all_for_resident
from identity.vault import Vault

CHANNEL_SECRET = "channel_identity.secret"
MAX_FAILED_LOGINS_PER_ADDRESS = 50
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LIMIT = "resident_login.address"
log = logging.getLogger("citytiles.identity")
security_log = logging.getLogger("citytiles.security")


@dataclass(frozen=True)
class ResidentSession:
    """A signed-in resident: the token to send back and whom it belongs to."""

    token: IssuedToken
    resident: Resident


@dataclass(frozen=True)
class SignedIn:
    """The resident behind a request's token, and the channel identity they came through."""

    resident: Resident
    identity: ChannelIdentity | None
    token: AccessToken


def sign_in(
    session: Session,
    login: ChannelLogin,
    code: str,
    *,
    source: str | None,
    attempts: AttemptCounter,
    vault: Vault,
    now: datetime,
    lifetime: timedelta,
) -> ResidentSession:
    """Exchange a channel login code and sign the resident in, creating them on first sight."""
    # Every exchange costs the app's channel quota, shared by all its residents: guessed codes from
    # one address are limited, and a good login takes its attempt back. Many residents share one
    # carrier address, so the allowance counts failures only, and generously.
    from_address = AttemptKey(LOGIN_LIMIT, login.app_id, source_of(source))
    tally = attempts.count(from_address, window=LOGIN_WINDOW, now=now)
    if tally.exceeds(MAX_FAILED_LOGINS_PER_ADDRESS):
        if tally.count == MAX_FAILED_LOGINS_PER_ADDRESS + 1:  # once per window, not once per refusal
            security_log.warning("lockout", extra={"limit": LOGIN_LIMIT, "source": from_address.source})
        raise TooManyRequests(
            "session.too_many_attempts",
            "Too many failed logins from your address; try again later.",
            retry_after=tally.retry_after(now),
        )
    # The channel call happens before any transaction opens, so no row waits on the network.
    user = login.exchange_code(code)
    attempts.forgive(from_address, now=now)
    with transaction(session):
        # Locked, so a merge committing meanwhile cannot leave this login on the merged resident.
        identity = _find_identity(session, user, lock=True) or _add_identity(session, user, now)
        identity.last_login_at = now
        if user.unionid and identity.unionid != user.unionid:
            identity.unionid = user.unionid
            _join_union(session, identity, user.unionid, now)
        if user.secret:
            identity.channel_secret_sealed = vault.seal(CHANNEL_SECRET, user.secret)
        token = issue_token(
            session, now=now, lifetime=lifetime, resident_id=identity.resident_id, channel_identity_id=identity.id
        )
    return ResidentSession(token=token, resident=identity.resident)


def follow(session: Session, user: ChannelUser, *, now: datetime) -> ChannelIdentity:
    """The channel identity of an account's follower, created on first sight: a resident, with no token.

    Chat answers in the channel, so nothing is issued; a unionid joins the follower to the resident
    who logged in through another app of the channel, as a login does.
    """
    with transaction(session):
        identity = _find_identity(session, user, lock=True) or _add_identity(session, user, now)
        if user.unionid and identity.unionid != user.unionid:
            identity.unionid = user.unionid
            _join_union(session, identity, user.unionid, now)
    return identity


def signed_in_resident(session: Session, token: str, *, now: datetime) -> SignedIn:
    """The live resident a bearer token belongs to, or Unauthenticated."""
    stored = find_live_token(session, token, now)
    resident = session.get(Resident, stored.resident_id) if stored.resident_id is not None else None
    # Merges move tokens; one issued in the instant of a merge still reaches the surviving resident.
    for _ in range(3):
        if resident is None or resident.merged_into_id is None:
            break
        resident = session.get(Resident, resident.merged_into_id)
    if resident is None or resident.erased_at is not None or resident.merged_into_id is not None:
        raise Unauthenticated("auth.invalid_token", "The access token is not valid.")
    identity = session.get(ChannelIdentity, stored.channel_identity_id) if stored.channel_identity_id else None
    return SignedIn(resident=resident, identity=identity, token=stored)


def sign_out(session: Session, token: str, *, now: datetime) -> None:
    """Revoke the token at once."""
    with transaction(session):
        revoke(find_live_token(session, token, now), now)


def channel_account(identity: ChannelIdentity) -> str:
    """The channel account an identity is, as the subject of an allowance: it survives the resident's erasure."""
    return f"{identity.channel}\x1f{identity.app_id}\x1f{identity.external_id}"


def channel_secret(identity: ChannelIdentity, vault: Vault) -> str | None:
    """The channel's session secret for an identity, opened only when a channel call needs it."""
    return vault.open(CHANNEL_SECRET, identity.channel_secret_sealed) if identity.channel_secret_sealed else None


def erase_resident(session: Session, resident: Resident, *, now: datetime, erasers: Sequence[Eraser] = ()) -> None:
    """Erase a resident's personal data, channel accounts and tokens; each package erases its own data too."""
    # The row stays, anonymised: consent records (and, later, payments) must be kept.
    with transaction(session):
        lock_live_resident(session, resident.id)
        everyone = person_ids(session, resident.id)
        for erase in erasers:
            # In the same transaction: a person is erased everywhere or nowhere.
            erase(session, everyone, now)
        revoke_all_for_resident(session, resident.id, now)
        session.execute(delete(ChannelIdentity).where(ChannelIdentity.resident_id == resident.id))
        session.execute(delete(ChannelUnion).where(ChannelUnion.resident_id == resident.id))
        resident.real_name_sealed = None
        resident.id_number_sealed = None
        resident.id_number_lookup = None
        resident.phone_sealed = None
        resident.phone_lookup = None
        resident.assurance_level = "none"
        resident.real_name_verified_at = None
        resident.real_name_verified_by = None
        resident.erased_at = now
    session.expire(resident, ["identities"])


def lock_live_resident(session: Session, resident_id: int) -> Resident:
    """The resident's row, locked for this transaction; Conflict if it was erased or merged meanwhile."""
    resident = session.scalar(
        select(Resident).where(Resident.id == resident_id).with_for_update().execution_options(populate_existing=True)
    )
    if resident is None or resident.erased_at is not None or resident.merged_into_id is not None:
        raise Conflict(
            "identity.resident_changed", "This account was erased or joined with another meanwhile; log in again."
        )
    return resident


def _join_union(session: Session, identity: ChannelIdentity, unionid: str, now: datetime) -> None:
    """Record whose unionid this is; if another resident holds it, the two are one person and merge."""
    try:
        with session.begin_nested():
            session.add(ChannelUnion(channel=identity.channel, unionid=unionid, resident_id=identity.resident_id))
        return
    except IntegrityError:
        pass
    holder_id = session.scalar(
        select(ChannelUnion.resident_id).where(
            ChannelUnion.channel == identity.channel, ChannelUnion.unionid == unionid
        )
    )
    if holder_id is None or holder_id == identity.resident_id:
        return
    survivor, merged = lock_live_resident(session, holder_id), lock_live_resident(session, identity.resident_id)
    if survivor.id_number_lookup and merged.id_number_lookup and survivor.id_number_lookup != merged.id_number_lookup:
        # The channel says one person, their verified ID numbers say two: leave both as they are.
        log.warning("unionid shared by residents with different verified ID numbers; not merged")
        return
    if merged.id_number_lookup and not survivor.id_number_lookup:
        survivor, merged = merged, survivor
    merge_residents(session, survivor=survivor, merged=merged, reason="same_unionid", now=now)
    session.refresh(identity)


def _find_identity(session: Session, user: ChannelUser, *, lock: bool = False) -> ChannelIdentity | None:
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == user.channel,
        ChannelIdentity.app_id == user.app_id,
        ChannelIdentity.external_id == user.external_id,
    )
    return session.scalar(query.with_for_update() if lock else query)


def _add_identity(session: Session, user: ChannelUser, now: datetime) -> ChannelIdentity:
    """Create the identity, joining the resident who holds the same unionid in another app of the channel.

    Two first logins can race: the same user in one app (the identity's unique key decides), or
    one person through two apps (the union row's key decides). The loser's savepoint is undone
    and it takes what the winner stored.
    """
    for attempt in range(2):
        holder = None
        if user.unionid:
            holder = session.scalar(
                select(ChannelUnion.resident_id).where(
                    ChannelUnion.channel == user.channel, ChannelUnion.unionid == user.unionid
                )
            )
        try:
            with session.begin_nested():
                resident = session.get(Resident, holder) if holder is not None else None
                if resident is None:
                    resident = Resident(
                        public_id="r_" + secrets.token_urlsafe(12), created_at=now, assurance_level="none"
                    )
                    session.add(resident)
                    if user.unionid:
                        session.add(ChannelUnion(channel=user.channel, unionid=user.unionid, resident=resident))
                identity = ChannelIdentity(
                    resident=resident,
                    channel=user.channel,
                    app_id=user.app_id,
                    external_id=user.external_id,
                    unionid=user.unionid,
                    created_at=now,
                    last_login_at=now,
                )
                session.add(identity)
                session.flush()
            return identity
        except IntegrityError:
            winner = _find_identity(session, user)
            if winner is not None:
                return winner
            if attempt:
                raise
    raise AssertionError("unreachable")
