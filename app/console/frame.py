"""What every console page shares: sign-in and CSRF checks, language, navigation, headers and error pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from typing import TypeVar

from flask import Response
from flask import current_app
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from app.console.access import chosen_language
from app.console.access import console_staff
from app.console.access import csrf_matches
from app.console.access import csrf_token
from app.console.texts import translate
from app.console.texts import translate_error
from app.errors import STATUS_BY_KIND
from city_services.availability import CITY_TIME
from errors import DomainError
from errors import Unauthenticated
from identity.models import StaffMember
from identity.roles import PERMISSIONS

# Pages load scripts and styles from our own origin only; nothing inline, nothing framed, forms post home.
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
# The navigation: endpoint, text key, and the permission that shows it. A new area adds its line here.
NAV: tuple[tuple[str, str, str], ...] = (
    ("console.cities.list_cities", "nav.cities", "catalogue.view"),
    ("console.payments.search", "nav.payments", "payments.view"),
    ("console.staff.list_staff", "nav.staff", "staff.manage"),
    ("console.audit.audit_log", "nav.audit", "audit.read"),
    ("console.reconciliation.runs", "nav.reconciliation", "reconciliation.view"),
)
View = TypeVar("View", bound=Callable[..., Any])


def public(view: View) -> View:
    """Mark a page anyone may open without signing in (the login page, the language switch)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def signed_in() -> StaffMember:
    """The staff member using the console (every page but the public ones has one)."""
    staff: StaffMember = g.console_staff
    return staff


def may(action: str) -> bool:
    """Whether the signed-in staff member's role allows an action (scope is the use-case's to check)."""
    return action in PERMISSIONS[signed_in().role]


def open_page() -> Response | None:
    """Before each console request: pick the language, refuse forged forms, and require sign-in."""
    g.language = chosen_language()
    if request.method == "POST" and not csrf_matches():
        return page("console/error.html", status=400, message=translate("error.csrf", g.language))
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "public", False):
        return None
    staff = console_staff()
    if staff is None:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("console.sign_in.login_page", next=target))  # type: ignore[return-value]
    g.console_staff = staff
    return None


def add_console_headers(response: Response) -> Response:
    """The console's own Content-Security-Policy; the app adds the rest of its headers after."""
    response.headers["Content-Security-Policy"] = CONSOLE_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def page_context() -> dict[str, Any]:
    """What every console template may use: the words, the language, the CSRF token and the navigation."""
    language = g.get("language", "zh-CN")
    staff = g.get("console_staff")
    nav = [(endpoint, key) for endpoint, key, needed in NAV if staff is not None and needed in PERMISSIONS[staff.role]]
    return {
        "t": lambda key: translate(key, language),
        "language": language,
        "csrf_token": csrf_token,
        "staff": staff,
        "nav": nav,
        "may": lambda action: staff is not None and action in PERMISSIONS[staff.role],
    }


def china_time(moment: datetime) -> str:
    """A moment as China time, to the minute, the way staff read it."""
    return moment.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M")


def page(template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a console page with its status."""
    return make_response(render_template(template, **context), status)


def refusal(error: DomainError) -> str:
    """A use-case's refusal in the staff member's language."""
    return translate_error(error.code, error.message, g.get("language", "zh-CN"))


def show_refusal(error: DomainError) -> Response:
    """A refusal no form can correct (not allowed, not found, unavailable) as a page; a lost session goes to login."""
    if isinstance(error, Unauthenticated):
        return redirect(url_for("console.sign_in.login_page"))  # type: ignore[return-value]
    return page("console/error.html", status=STATUS_BY_KIND[error.kind], message=refusal(error))
