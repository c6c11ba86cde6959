"""The admin console at /admin/: server-rendered pages over the same use-cases as the admin API.

Each area is a module with its own blueprint, nested under the console's, so every page gets the
sign-in and CSRF checks, the language, the navigation and the headers in frame.py. A new area (e.g.
reconciliation) is a module with a blueprint, a line in AREAS, a line in frame.NAV, its words in
texts.py and its templates under templates/console/.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask import Flask

from app.console import audit
from app.console import cities
from app.console import payments
from app.console import reconciliation
from app.console import sign_in
from app.console import staff
from app.console.frame import add_console_headers
from app.console.frame import china_time
from app.console.frame import open_page
from app.console.frame import page_context
from app.console.frame import show_refusal
from billing.reconciliation.export import yuan
from config import Settings
from errors import DomainError

AREAS = (
    sign_in.blueprint,
    staff.blueprint,
    audit.blueprint,
    cities.blueprint,
    payments.blueprint,
    reconciliation.blueprint,
)


def init_console(app: Flask, settings: Settings) -> None:
    """Mount the console at /admin/ with a cookie session that scripts cannot read and other sites do not send."""
    app.config.update(
        SESSION_COOKIE_NAME="citytiles_console",
        SESSION_COOKIE_PATH="/admin/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.staff_token_minutes),
    )
    console = Blueprint("console", __name__, url_prefix="/admin")
    console.before_request(open_page)
    console.after_request(add_console_headers)
    console.context_processor(page_context)
    console.register_error_handler(DomainError, show_refusal)
    for area in AREAS:
        console.register_blueprint(area)
    app.register_blueprint(console)
    app.add_template_filter(china_time, "china_time")
    app.add_template_filter(yuan, "yuan")
