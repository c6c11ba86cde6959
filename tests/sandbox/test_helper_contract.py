"""The /_sandbox/ helpers keep their contract: any bad input is a 400 in the sandbox's error shape, never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sandbox.residents import Identity
from sandbox.residents import InvalidIdentity
from sandbox.server import create_sandbox
from sandbox.settings import SandboxConfig
from tests.sandbox.conftest import ALIPAY_CAR_MOVE
from tests.sandbox.conftest import WECHAT_CAR_MOVE

MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ALIPAY_APP = "2021004100000001"
LIFE_ACCOUNT = "2021004100000002"
PERSON = "o-contract-person"
ALIPAY_PERSON = "2088000099990000"

# Every helper that reads a JSON body: a body it accepts, and the kind of each field it reads.
BODY_HELPERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "wechat/login-code": (
        {
            "app_id": OFFICIAL_ACCOUNT,
            "scope": "snsapi_userinfo",
            "real_name": "张三",
            "id_number": "11010519491231002X",
        },
        {
            "app_id": "text",
            "openid": "text",
            "unionid": "text",
            "scope": "choice",
            "real_name": "text",
            "id_number": "text",
            "phone": "text",
        },
    ),
    "wechat/phone-code": (
        {"app_id": MINI_PROGRAM, "openid": PERSON, "phone": "13800138000"},
        {"app_id": "text", "openid": "text", "phone": "text"},
    ),
    "wechat/expire-tokens": ({"app_id": MINI_PROGRAM}, {"app_id": "text"}),
    "alipay/auth-code": (
        {"app_id": ALIPAY_APP, "user_id": "2088000011112222", "nick_name": "小王", "phone": "13700001234"},
        {
            "app_id": "text",
            "user_id": "text",
            "nick_name": "text",
            "real_name": "text",
            "id_number": "text",
            "phone": "text",
        },
    ),
    "wechat/subscribe": (
        {"app_id": MINI_PROGRAM, "openid": PERSON, "template_id": WECHAT_CAR_MOVE},
        {"app_id": "text", "openid": "text", "template_id": "text"},
    ),
    "alipay/subscribe": (
        {"app_id": ALIPAY_APP, "user_id": ALIPAY_PERSON, "template_id": ALIPAY_CAR_MOVE},
        {"app_id": "text", "user_id": "text", "template_id": "text"},
    ),
    "faults": (
        {
            "target": "wechat.token",
            "mode": "down",
            "delay_seconds": 1,
            "errcode": 40001,
            "times": 1,
            "persistent": False,
            "close_connection": False,
        },
        {
            "target": "choice",
            "mode": "choice",
            "delay_seconds": "number",
            "errcode": "integer",
            "times": "integer",
            "persistent": "boolean",
            "close_connection": "boolean",
        },
    ),
    # Arranges how a refund not asked for yet will end (the pay helpers need an order: test_pay_helpers.py).
    "refund-outcome": (
        {"out_refund_no": "R-contract-0001", "outcome": "abnormal"},
        {"out_refund_no": "text", "outcome": "choice"},
    ),
    # Pushed to a port nobody listens on: the push fails at once, the input checks are what is tested.
    "chat": (
        {"channel": "wechat", "app_id": OFFICIAL_ACCOUNT, "text": "你好", "encrypted": False},
        {
            "channel": "choice",
            "app_id": "text",
            "user": "text",
            "text": "text",
            "encrypted": "boolean",
            "person": "object",
            "event": "object",
            "location": "object",
        },
    ),
    "wechat/verify-server": ({"app_id": OFFICIAL_ACCOUNT}, {"app_id": "text"}),
    "alipay/verify-gateway": ({"app_id": LIFE_ACCOUNT}, {"app_id": "text"}),
    # An extra payment needs no order (the other kinds name one: test_bill_discrepancies.py).
    "bills/discrepancies": (
        {"channel": "wechat_pay", "kind": "extra_payment", "amount_fen": 100},
        {"channel": "choice", "kind": "choice", "date": "text", "out_trade_no": "text", "amount_fen": "integer"},
    ),
}
REQUIRED = {
    "wechat/login-code": ("app_id",),
    "wechat/phone-code": ("app_id", "openid"),
    "wechat/expire-tokens": ("app_id",),
    "alipay/auth-code": ("app_id",),
    "wechat/subscribe": ("app_id", "openid", "template_id"),
    "alipay/subscribe": ("app_id", "user_id", "template_id"),
    "faults": ("target", "mode"),
    "refund-outcome": ("out_refund_no", "outcome"),
    "bills/discrepancies": ("channel", "kind"),
    "chat": ("channel", "app_id", "text"),
    "wechat/verify-server": ("app_id",),
    "alipay/verify-gateway": ("app_id",),
}
NOT_TEXT = [["x"], {"x": "y"}, 12, 1.5, True, False]
WRONG_BY_KIND: dict[str, list[Any]] = {
    # Every text field is an identifier, a name, a number or an app: none may look like these.
    "text": [*NOT_TEXT, "", " ", "13800138000\n", " 13800138000", "tab\there", "nul\x00", "{braces}", "١٢٣٤٥٦٧٨"],
    "choice": [*NOT_TEXT, "", "nonsense", "down\n", "DOWN"],
    "number": ["abc", "1.5", ["x"], {"x": 1}, True, -1, 301, 1e300],
    "integer": ["abc", "1", 1.5, ["x"], {"x": 1}, True, 2**63, -(2**63)],
    "boolean": ["true", "false", 0, 1, ["x"], {"x": 1}],
    # A nested object (its own fields are checked in the chat tests).
    "object": ["", "text", 12, 1.5, True, False, ["x"]],
}
CASES = [
    pytest.param(path, field, wrong, id=f"{path}:{field}={json.dumps(wrong, ensure_ascii=True)[:24]}")
    for path, (_, kinds) in BODY_HELPERS.items()
    for field, kind in kinds.items()
    for wrong in WRONG_BY_KIND[kind]
]
NOT_OBJECTS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"text"', id="string"),
    pytest.param(b"12", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b"true", id="boolean"),
    pytest.param(b'{"app_id": NaN}', id="nan"),
    pytest.param(b"\xff\xfe{", id="not-utf8"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
]
# One digit of each script that Python's \d and str.isdigit accept besides ASCII.
FOREIGN_DIGITS = {
    "fullwidth": "０１２３４５６７８９",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "extended-arabic-indic": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
}


@pytest.fixture(scope="module")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """A private sandbox (its faults and people stay out of other tests), called in-process."""
    with socket.socket() as probe:  # a port nobody listens on, for citytiles: pushes to it fail at once
        probe.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = SandboxConfig(state_dir=tmp_path_factory.mktemp("contract"), citytiles_url=nobody)
    client = create_sandbox(config).test_client()
    enrolled = client.post("/_sandbox/wechat/login-code", json={"app_id": MINI_PROGRAM, "openid": PERSON})
    assert enrolled.status_code == 200, enrolled.text
    enrolled = client.post("/_sandbox/alipay/auth-code", json={"app_id": ALIPAY_APP, "user_id": ALIPAY_PERSON})
    assert enrolled.status_code == 200, enrolled.text
    yield client


def assert_sandbox_error(response: Any, status: int) -> dict[str, Any]:
    """The response is status with {"error": {"code", "message", "details"}} as JSON."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"].startswith("sandbox.") and error["message"] and isinstance(error["details"], dict)
    return error


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_the_base_bodies_are_accepted(helpers: FlaskClient, path: str) -> None:
    # Without this, a 400 for a wrong field could come from the rest of the body.
    response = helpers.post("/_sandbox/" + path, json=BODY_HELPERS[path][0])
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize(("path", "field", "wrong"), CASES)
def test_a_wrong_field_is_a_400(helpers: FlaskClient, path: str, field: str, wrong: Any) -> None:
    body = {**BODY_HELPERS[path][0], field: wrong}
    error = assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)
    assert error["code"] == "sandbox.invalid_request" and field in error["details"]


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_a_missing_or_null_required_field_is_a_400(helpers: FlaskClient, path: str) -> None:
    for field in REQUIRED[path]:
        base = BODY_HELPERS[path][0]
        for body in ({k: v for k, v in base.items() if k != field}, {**base, field: None}):
            assert field in assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)["details"]


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_an_unknown_field_is_a_400(helpers: FlaskClient, path: str) -> None:
    body = {**BODY_HELPERS[path][0], "delay": 5}
    assert assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)["details"] == {
        "delay": "not a field of this helper"
    }


@pytest.mark.parametrize("raw", NOT_OBJECTS)
@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_a_body_that_is_not_a_json_object_is_a_400(helpers: FlaskClient, path: str, raw: bytes) -> None:
    response = helpers.post("/_sandbox/" + path, data=raw, content_type="application/json")
    assert "body" in assert_sandbox_error(response, 400)["details"]


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_a_body_that_is_not_declared_json_is_a_400(helpers: FlaskClient, path: str) -> None:
    # A cross-origin page can post text/plain without asking first; it must not arm faults or mint codes.
    raw = json.dumps(BODY_HELPERS[path][0])
    assert_sandbox_error(helpers.post("/_sandbox/" + path, data=raw, content_type="text/plain"), 400)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("wechat/token-stats", {}),
        ("wechat/token-stats", {"app_id": ""}),
        ("wechat/token-stats", {"app_id": "nope"}),
        ("wechat/token-stats", {"app_id": MINI_PROGRAM + "\n"}),
        ("messages", {"channel": "sms"}),
        ("messages", {"channel": ""}),
        ("messages", {"user": ""}),
        ("messages", {"user": "o-user\n"}),
        ("messages", {"user": "x" * 129}),
        ("messages", {"user": "o١٢٣٤٥٦"}),
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_bad_query_parameters_are_a_400(helpers: FlaskClient, method: str, path: str, query: dict[str, str]) -> None:
    response = helpers.open("/_sandbox/" + path, method=method, query_string=query)
    if path == "messages" and method == "DELETE":
        assert response.status_code == 200  # forgetting every message reads no parameter
    else:
        assert_sandbox_error(response, 400)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("path", list(BODY_HELPERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_json_body_makes_a_helper_fail(helpers: FlaskClient, path: str, data: st.DataObject) -> None:
    base, kinds = BODY_HELPERS[path]
    # Mostly the helper's own fields (so the checks past the first are reached), sometimes a stranger.
    overrides = data.draw(st.dictionaries(st.sampled_from([*kinds, "stranger"]), JSON_VALUES, max_size=4))
    body = data.draw(st.sampled_from([{**base, **overrides}, overrides]))
    response = helpers.post("/_sandbox/" + path, json=body)

    assert response.status_code in (200, 201, 400), (body, response.text)
    if response.status_code == 400:
        assert_sandbox_error(response, 400)


@pytest.mark.parametrize("script", list(FOREIGN_DIGITS))
@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("wechat/login-code", "id_number", "11010519491231002X"),
        ("wechat/login-code", "phone", "13800138000"),
        ("wechat/login-code", "openid", "o-person-123456"),
        ("wechat/login-code", "unionid", "u-person-123456"),
        ("wechat/login-code", "real_name", "张三0"),
        ("wechat/phone-code", "phone", "13800138000"),
        ("alipay/auth-code", "user_id", "2088000011112222"),
        ("alipay/auth-code", "id_number", "11010519491231002X"),
        ("alipay/auth-code", "phone", "13800138000"),
        ("alipay/auth-code", "nick_name", "小王0"),
        ("alipay/auth-code", "real_name", "Wang 0"),
    ],
)
def test_simulated_identities_refuse_non_ascii_digits(
    helpers: FlaskClient, script: str, path: str, field: str, value: str
) -> None:
    # Only the tail: a fixed ASCII prefix (1 of a phone, 2088 of a user id) must not be what refuses it.
    foreign = value[:-6] + value[-6:].translate(str.maketrans("0123456789", FOREIGN_DIGITS[script]))
    assert foreign != value
    body = {**BODY_HELPERS[path][0], field: foreign}
    assert field in assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)["details"]


@pytest.mark.parametrize(
    "fields",
    [
        {"id_number": "１１０１０５１９４９１２３１００２X"},
        {"phone": "١٣٨٠٠١٣٨٠٠٠"},
        {"real_name": "张三\n"},
        {"id_number": "11010519491231002X\n"},
        {"phone": "13800138000\n"},
    ],
)
def test_an_identity_cannot_hold_what_no_channel_certifies(fields: dict[str, str]) -> None:
    # Checked where identities are made, so no path into the sandbox's state can skip it.
    with pytest.raises(InvalidIdentity):
        Identity(**fields)


def test_the_oauth_page_refuses_a_visitor_openid_with_foreign_digits(helpers: FlaskClient) -> None:
    query = {
        "appid": OFFICIAL_ACCOUNT,
        "redirect_uri": "http://127.0.0.1/back",
        "response_type": "code",
        "scope": "snsapi_base",
        "sandbox_as": "o-person-１２３４５６",
    }
    response = helpers.get("/connect/oauth2/authorize", query_string=query)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_sandbox/nothing-here"),
        ("POST", "/_sandbox/wechat/nothing-here"),
        ("GET", "/_sandbox/static/missing.js"),
        ("GET", "/_sandbox/static/../control.py"),
    ],
)
def test_unknown_sandbox_paths_are_a_json_404(helpers: FlaskClient, method: str, path: str) -> None:
    assert assert_sandbox_error(helpers.open(path, method=method), 404)["code"] == "sandbox.not_found"


def test_a_wrong_method_on_a_helper_is_a_json_405(helpers: FlaskClient) -> None:
    response = helpers.put("/_sandbox/faults", json={})
    assert assert_sandbox_error(response, 405)["code"] == "sandbox.method_not_allowed"
    assert {"GET", "POST", "DELETE"} <= {method.strip() for method in response.headers["Allow"].split(",")}


def test_the_emulated_platforms_keep_their_own_answers(helpers: FlaskClient) -> None:
    # Only /_sandbox/ speaks the sandbox's shape; WeChat's paths answer as WeChat does.
    helpers.delete("/_sandbox/faults")  # the fuzzing above may have armed some
    unknown = helpers.get("/cgi-bin/nothing-here")
    assert unknown.status_code == 404 and unknown.mimetype != "application/json"
    wechat = helpers.get("/sns/jscode2session", query_string={"appid": MINI_PROGRAM})
    assert wechat.status_code == 200 and wechat.get_json()["errcode"] == 41004
