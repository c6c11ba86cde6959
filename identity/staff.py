"""Staff accounts: creating, rescoping, disabling and unlocking them; logging in and out."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from database import transaction
from errors import Conflict
from errors import Invalid
from errors import NotFound
from errors import TooManyRequests
from errors import Unauthenticated
from identity.attempts import AttemptCounter
from identity.attempts import AttemptKey
from identity.attempts import Tally
from identity.attempts import source_of
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import ROLES
from identity.models import StaffMember
from identity.passwords import hash_password
from identity.passwords import password_matches
from identity.roles import authorise
from identity.tokens import IssuedToken
from identity.tokens import find_live_token
from identity.tokens import issue_token
from identity.tokens import revoke
from identity.tokens import revoke_all_for_staff
from text_rules import CITY_CODE
from text_rules import matches
from text_rules import refused_characters
from text_rules import text_problem

# Failed logins allowed per username from one address, and from one address in all, per window.
MAX_FAILED_LOGINS = 5
MAX_FAILED_LOGINS_PER_ADDRESS = 20
LOCKOUT = timedelta(minutes=15)
USERNAME_LIMIT = "staff_login.username"
ADDRESS_LIMIT = "staff_login.address"
security_log = logging.getLogger("citytiles.security")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# "aaaaaaaaaaaa" and "abababababab" are not passwords.
MIN_DISTINCT_PASSWORD_CHARACTERS = 6
MAX_SCOPE_CITIES = 50
# The channels a channel admin can be scoped to; city_services.models.CHANNELS names the same two.
SCOPE_CHANNELS = ("wechat", "alipay")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
MAX_DISPLAY_NAME_LENGTH = 128


@dataclass(frozen=True)
class NewStaffMember:
    """What it takes to create a staff account."""

    username: str
    display_name: str
    password: str
    role: str
    cities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaffLogin:
    """A successful login: the token and whom it belongs to."""

    token: IssuedToken
    staff: StaffMember


def create_staff_member(session: Session, new: NewStaffMember, *, now: datetime) -> StaffMember:
    """Add a staff account after checking its role, scope and password; the caller commits."""
    check_new_staff_member(new)
    staff = StaffMember(
        username=new.username,
        display_name=new.display_name,
        password_hash=hash_password(new.password),
        role=new.role,
        cities=list(new.cities),
        channels=list(new.channels),
        active=True,
        created_at=now,
    )
    # The unique username decides between two creations racing on another connection; the loser
    # gets the same answer as if it had come second.
    try:
        with session.begin_nested():
            session.add(staff)
    except IntegrityError:
        raise Conflict("staff.username_taken", f"Username {new.username!r} is already taken.") from None
    return staff


def add_staff_member(
    session: Session,
    actor: StaffMember,
    new: NewStaffMember,
    *,
    reason: str,
    now: datetime,
    served_cities: Collection[str],
) -> StaffMember:
    """Create a staff account on a platform admin's behalf, with an audit entry; cities must be ones we serve."""
    authorise(actor, "staff.manage")
    problem = reason_problem(reason)
    if problem:
        raise Invalid("staff.reason_required", problem)
    check_new_staff_member(new)
    _check_served(new.cities, served_cities)
    with transaction(session):
        staff = create_staff_member(session, new, now=now)
        record_staff_action(
            session,
            actor,
            action="staff.created",
            target=f"staff/{staff.username}",
            reason=reason,
            at=now,
            after=describe_staff_member(staff),
        )
    return staff


def check_new_staff_member(new: NewStaffMember) -> None:
    """Raise Invalid when the username, name, password, role or scope of a new account is not acceptable."""
    if not matches(_USERNAME, new.username):
        raise Invalid(
            "staff.invalid_username",
            "A username is 3 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
        )
    if text_problem(new.display_name, max_length=MAX_DISPLAY_NAME_LENGTH):
        raise Invalid(
            "staff.invalid_display_name",
            f"A display name is one line of 1 to {MAX_DISPLAY_NAME_LENGTH} characters, not blank.",
        )
    if new.role not in ROLES:
        raise Invalid("staff.unknown_role", f"Unknown role {new.role!r}.", {"role": list(ROLES)})
    password_problem = _password_problem(new.password)
    if password_problem:
        raise Invalid("staff.weak_password", password_problem)
    _check_scope(new.role, new.cities, new.channels)


def _password_problem(password: object) -> str | None:
    """Why a new password is not real content (blank padding, too few distinct characters, control characters)."""
    if not isinstance(password, str) or refused_characters(password):
        return "Passwords may not hold control or invisible characters."
    if len(password.strip()) < MIN_PASSWORD_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return (
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters, not counting outer spaces,"
            f" and at most {MAX_PASSWORD_LENGTH}."
        )
    if len(set(password)) < MIN_DISTINCT_PASSWORD_CHARACTERS:
        return f"Passwords need at least {MIN_DISTINCT_PASSWORD_CHARACTERS} different characters."
    return None


