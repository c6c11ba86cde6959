"""Staff accounts at the identity layer: the audit of a creation, listing, unlocking and the lock's Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from errors import Forbidden
from errors import Invalid
from errors import TooManyRequests
from errors import Unauthenticated
from identity.attempt_counts import DatabaseAttempts
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import LOCKOUT
from identity.staff import MAX_FAILED_LOGINS
from identity.staff import MAX_FAILED_LOGINS_PER_ADDRESS
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import create_staff_member
from identity.staff import list_staff_members
from identity.staff import log_in
from identity.staff import mask_username
from identity.staff import unlock_username

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    yield db
    db.close()
    engine.dispose()


def counter(session: Session) -> DatabaseAttempts:
    """The database's attempt counter, as the app wires it without Redis."""
    return DatabaseAttempts(session.get_bind(), b"s" * 32)  # type: ignore[arg-type]


def attempt(session: Session, password: str, now: datetime):  # type: ignore[no-untyped-def]
    """A login as root from one address."""
    return log_in(
        session, "root", password, source="192.0.2.1", attempts=counter(session), now=now, lifetime=timedelta(hours=1)
    )


def admin(session: Session):  # type: ignore[no-untyped-def]
    with transaction(session):
        return create_staff_member(session, NewStaffMember("root", "Root", PASSWORD, "platform_admin"), now=NOW)


def test_creating_a_staff_member_audits_the_whole_account_without_the_password(session: Session) -> None:
    new = NewStaffMember("wei.li", "Li Wei", PASSWORD, "channel_admin", channels=("alipay",))
    add_staff_member(session, admin(session), new, reason="hired", now=NOW, served_cities=())
    entry = session.scalar(select(AuditEntry))
    assert (entry.action, entry.target, entry.reason, entry.actor_username) == (
        "staff.created",
        "staff/wei.li",
        "hired",
        "root",
    )
    assert entry.before is None
    assert entry.after == {
        "username": "wei.li",
        "display_name": "Li Wei",
        "role": "channel_admin",
        "cities": [],
        "channels": ["alipay"],
        "active": True,
    }


def test_staff_are_listed_by_username(session: Session) -> None:
    root = admin(session)
    for username in ("zoe", "ada", "mia"):
        add_staff_member(
            session,
            root,
            NewStaffMember(username, username, PASSWORD, "platform_admin"),
            reason="r",
            now=NOW,
            served_cities=(),
        )
    assert [s.username for s in list_staff_members(session, root)] == ["ada", "mia", "root", "zoe"]


def test_unlocking_a_username_lets_its_owner_in_at_once(session: Session) -> None:
    admin(session)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(Unauthenticated):
            attempt(session, "wrong password!", NOW)
    with pytest.raises(TooManyRequests):
        attempt(session, PASSWORD, NOW)
    unlock_username(counter(session), "root")
    assert attempt(session, PASSWORD, NOW).staff.username == "root"


def test_a_lock_about_to_end_still_asks_for_at_least_a_second(session: Session) -> None:
    admin(session)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(Unauthenticated):
            attempt(session, "wrong password!", NOW)
    almost = NOW + LOCKOUT - timedelta(milliseconds=200)
    with pytest.raises(TooManyRequests) as locked:
        attempt(session, PASSWORD, almost)
    assert locked.value.retry_after == 1 and locked.value.code == "auth.locked"
    with pytest.raises(TooManyRequests) as early:
        attempt(session, PASSWORD, NOW + timedelta(minutes=5))
    assert early.value.retry_after == int((LOCKOUT - timedelta(minutes=5)).total_seconds())


def test_an_audit_entry_needs_a_reason_and_keeps_it_trimmed(session: Session) -> None:
    root = admin(session)
    for blank in ("", "   ", "x" * 501):
        with pytest.raises(Invalid) as refused:
            record_staff_action(session, root, action="staff.created", target="staff/x", reason=blank, at=NOW)
        assert refused.value.code == "audit.reason_required" and refused.value.message == reason_problem(blank)
    entry = record_staff_action(session, root, action="staff.created", target="staff/x", reason="  hired  ", at=NOW)
    assert entry.reason == "hired"


def test_only_a_platform_admin_adds_staff_and_says_why(session: Session) -> None:
    root = admin(session)
    new = NewStaffMember("wei.li", "Li Wei", PASSWORD, "city_operator", cities=("330100",))
    with transaction(session):
        operator = create_staff_member(
            session, NewStaffMember("operator", "Op", PASSWORD, "city_operator", cities=("330100",)), now=NOW
        )
    with pytest.raises(Forbidden):
        add_staff_member(session, operator, new, reason="hired", now=NOW, served_cities=("330100",))
    with pytest.raises(Invalid) as no_reason:
        add_staff_member(session, root, new, reason=" ", now=NOW, served_cities=("330100",))
    assert (no_reason.value.code, no_reason.value.message) == ("staff.reason_required", reason_problem(" "))
    with pytest.raises(Invalid) as unknown:
        add_staff_member(session, root, new, reason="hired", now=NOW, served_cities=("310000",))
    assert (unknown.value.code, unknown.value.details) == ("staff.unknown_city", {"cities": ["330100"]})
    with pytest.raises(Invalid) as weak:
        add_staff_member(session, root, replace(new, password="short"), reason="hired", now=NOW, served_cities=())
    assert weak.value.code == "staff.weak_password"
    session.rollback()
    assert session.scalar(select(StaffMember).where(StaffMember.username == "wei.li")) is None
    assert session.scalar(select(AuditEntry)) is None
    added = add_staff_member(session, root, new, reason="hired", now=NOW, served_cities=("330100", "310000"))
    session.rollback()
    assert session.get(StaffMember, added.id).cities == ["330100"]


