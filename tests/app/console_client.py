"""A staff member's browser, as the Flask test client: logs in, follows forms, sends their CSRF token back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import STAFF_PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ALERT = re.compile(r'role="alert"[^>]*>.*?<p>(.*?)</p>', re.S)


class Console:
    """Pages of the admin console, fetched and posted like a browser would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, expected: int = 200, **kwargs: Any) -> TestResponse:
        """Fetch a page, remember its CSRF token, check the status."""
        response = self.client.get(path, **kwargs)
        assert response.status_code == expected, (response.status_code, response.get_data(as_text=True)[-2000:])
        found = _CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any], expected: int = 302, *, csrf: bool = True) -> TestResponse:
        """Send a form, with the CSRF token of the last page unless told not to."""
        if not self.csrf:
            self.get("/admin/login")
        form = {"csrf_token": self.csrf, **data} if csrf else data
        response = self.client.post(path, data=form)
        assert response.status_code == expected, (response.status_code, response.get_data(as_text=True)[-2000:])
        return response

    def log_in(self, username: str, password: str = STAFF_PASSWORD, expected: int = 302) -> TestResponse:
        """Log in through the login form."""
        self.get("/admin/login")
        response = self.post("/admin/login", {"username": username, "password": password}, expected=expected)
        if expected == 302:
            self.get("/admin/")  # the CSRF token changes at login
        return response

    def text(self, path: str, expected: int = 200) -> str:
        """A page's HTML."""
        return self.get(path, expected=expected).get_data(as_text=True)


def alert(response: TestResponse) -> str:
    """The refusal a page shows."""
    found = _ALERT.search(response.get_data(as_text=True))
    return found.group(1) if found else ""


@pytest.fixture(name="console")
def console_fixture(client: FlaskClient) -> Console:
    """A browser on the console, not signed in."""
    return Console(client)