def _check_scope(role: str, cities: Sequence[str], channels: Sequence[str]) -> None:
    """A city operator has cities, a channel admin channels; each listed once, well-formed, and not too many."""
    if role == "city_operator" and not cities:
        raise Invalid("staff.scope_required", "A city operator needs at least one city.")
    if role == "channel_admin" and not channels:
        raise Invalid("staff.scope_required", "A channel admin needs at least one channel.")
    if role != "city_operator" and cities or role != "channel_admin" and channels:
        raise Invalid("staff.scope_not_allowed", f"A {role} is not scoped to cities or channels.")
    if len(cities) > MAX_SCOPE_CITIES:
        raise Invalid("staff.invalid_scope", f"At most {MAX_SCOPE_CITIES} cities per operator.")
    if any(not matches(CITY_CODE, city) for city in cities):
        raise Invalid("staff.invalid_scope", "Cities are 6-digit division codes.")
    if any(channel not in SCOPE_CHANNELS for channel in channels):
        raise Invalid("staff.invalid_scope", f"Channels are {' or '.join(SCOPE_CHANNELS)}.")
    if len(set(cities)) != len(cities) or len(set(channels)) != len(channels):
        raise Invalid("staff.invalid_scope", "List each city and channel once.")


def _check_served(cities: Sequence[str], served_cities: Collection[str]) -> None:
    """Raise Invalid when a city in a scope is not one citytiles serves."""
    unknown = [city for city in cities if city not in served_cities]
    if unknown:
        raise Invalid("staff.unknown_city", f"citytiles does not serve {', '.join(unknown)}.", {"cities": unknown})


def list_staff_members(session: Session, actor: StaffMember) -> Sequence[StaffMember]:
    """All staff accounts, for a platform admin."""
    authorise(actor, "staff.manage")
    return session.scalars(select(StaffMember).order_by(StaffMember.username)).all()


def log_in(
    session: Session,
    username: str,
    password: str,
    *,
    source: str | None,
    attempts: AttemptCounter,
    now: datetime,
    lifetime: timedelta,
) -> StaffLogin:
    """Check a username and password and issue a token, within the limits on the address it came from.

    :param source: the client's address; failures lock a username only for the address they came
        from, so nobody can keep a staff member locked out from elsewhere.
    """
    # Each attempt is counted before the password is checked, so attempts made in parallel cannot
    # all pass a check made before any of them failed; a good login takes its attempts back.
    where = source_of(source)
    from_address = AttemptKey(ADDRESS_LIMIT, where)
    tally = attempts.count(from_address, window=LOCKOUT, now=now)
    if tally.exceeds(MAX_FAILED_LOGINS_PER_ADDRESS):
        _log_lockout(tally, MAX_FAILED_LOGINS_PER_ADDRESS, "auth.too_many_attempts", where, None)
        raise TooManyRequests(
            "auth.too_many_attempts",
            "Too many failed logins from your address; try again later.",
            retry_after=tally.retry_after(now),
        )
    as_username = AttemptKey(USERNAME_LIMIT, username, where)
    tally = attempts.count(as_username, window=LOCKOUT, now=now)
    if tally.exceeds(MAX_FAILED_LOGINS):
        _log_lockout(tally, MAX_FAILED_LOGINS, "auth.locked", where, username)
        raise TooManyRequests(
            "auth.locked", "Too many failed logins; try again later.", retry_after=tally.retry_after(now)
        )
    # Unknown usernames are counted like known ones, and every checked attempt hashes once, so
    # neither the answers nor their timing tell which usernames exist.
    staff = session.scalar(select(StaffMember).where(StaffMember.username == username))
    matches = password_matches(password, staff.password_hash if staff else _unknown_user_hash())
    if staff is None or not staff.active or not matches:
        raise Unauthenticated("auth.invalid_credentials", "Wrong username or password.")
    with transaction(session):
        token = issue_token(session, now=now, lifetime=lifetime, staff_id=staff.id)
    attempts.clear(USERNAME_LIMIT, username, where)
    attempts.forgive(from_address, now=now)
    return StaffLogin(token=token, staff=staff)


def unlock_username(attempts: AttemptCounter, username: str) -> None:
    """Lift the lock failed logins put on a username, for every address."""
    attempts.clear(USERNAME_LIMIT, username)


def unlock_address(attempts: AttemptCounter, address: str) -> None:
    """Lift the lock failed logins put on an address."""
    attempts.clear(ADDRESS_LIMIT, source_of(address))


