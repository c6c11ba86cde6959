"""Every response keeps tokens and personal data out of caches, refuses sniffing and framing, and 401s say Bearer."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask import jsonify

from identity.fake_channels import FakeChannel
from tests.conftest import STAFF_PASSWORD
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")


def resident_token(api: Api, fake_wechat: FakeChannel) -> str:
    code, _ = fake_wechat.issue_code("o-headers-1")
    body = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": code}, expected=201
    )
    return str(body["token"])


def test_responses_with_tokens_or_personal_data_are_never_stored(
    api: Api, fake_wechat: FakeChannel, make_staff
) -> None:
    staff_token = make_staff("root", "platform_admin")
    code, _ = fake_wechat.issue_code("o-headers-1")
    login = api.client.post("/api/v1/sessions", json={"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": code})
    staff_login = api.client.post("/admin/api/sessions", json={"username": "root", "password": STAFF_PASSWORD})
    token = login.get_json()["token"]
    for response in (
        login,
        staff_login,
        api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
        api.client.get("/admin/api/me", headers={"Authorization": f"Bearer {staff_token}"}),
        api.client.get("/admin/api/staff", headers={"Authorization": f"Bearer {staff_token}"}),
        api.client.post("/admin/api/sessions", json={"username": "root", "password": "wrong password!"}),
        api.client.get("/healthz"),
        api.client.get("/api/v1/nothing-here"),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.request.path


def test_a_cache_policy_a_view_sets_itself_is_kept(app: Flask, api: Api) -> None:
    def public_view():
        response = jsonify({"cities": []})
        response.headers["Cache-Control"] = "public, max-age=5"
        return response

    app.add_url_rule("/_test/public", view_func=public_view)
    assert api.client.get("/_test/public").headers["Cache-Control"] == "public, max-age=5"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/cities", "/api/v1/nothing-here", "/api/v1/docs"])
def test_no_response_may_be_sniffed_or_framed(api: Api, path: str) -> None:
    headers = api.client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_docs_page_runs_only_scripts_and_styles_served_from_our_origin(api: Api) -> None:
    response = api.client.get("/api/v1/docs")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    page = response.get_data(as_text=True)
    # No inline code: every <script> has a src and carries no body, no <style>, no style= or on*= attributes.
    assert "<style" not in page and not re.search(r"\sstyle=|\son[a-z]+=", page)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        served = api.client.get(asset)
        assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff", asset
        served.close()


def test_a_401_without_a_token_challenges_for_a_bearer_token(api: Api) -> None:
    for response in (
        api.client.get("/api/v1/me"),
        api.client.get("/admin/api/me", headers={"Authorization": "Basic cm9vdDpyb290"}),
        api.client.post("/admin/api/sessions", json={"username": "nobody", "password": "wrong password!"}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="citytiles"'


def test_a_401_for_a_refused_token_says_invalid_token(api: Api, fake_wechat: FakeChannel) -> None:
    token = resident_token(api, fake_wechat)
    api.delete("/api/v1/sessions/current", token=token, expected=204)
    for response in (
        api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
        api.client.get("/admin/api/me", headers={"Authorization": "Bearer not-a-token"}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="citytiles", error="invalid_token"'


def test_successful_answers_carry_no_challenge(api: Api) -> None:
    assert "WWW-Authenticate" not in api.client.get("/healthz").headers
