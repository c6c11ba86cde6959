"""Flask's signed cookie session, opened only for requests that carry one."""

from __future__ import annotations

from flask import Flask
from flask import Request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface


class SessionCookieWhenSent(SecureCookieSessionInterface):
    """The same session, minus building a signing serializer for every request that has no cookie to read.

    The API authenticates with bearer tokens and sends no session cookie; that construction was a
    measurable share of the cost of serving the tiles.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A new empty session when no cookie came (what Flask would return); Flask's own reading otherwise."""
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)
