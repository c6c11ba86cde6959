"""Staff accounts at the identity layer: the audit of a creation, listing, unlocking and the lock's Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from errors import TooManyRequests
from errors import Unauthenticated
from identity.attempt_counts import DatabaseAttempts
from identity.models import AuditEntry
from identity.staff import LOCKOUT
from identity.staff import MAX_FAILED_LOGINS
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import create_staff_member
from identity.staff import list_staff_members
from identity.staff import log_in
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
