"""The Alipay gateway, driven by python-alipay-sdk: login, profile, real-name, notices, signatures."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any
from urllib.parse import unquote_plus

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException
from alipay.exceptions import AliPayValidationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.alipay_wire import alipay_json
from tests.sandbox.conftest import ALIPAY_CAR_MOVE

OAUTH = "alipay.system.oauth.token"
PRECONSULT = "alipay.user.certdoc.certverify.preconsult"
CONSULT = "alipay.user.certdoc.certverify.consult"


def exchange(client: AliPay, code: str) -> dict[str, Any]:
    """alipay.system.oauth.token with an auth code, through the SDK."""
    return client.server_api(OAUTH, grant_type="authorization_code", code=code)


def log_in(sandbox: Any, **user: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    issued = sandbox.auth_code(**user)
    return issued, exchange(sandbox.alipay(), issued["auth_code"])


def public_key_pem(sandbox: Any) -> bytes:
    return (sandbox.config.state_dir / "public" / "alipay_public_key.pem").read_bytes()


def test_auth_code_exchange(sandbox: Any) -> None:
    issued, token = log_in(sandbox)

    assert token["user_id"] == issued["user_id"] and len(token["user_id"]) == 16 and token["user_id"].startswith("2088")
    assert token["open_id"] == issued["open_id"]
    assert token["access_token"].startswith("authusrB") and token["expires_in"] == sandbox.config.token_ttl_seconds
    assert {"refresh_token", "re_expires_in", "auth_start"} <= token.keys()
    assert "code" not in token  # like Alipay, a successful oauth.token carries no code


def test_a_used_or_unknown_code_is_a_gateway_error(sandbox: Any) -> None:
    issued, _ = log_in(sandbox)
    client = sandbox.alipay()

    for code in (issued["auth_code"], "not-a-code"):
        with pytest.raises(AliPayException) as caught:
            exchange(client, code)
        assert "isv.code-invalid" in str(caught.value) and '"error_response"' in str(caught.value)


def test_refresh_token_grant(sandbox: Any) -> None:
    issued, token = log_in(sandbox)
    client = sandbox.alipay()

    renewed = client.server_api(OAUTH, grant_type="refresh_token", refresh_token=token["refresh_token"])

    assert renewed["user_id"] == issued["user_id"] and renewed["access_token"] != token["access_token"]
    with pytest.raises(AliPayException):  # refresh tokens rotate
        client.server_api(OAUTH, grant_type="refresh_token", refresh_token=token["refresh_token"])


def test_user_info_share(sandbox: Any) -> None:
    issued, token = log_in(sandbox, nick_name="小王")

    info = sandbox.alipay().server_api("alipay.user.info.share", auth_token=token["access_token"])

    assert (info["code"], info["msg"]) == ("10000", "Success")
    assert (info["user_id"], info["open_id"], info["nick_name"]) == (issued["user_id"], issued["open_id"], "小王")


def test_user_info_share_with_a_bad_token_is_a_signed_business_failure(sandbox: Any) -> None:
    info = sandbox.alipay().server_api("alipay.user.info.share", auth_token="authusrBnope")

    assert (info["code"], info["sub_code"]) == ("20001", "aop.invalid-auth-token")


def test_real_name_check_passes_only_for_the_held_identity(sandbox: Any) -> None:
    _, token = log_in(sandbox, real_name="王小明", id_number="33010619900101123X", phone="13700001234")
    client = sandbox.alipay()

    def consult(name: str, number: str, auth_token: str = token["access_token"]) -> dict[str, Any]:
        identity = {"user_name": name, "cert_type": "IDENTITY_CARD", "cert_no": number}
        pre = client.server_api(PRECONSULT, biz_content=identity)
        assert pre["code"] == "10000", pre
        return client.server_api(CONSULT, biz_content={"verify_id": pre["verify_id"]}, auth_token=auth_token)

    assert consult("王小明", "33010619900101123x")["passed"] == "T"
    wrong = consult("王小明", "330106199001011234")
    assert (wrong["code"], wrong["passed"]) == ("10000", "F") and json.loads(wrong["fail_params"]) == ["cert_no"]
    _, anonymous = log_in(sandbox)
    assert consult("王小明", "33010619900101123X", anonymous["access_token"])["passed"] == "F"


def test_preconsult_rejects_other_certificate_types(sandbox: Any) -> None:
    passport = {"user_name": "A", "cert_type": "PASSPORT", "cert_no": "E1"}
    answer = sandbox.alipay().server_api(PRECONSULT, biz_content=passport)

    assert answer["code"] == "40004" and answer["sub_code"] == "CERT_TYPE_NOT_SUPPORT"


def test_template_message_is_listed(sandbox: Any) -> None:
    issued, _ = log_in(sandbox)
    sandbox.alipay_subscribe(issued["user_id"], ALIPAY_CAR_MOVE)
    data = {"keyword1": {"value": "挪车"}}
    biz = {
        "to_user_id": issued["user_id"],
        "user_template_id": ALIPAY_CAR_MOVE,
        "page": "pages/a",
        "data": json.dumps(data),
    }

    assert sandbox.alipay().server_api("alipay.open.app.mini.templatemessage.send", biz_content=biz)["code"] == "10000"

    listed = sandbox.helper("GET", "messages", params={"channel": "alipay", "user": issued["open_id"]}).json()
    notices = [(m["user"], m["template_id"], m["data"]) for m in listed["messages"]]
    assert notices == [(issued["user_id"], ALIPAY_CAR_MOVE, data)]


def test_a_request_signed_with_another_key_is_rejected(sandbox: Any) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    client = sandbox.alipay(app_private_key=stranger.decode())

    with pytest.raises(AliPayException) as caught:
        exchange(client, sandbox.auth_code()["auth_code"])
    assert "isv.invalid-signature" in str(caught.value)


def test_an_unknown_app_is_refused_unsigned(sandbox: Any) -> None:
    with pytest.raises(AliPayException) as caught:
        sandbox.alipay(app_id="2021000000000000").server_api("alipay.user.info.share", auth_token="x")
    assert "isv.invalid-app-id" in str(caught.value)


def test_a_response_signed_by_another_platform_key_fails_verification(sandbox: Any, spawn_sandbox: Any) -> None:
    impostor = spawn_sandbox("impostor")  # its own keys: it signs with a platform key the client does not trust
    trusting_the_real_platform = impostor.alipay(alipay_public_key=public_key_pem(sandbox).decode())

    with pytest.raises(AliPayValidationError):
        exchange(trusting_the_real_platform, impostor.auth_code()["auth_code"])


def test_wire_format_is_signed_over_the_exact_inner_text(sandbox: Any) -> None:
    client = sandbox.alipay()
    body = client.build_body(OAUTH, grant_type="authorization_code", code=sandbox.auth_code()["auth_code"])

    with urllib.request.urlopen(sandbox.base + "/gateway.do?" + client.sign_data(body), timeout=5) as response:
        content_type, raw = response.headers["Content-Type"], response.read().decode()

    assert content_type == "text/html;charset=utf-8"
    prefix = '{"alipay_system_oauth_token_response":'
    assert raw.startswith(prefix) and raw.endswith('"}')
    inner, signature = raw[len(prefix) : -2].rsplit(',"sign":"', 1)
    public_key = serialization.load_pem_public_key(public_key_pem(sandbox))
    public_key.verify(base64.b64decode(signature), inner.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore


def test_form_post_is_accepted(sandbox: Any) -> None:
    client = sandbox.alipay()
    body = client.build_body(OAUTH, grant_type="authorization_code", code=sandbox.auth_code()["auth_code"])
    form = {k: unquote_plus(v) for k, v in (pair.split("=", 1) for pair in client.sign_data(body).split("&"))}

    raw = sandbox.http.post(sandbox.base + "/gateway.do", data=form, timeout=5).text

    verified = client._verify_and_return_sync_response(raw, "alipay_system_oauth_token_response")
    assert verified["user_id"].startswith("2088")


def test_braces_inside_strings_never_reach_the_wire_raw() -> None:
    text = alipay_json({"a": "x{y}z", "b": [1, {"c": "}"}], "d": None})

    assert json.loads(text) == {"a": "x{y}z", "b": [1, {"c": "}"}], "d": None}
    assert text.count("{") == text.count("}") == 2
