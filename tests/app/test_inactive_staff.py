"""A deactivated staff account can neither log in nor keep using a token it already holds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import StaffMember
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api


def deactivate(session: Session, username: str) -> None:
    staff = session.scalar(select(StaffMember).where(StaffMember.username == username))
    staff.active = False
    session.commit()


def test_an_inactive_staff_member_cannot_log_in_with_the_right_password(api: Api, make_staff, session: Session) -> None:
    make_staff("ada", "platform_admin")
    deactivate(session, "ada")
    body = api.post("/admin/api/sessions", json={"username": "ada", "password": STAFF_PASSWORD}, expected=401)
    assert body["error"]["code"] == "auth.invalid_credentials"
    assert "token" not in body


def test_an_inactive_staff_members_tokens_stop_working_at_once(api: Api, make_staff, session: Session) -> None:
    token = make_staff("ada", "platform_admin")
    other = make_staff("grace", "platform_admin")
    api.get("/admin/api/me", token=token)
    deactivate(session, "ada")
    assert api.get("/admin/api/me", token=token, expected=401)["error"]["code"] == "auth.invalid_token"
    assert api.get("/admin/api/staff", token=token, expected=401)["error"]["code"] == "auth.invalid_token"
    assert api.get("/admin/api/me", token=other)["username"] == "grace"
