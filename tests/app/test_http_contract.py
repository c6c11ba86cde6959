"""Every error, from any layer, has the one JSON shape; never HTML, never a stack trace."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")


def assert_error_shape(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]


def test_unknown_route_is_json_404(api: Api) -> None:
    response = api.client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.is_json
    assert_error_shape(response.get_json(), "request.route_not_found")


def test_wrong_method_is_json_405_with_allow(api: Api) -> None:
    response = api.client.delete("/api/v1/cities")
    assert response.status_code == 405
    assert_error_shape(response.get_json(), "request.method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413(api: Api, app: Flask) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = api.call(
        "POST", "/admin/api/sessions", data=b"{" + b" " * limit + b"}", content_type="application/json", expected=413
    )
    assert_error_shape(body, "request.too_large")


def test_malformed_json_is_400(api: Api) -> None:
    body = api.call("POST", "/admin/api/sessions", data=b'{"username": ', content_type="application/json", expected=400)
    assert_error_shape(body, "request.malformed")


def test_non_json_body_is_415(api: Api) -> None:
    body = api.call(
        "POST", "/admin/api/sessions", data="username=a", content_type="application/x-www-form-urlencoded", expected=415
    )
    assert_error_shape(body, "request.unsupported_media_type")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ([], {"_schema"}),
        ("a string", {"_schema"}),
        ({}, {"username", "password"}),
        ({"username": 5, "password": ["x"]}, {"username", "password"}),
        ({"username": "a", "password": "b", "remember_me": True}, {"remember_me"}),
    ],
)
def test_wrong_shapes_and_unknown_fields_get_field_messages(api: Api, payload: object, fields: set[str]) -> None:
    body = api.post("/admin/api/sessions", json=payload, expected=422)
    assert_error_shape(body, "request.invalid")
    assert set(body["error"]["details"]["fields"]) == fields


def test_unexpected_failure_is_500_with_request_id_and_no_trace(app: Flask, api: Api) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals /work/main/app.py line 12")

    app.add_url_rule("/_test/explode", view_func=explode)
    response = api.client.get("/_test/explode", headers={"X-Request-Id": "req-12345678"})
    assert response.status_code == 500
    body = response.get_json()
    assert_error_shape(body, "internal_error")
    assert body["error"]["details"] == {"request_id": "req-12345678"}
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_every_response_carries_a_request_id(api: Api) -> None:
    assert len(api.client.get("/healthz").headers["X-Request-Id"]) == 16
    assert (
        api.client.get("/healthz", headers={"X-Request-Id": "abc-12345678"}).headers["X-Request-Id"] == "abc-12345678"
    )
    # An id that could smuggle text into the logs is replaced.
    assert (
        api.client.get("/healthz", headers={"X-Request-Id": 'bad id" INJECT'}).headers["X-Request-Id"]
        != 'bad id" INJECT'
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "a", "password": NaN}',
        b'{"username": "a", "password": Infinity}',
        b"[" * 30000 + b"]" * 30000,
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "a\\u0000b", "password": "x"}',
    ],
    ids=["nan", "infinity", "deep-nesting", "lone-surrogate", "nul"],
)
def test_json_that_cannot_be_stored_or_echoed_is_400(api: Api, raw: bytes) -> None:
    body = api.call("POST", "/admin/api/sessions", data=raw, content_type="application/json", expected=400)
    assert_error_shape(body, "request.malformed")


def test_out_of_range_integers_are_422_not_500(api: Api, make_staff) -> None:
    token = make_staff("root", "platform_admin")
    body = api.get("/admin/api/audit-log?before_id=99999999999999999999", token=token, expected=422)
    assert_error_shape(body, "request.invalid")
