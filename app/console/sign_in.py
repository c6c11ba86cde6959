"""The console's front door: log in with the staff password, log out, pick a language, the home page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import redirect
from flask import request
from flask import url_for

from app.console.access import LANGUAGE_COOKIE
from app.console.access import end_console_session
from app.console.access import local_path
from app.console.access import start_console_session
from app.console.frame import page
from app.console.frame import public
from app.console.frame import refusal
from app.console.texts import LANGUAGES
from app.db_session import get_session
from errors import TooManyRequests
from errors import Unauthenticated
from identity.staff import log_in

blueprint = Blueprint("sign_in", __name__)
LANGUAGE_KEPT = timedelta(days=365)


@blueprint.get("/")
def home() -> Response:
    """Who is signed in, with which role and scope; the navigation leads on."""
    return page("console/home.html")


@blueprint.get("/login")
@public
def login_page() -> Response:
    """The login form."""
    notice = {"out": "login.logged_out"}.get(request.args.get("notice", ""))
    return page("console/login.html", next=request.args.get("next", ""), notice=notice)


@blueprint.post("/login")
@public
def log_in_staff() -> Response:
    """Check the password with the admin API's use-case: the same lockout and throttles, a token kept in the cookie."""
    username = request.form.get("username", "")
    settings = current_app.extensions["settings"]
    try:
        login = log_in(
            get_session(),
            username,
            request.form.get("password", ""),
            source=request.remote_addr,
            attempts=current_app.extensions["attempts"],
            now=current_app.extensions["clock"](),
            lifetime=timedelta(minutes=settings.staff_token_minutes),
        )
    except (Unauthenticated, TooManyRequests) as error:
        status = 429 if isinstance(error, TooManyRequests) else 401
        response = page(
            "console/login.html", status=status, error=refusal(error), username=username, next=request.form.get("next")
        )
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    start_console_session(login.token.token)
    return redirect(local_path(request.form.get("next"), url_for("console.sign_in.home")))  # type: ignore[return-value]


@blueprint.post("/logout")
@public
def log_out_staff() -> Response:
    """Revoke the session's token at once and forget it."""
    end_console_session()
    return redirect(url_for("console.sign_in.login_page", notice="out"))  # type: ignore[return-value]


@blueprint.post("/language")
@public
def choose_language() -> Response:
    """Remember the language picked, and go back to the page it was picked on."""
    language = request.form.get("language", "")
    response = redirect(local_path(request.form.get("next"), url_for("console.sign_in.home")))
    if language in LANGUAGES:
        settings = current_app.extensions["settings"]
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=int(LANGUAGE_KEPT.total_seconds()),
            path="/admin/",
            httponly=True,
            samesite="Lax",
            secure=settings.is_production,
        )
    return response  # type: ignore[return-value]