class Events(logging.Handler):
    """The lockout events of the security log (the app's logging setup may stop propagation to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lockouts: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "lockout":
            self.lockouts.append(record)


@pytest.fixture
def security_events() -> Iterator[Events]:
    logger = logging.getLogger("citytiles.security")
    events = Events()
    logger.addHandler(events)
    yield events
    logger.removeHandler(events)


def test_a_username_lockout_is_logged_once_when_it_begins(session: Session, security_events: Events) -> None:
    admin(session)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(Unauthenticated):
            attempt(session, "wrong password!", NOW)
    assert security_events.lockouts == []
    with pytest.raises(TooManyRequests):
        attempt(session, PASSWORD, NOW)
    [event] = security_events.lockouts
    assert (event.code, event.source, event.username) == ("auth.locked", "192.0.2.1", "r…(4)")
    assert event.until == (NOW + LOCKOUT).isoformat()
    with pytest.raises(TooManyRequests):
        attempt(session, PASSWORD, NOW)
    assert len(security_events.lockouts) == 1


def test_an_address_lockout_is_logged_once_without_a_username(session: Session, security_events: Events) -> None:
    admin(session)
    attempts = counter(session)
    later = NOW + timedelta(minutes=1)
    for i in range(MAX_FAILED_LOGINS_PER_ADDRESS + 2):
        try:
            log_in(
                session,
                f"guess-{i}",
                "guess",
                source="192.0.2.9",
                attempts=attempts,
                now=later,
                lifetime=timedelta(hours=1),
            )
        except Unauthenticated:
            assert i < MAX_FAILED_LOGINS_PER_ADDRESS
        except TooManyRequests as refused:
            assert i >= MAX_FAILED_LOGINS_PER_ADDRESS and refused.code == "auth.too_many_attempts"
            assert refused.retry_after == LOCKOUT.total_seconds()
    [event] = security_events.lockouts
    assert (event.code, event.source, event.username) == ("auth.too_many_attempts", "192.0.2.9", None)
    assert event.until == (later + LOCKOUT).isoformat()


def test_a_masked_username_keeps_its_first_character_and_length() -> None:
    assert mask_username("wei.li") == "w…(6)"
    assert mask_username("") == "…(0)"


def test_the_limits_of_a_new_account_are_inclusive() -> None:
    from identity.staff import MAX_SCOPE_CITIES
    from identity.staff import MIN_DISTINCT_PASSWORD_CHARACTERS
    from identity.staff import MIN_PASSWORD_LENGTH
    from identity.staff import check_new_staff_member

    cities = tuple(f"{330100 + n:06d}" for n in range(MAX_SCOPE_CITIES))
    check_new_staff_member(NewStaffMember("operator", "Op", PASSWORD, "city_operator", cities=cities))
    with pytest.raises(Invalid) as too_many:
        check_new_staff_member(NewStaffMember("operator", "Op", PASSWORD, "city_operator", cities=(*cities, "440300")))
    assert too_many.value.code == "staff.invalid_scope"
    shortest = "abcdef" + "a" * (MIN_PASSWORD_LENGTH - 6)  # just long enough, just varied enough
    assert len(set(shortest)) == MIN_DISTINCT_PASSWORD_CHARACTERS
    check_new_staff_member(NewStaffMember("operator", "Op", f"  {shortest}  ", "platform_admin"))
    for weak in (shortest[:-1], "abcde" + "a" * MIN_PASSWORD_LENGTH):
        with pytest.raises(Invalid) as refused:
            check_new_staff_member(NewStaffMember("operator", "Op", weak, "platform_admin"))
        assert refused.value.code == "staff.weak_password"


def test_an_unknown_role_names_the_known_ones() -> None:
    from identity.models import ROLES
    from identity.staff import check_new_staff_member

    with pytest.raises(Invalid) as refused:
        check_new_staff_member(NewStaffMember("operator", "Op", PASSWORD, "superuser"))
    assert (refused.value.code, refused.value.details) == ("staff.unknown_role", {"role": list(ROLES)})


def test_a_new_account_is_active(session: Session) -> None:
    with transaction(session):
        member = create_staff_member(session, NewStaffMember("new.one", "New", PASSWORD, "platform_admin"), now=NOW)
    session.expire_all()
    assert session.scalar(select(StaffMember.active).where(StaffMember.id == member.id)) is True
