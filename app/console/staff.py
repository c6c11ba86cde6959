"""Platform admins' pages for staff accounts: list, create with role and scope, rescope, disable, unlock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for

from app.console.forms import text
from app.console.frame import page
from app.console.frame import refusal
from app.console.frame import signed_in
from app.console.texts import translate
from app.db_session import get_session
from city_services.administration import served_cities
from city_services.administration import visible_cities
from errors import Conflict
from errors import Invalid
from identity.models import ROLES
from identity.roles import authorise
from identity.staff import SCOPE_CHANNELS
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import disable_staff_member
from identity.staff import list_staff_members
from identity.staff import rescope_staff_member
from identity.staff import unlock_staff_member

blueprint = Blueprint("staff", __name__, url_prefix="/staff")


@blueprint.get("/")
def list_staff() -> Response:
    """Every account, with its role, scope and whether it is active."""
    return _staff_list()


@blueprint.route("/new", methods=["GET", "POST"])
def new_staff() -> Response:
    """Create an account: a city operator needs cities, a channel admin channels (the use-case says so)."""
    session = get_session()
    authorise(signed_in(), "staff.manage")
    cities = visible_cities(session, signed_in())
    if request.method == "GET":
        return page("console/staff_new.html", cities=cities, roles=ROLES, channels=SCOPE_CHANNELS, form={})
    new = NewStaffMember(
        username=text("username"),
        display_name=text("display_name"),
        password=request.form.get("password", ""),
        role=text("role"),
        cities=tuple(request.form.getlist("cities")),
        channels=tuple(request.form.getlist("channels")),
    )
    try:
        add_staff_member(
            session,
            signed_in(),
            new,
            reason=text("reason"),
            now=current_app.extensions["clock"](),
            served_cities=served_cities(session),
        )
    except (Invalid, Conflict) as error:
        form = {**request.form.to_dict(), "cities": new.cities, "channels": new.channels, "password": ""}
        return page(
            "console/staff_new.html",
            status=409 if isinstance(error, Conflict) else 422,
            cities=cities,
            roles=ROLES,
            channels=SCOPE_CHANNELS,
            form=form,
            error=refusal(error),
        )
    flash(translate("staff.created", g.language))
    return redirect(url_for("console.staff.list_staff"))  # type: ignore[return-value]


@blueprint.post("/<username>/disable")
def disable(username: str) -> Response:
    """Disable an account; its sessions, here and in the API, end at once."""
    return _change(
        username,
        "staff.disabled",
        lambda reason, now: disable_staff_member(get_session(), signed_in(), username, reason=reason, now=now),
    )


@blueprint.post("/<username>/scope")
def rescope(username: str) -> Response:
    """Replace an operator's cities or a channel admin's channels; their open sessions follow at once."""
    session = get_session()
    return _change(
        username,
        "staff.rescoped",
        lambda reason, now: rescope_staff_member(
            session,
            signed_in(),
            username,
            cities=request.form.getlist("cities"),
            channels=request.form.getlist("channels"),
            reason=reason,
            now=now,
            served_cities=served_cities(session),
        ),
    )


@blueprint.post("/<username>/unlock")
def unlock(username: str) -> Response:
    """Lift the lock failed logins put on an account."""
    attempts = current_app.extensions["attempts"]
    return _change(
        username,
        "staff.unlocked",
        lambda reason, now: unlock_staff_member(get_session(), signed_in(), attempts, username, reason=reason, now=now),
    )


def _change(username: str, done: str, change: Callable[[str, datetime], object]) -> Response:
    """Apply a change to one account with its reason; a refusal shows on the list."""
    try:
        change(text("reason"), current_app.extensions["clock"]())
    except (Invalid, Conflict) as error:
        status = 409 if isinstance(error, Conflict) else 422
        return _staff_list(status=status, error=refusal(error), failed=username)
    flash(translate(done, g.language))
    return redirect(url_for("console.staff.list_staff"))  # type: ignore[return-value]


def _staff_list(status: int = 200, **shown: object) -> Response:
    """The list of accounts, with the cities and channels a scope form offers."""
    session = get_session()
    return page(
        "console/staff_list.html",
        status=status,
        members=list_staff_members(session, signed_in()),
        cities=visible_cities(session, signed_in()),
        channels=SCOPE_CHANNELS,
        **shown,
    )