def _log_lockout(tally: Tally, limit: int, code: str, source: str, username: str | None) -> None:
    """A security event the first time a window's attempts pass the limit: the address and a masked username."""
    if tally.count != limit + 1:
        return
    security_log.warning(
        "lockout",
        extra={
            "code": code,
            "source": source,
            "username": mask_username(username) if username is not None else None,
            "until": tally.window_ends_at.isoformat(),
        },
    )


def mask_username(username: str) -> str:
    """The first character and the length: enough to tell attacks apart, not to recover a mistyped password."""
    return f"{username[:1]}…({len(username)})"


def staff_for_token(session: Session, token: str, *, now: datetime) -> StaffMember:
    """The active staff member a bearer token belongs to, or Unauthenticated."""
    stored = find_live_token(session, token, now)
    staff = session.get(StaffMember, stored.staff_id) if stored.staff_id is not None else None
    if staff is None or not staff.active:
        raise Unauthenticated("auth.invalid_token", "The access token is not valid.")
    return staff


def disable_staff_member(
    session: Session, actor: StaffMember, username: str, *, reason: str, now: datetime
) -> StaffMember:
    """Stop an account on a platform admin's behalf: it cannot log in, and every token it holds stops at once."""
    authorise(actor, "staff.manage")
    problem = reason_problem(reason)
    if problem:
        raise Invalid("staff.reason_required", problem)
    if username == actor.username:
        raise Conflict("staff.cannot_disable_self", "You cannot disable your own account.")
    with transaction(session):
        staff = _staff_named(session, username, lock=True)
        before = describe_staff_member(staff)
        if staff.active:
            staff.active = False
            revoke_all_for_staff(session, staff.id, now)
            record_staff_action(
                session,
                actor,
                action="staff.disabled",
                target=f"staff/{staff.username}",
                reason=reason,
                at=now,
                before=before,
                after=describe_staff_member(staff),
            )
    return staff


def rescope_staff_member(
    session: Session,
    actor: StaffMember,
    username: str,
    *,
    cities: Sequence[str] | None,
    channels: Sequence[str] | None,
    reason: str,
    now: datetime,
    served_cities: Collection[str],
) -> StaffMember:
    """Change the cities or channels an account works in, on a platform admin's behalf (audited).

    :param cities: the whole new list, or None to keep the current one; likewise `channels`.
    """
    authorise(actor, "staff.manage")
    problem = reason_problem(reason)
    if problem:
        raise Invalid("staff.reason_required", problem)
    with transaction(session):
        staff = _staff_named(session, username, lock=True)
        if staff.role == "platform_admin":
            raise Conflict("staff.not_scoped", "A platform admin works everywhere; there is no scope to change.")
        new_cities = list(staff.cities if cities is None else cities)
        new_channels = list(staff.channels if channels is None else channels)
        _check_scope(staff.role, new_cities, new_channels)
        _check_served(new_cities, served_cities)
        before = describe_staff_member(staff)
        # The role checks read these columns on every request, so the tokens the member already
        # holds follow the new scope from their next request on.
        staff.cities = new_cities
        staff.channels = new_channels
        record_staff_action(
            session,
            actor,
            action="staff.rescoped",
            target=f"staff/{staff.username}",
            reason=reason,
            at=now,
            before=before,
            after=describe_staff_member(staff),
        )
    return staff


def unlock_staff_member(
    session: Session, actor: StaffMember, attempts: AttemptCounter, username: str, *, reason: str, now: datetime
) -> StaffMember:
    """Lift the lock failed logins put on an account, from every address, on a platform admin's behalf (audited)."""
    authorise(actor, "staff.manage")
    problem = reason_problem(reason)
    if problem:
        raise Invalid("staff.reason_required", problem)
    with transaction(session):
        staff = _staff_named(session, username)
        record_staff_action(
            session, actor, action="staff.unlocked", target=f"staff/{staff.username}", reason=reason, at=now
        )
    unlock_username(attempts, staff.username)
    return staff


def _staff_named(session: Session, username: str, *, lock: bool = False) -> StaffMember:
    """The account with this username, or NotFound."""
    query = select(StaffMember).where(StaffMember.username == username)
    staff = session.scalar(query.with_for_update() if lock else query)
    if staff is None:
        raise NotFound("staff.not_found", "No staff member has that username.")
    return staff


def log_out(session: Session, token: str, *, now: datetime) -> None:
    """Revoke a token at once."""
    with transaction(session):
        revoke(find_live_token(session, token, now), now)


def describe_staff_member(staff: StaffMember) -> dict[str, object]:
    """The parts of an account worth showing and auditing (never the password hash)."""
    return {
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role,
        "cities": list(staff.cities),
        "channels": list(staff.channels),
        "active": staff.active,
    }


@cache
def _unknown_user_hash() -> str:
    """A hash to compare against when the username is unknown, so both failures take as long."""
    return hash_password("no-such-staff-member-password")
