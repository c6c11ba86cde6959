"""Who is using the console, and whether a form came from it.

The signed cookie session holds the staff member's access token, the same kind the admin API hands out:
every request looks it up, so logging out, disabling the account or the token's expiry ends the session
at once. It also holds the per-session CSRF token every form sends back.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app
from flask import request
from flask import session as cookie_session

from app.console.texts import DEFAULT_LANGUAGE
from app.console.texts import LANGUAGES
from app.db_session import get_session
from errors import Unauthenticated
from identity.models import StaffMember
from identity.staff import log_out
from identity.staff import staff_for_token

TOKEN_KEY = "staff_token"
CSRF_KEY = "csrf_token"
CSRF_FIELD = "csrf_token"
LANGUAGE_COOKIE = "citytiles_lang"


def start_console_session(token: str) -> None:
    """Keep a freshly issued token in the cookie, with a new CSRF token (nothing from before login carries over)."""
    cookie_session.clear()
    cookie_session.permanent = True
    cookie_session[TOKEN_KEY] = token
    cookie_session[CSRF_KEY] = secrets.token_urlsafe(32)


def end_console_session() -> None:
    """Revoke the session's token and forget it; a token that stopped working already needs no revoking."""
    token = cookie_session.get(TOKEN_KEY)
    if isinstance(token, str):
        try:
            log_out(get_session(), token, now=current_app.extensions["clock"]())
        except Unauthenticated:
            pass
    cookie_session.clear()


def console_staff() -> StaffMember | None:
    """The active staff member whose live token the cookie holds, or None (and the dead token is dropped)."""
    token = cookie_session.get(TOKEN_KEY)
    if not isinstance(token, str):
        return None
    try:
        return staff_for_token(get_session(), token, now=current_app.extensions["clock"]())
    except Unauthenticated:
        cookie_session.pop(TOKEN_KEY, None)
        return None


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = cookie_session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        cookie_session[CSRF_KEY] = token
    return token


def csrf_matches() -> bool:
    """Whether the form sent this session's CSRF token back, compared in constant time."""
    expected = cookie_session.get(CSRF_KEY)
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def chosen_language() -> str:
    """The language the staff member picked (a cookie), else the browser's preference, else Chinese."""
    picked = request.cookies.get(LANGUAGE_COOKIE)
    if picked in LANGUAGES:
        return picked
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def local_path(target: str | None, fallback: str) -> str:
    """Where to go after logging in: a path in the console only, never another site."""
    if target and target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback
