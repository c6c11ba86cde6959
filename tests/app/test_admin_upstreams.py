"""Operators list and change a city's upstream connections: one per service, audited, refused without a trace."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.catalogue import current_revision
from city_services.models import UpstreamConnection
from database import transaction
from identity.models import AuditEntry
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
UPSTREAMS = "/admin/api/cities/330100/upstreams"
FUND = f"{UPSTREAMS}/housing_fund"
NEW_FUND = {
    "base_url": "http://127.0.0.1:8700/upstreams/hangzhou-gjj-v2",
    "appid": "HZGJJ-CT-0002",
    "jgh": "330100",
    "secret_env": "HANGZHOU_GJJ_HMAC_KEY_2027",
    "timeout_seconds": 3,
}
FILLED_IN = {"max_concurrent_calls": 8, "failure_threshold": 5, "reset_seconds": 30.0, "read_retries": 1}


@pytest.fixture
def admin(make_staff) -> str:
    return make_staff("root", "platform_admin")


def connection_in_list(api: Api, token: str, service: str = "housing_fund") -> dict[str, Any]:
    connections = api.get(UPSTREAMS, token=token)["connections"]
    return next(c for c in connections if c["service"] == service)


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry))


def test_the_list_has_one_connection_per_service_with_its_adapter_and_params(api: Api, admin: str) -> None:
    body = api.get(UPSTREAMS, token=admin)
    assert body["city"] == "330100"
    assert [(c["service"], c["adapter"]) for c in body["connections"]] == [
        ("car_move", "zhejiang_traffic_police"),
        ("housing_fund", "hangzhou_gjj"),
        ("outpatient", "zheyi_his"),
    ]
    fund = body["connections"][1]
    assert fund["params"] == {
        "timeout_seconds": 5.0,
        **FILLED_IN,
        "base_url": "http://127.0.0.1:8700/upstreams/hangzhou-gjj",
        "appid": "HZGJJ-CT-0001",
        "jgh": "330100",
        "secret_env": "HANGZHOU_GJJ_HMAC_KEY",
    }
    assert fund["problems"] == []
    assert fund["updated_at"] == "2026-11-18T02:00:00+00:00"


def test_a_change_is_stored_whole_audited_and_bumps_the_catalogue_revision(
    api: Api, admin: str, session: Session, clock: Clock
) -> None:
    revision = current_revision(session)
    session.rollback()
    clock.advance(hours=1)
    body = api.patch(FUND, json={"reason": "Centre moved to API v2", "params": NEW_FUND}, token=admin)
    expected = {**NEW_FUND, "timeout_seconds": 3.0, **FILLED_IN}
    assert (body["adapter"], body["params"], body["problems"]) == ("hangzhou_gjj", expected, [])
    assert body["updated_at"] == "2026-11-18T03:00:00+00:00"
    assert connection_in_list(api, admin) == body
    [entry] = api.get("/admin/api/audit-log", token=admin)["entries"]
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "root",
        "catalogue.upstream_changed",
        "330100/housing_fund",
    )
    assert (entry["city"], entry["channel"], entry["reason"]) == ("330100", None, "Centre moved to API v2")
    assert entry["before"]["params"]["appid"] == "HZGJJ-CT-0001" and entry["after"]["params"] == expected
    assert entry["before"]["adapter"] == entry["after"]["adapter"] == "hangzhou_gjj"
    session.rollback()  # end the read that saw the old revision
    assert current_revision(session) == revision + 1
    # Every channel's tile still stands; the connection is the city × service's, not a channel's.
    assert {t["state"] for t in api.get("/api/v1/cities/330100/services?channel=alipay")["tiles"]} == {"available"}


def test_params_left_out_take_their_defaults_not_the_previous_values(api: Api, admin: str) -> None:
    api.patch(FUND, json={"reason": "slower", "params": NEW_FUND}, token=admin)
    without_timeout = {k: v for k, v in NEW_FUND.items() if k != "timeout_seconds"}
    body = api.patch(FUND, json={"reason": "default timeout", "params": without_timeout}, token=admin)
    assert body["params"]["timeout_seconds"] == 5.0


def test_switching_adapter_takes_the_new_adapters_params(api: Api, admin: str) -> None:
    body = api.patch(FUND, json={"reason": "centre offline for a week", "adapter": "fake", "params": {}}, token=admin)
    assert (body["adapter"], body["params"]) == ("fake", {"timeout_seconds": 5.0, **FILLED_IN})
    [entry] = api.get("/admin/api/audit-log", token=admin)["entries"]
    assert (entry["before"]["adapter"], entry["after"]["adapter"]) == ("hangzhou_gjj", "fake")


def test_a_change_that_changes_nothing_is_not_audited(api: Api, admin: str, session: Session) -> None:
    revision = current_revision(session)
    session.rollback()
    same = connection_in_list(api, admin)
    api.patch(FUND, json={"reason": "no-op", "adapter": "hangzhou_gjj", "params": same["params"]}, token=admin)
    api.patch(FUND, json={"reason": "no-op"}, token=admin)
    assert audit_count(session) == 0
    assert connection_in_list(api, admin)["updated_at"] == same["updated_at"]
    session.rollback()  # end the read that saw the old revision
    assert current_revision(session) == revision


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, "request.invalid"),
        ({"reason": "   ", "params": NEW_FUND}, "request.invalid"),
        ({"reason": "x", "colour": "red"}, "request.invalid"),
        ({"reason": "x", "adapter": "Hangzhou GJJ"}, "request.invalid"),
        ({"reason": "x", "adapter": "hangzhou_gjj\n"}, "request.invalid"),
        ({"reason": "x", "params": {"nested": {"a": 1}}}, "request.invalid"),
        ({"reason": "x", "params": {"jgh": "A30\r\nX-Injected: 1"}}, "request.invalid"),
        ({"reason": "x", "params": {"Jgh\n": "A30"}}, "request.invalid"),
        ({"reason": "x", "params": [NEW_FUND]}, "request.invalid"),
        ({"reason": "x", "adapter": "nowhere", "params": {}}, "catalogue.unknown_upstream"),
        ({"reason": "x", "adapter": "zheyi_his", "params": {}}, "catalogue.unknown_upstream"),
        ({"reason": "x", "adapter": "fake"}, "catalogue.upstream_params_required"),
        ({"reason": "x", "params": {}}, "catalogue.invalid_upstream_params"),
        ({"reason": "x", "params": {**NEW_FUND, "timeout_seconds": True}}, "catalogue.invalid_upstream_params"),
        ({"reason": "x", "params": {**NEW_FUND, "max_concurrent_calls": 1000}}, "catalogue.invalid_upstream_params"),
        ({"reason": "x", "params": {**NEW_FUND, "jgh": "A31 330100"}}, "catalogue.invalid_upstream_params"),
        ({"reason": "x", "params": {**NEW_FUND, "secret": "the-key-itself"}}, "catalogue.invalid_upstream_params"),
        ({"reason": "x", "adapter": "fake", "params": NEW_FUND}, "catalogue.invalid_upstream_params"),
    ],
)
def test_invalid_changes_are_refused_and_nothing_is_written(
    api: Api, admin: str, session: Session, change: dict[str, Any], code: str
) -> None:
    before = connection_in_list(api, admin)
    body = api.patch(FUND, json=change, token=admin, expected=422)
    assert body["error"]["code"] == code
    assert connection_in_list(api, admin) == before
    assert audit_count(session) == 0


def test_refused_params_name_every_field_at_fault(api: Api, admin: str) -> None:
    change = {"reason": "x", "params": {"base_url": "ftp://gjj", "jgh": "A30", "timeout_seconds": 0, "extra": 1}}
    error = api.patch(FUND, json=change, token=admin, expected=422)["error"]
    assert set(error["details"]["fields"]) == {
        "params.base_url",
        "params.timeout_seconds",
        "params.extra",
        "params.appid",
        "params.secret_env",
    }


def test_unknown_city_and_service(api: Api, admin: str) -> None:
    change = {"reason": "x", "params": NEW_FUND}
    answer = api.patch("/admin/api/cities/330100/upstreams/parking", json=change, token=admin, expected=404)
    assert answer["error"]["code"] == "catalogue.connection_not_found"
    assert answer["error"]["details"] == {"city": "330100", "service": "parking"}
    answer = api.patch("/admin/api/cities/110000/upstreams/housing_fund", json=change, token=admin, expected=404)
    assert answer["error"]["code"] == "catalogue.city_not_found"
    answer = api.get("/admin/api/cities/110000/upstreams", token=admin, expected=404)
    assert answer["error"]["code"] == "catalogue.city_not_found"


@pytest.mark.parametrize(
    ("role", "cities", "channels", "listed", "changed"),
    [
        ("city_operator", ("330100",), (), 200, 200),
        ("city_operator", ("440300",), (), 403, 403),
        ("channel_admin", (), ("wechat",), 200, 403),
        ("channel_admin", (), ("alipay",), 200, 403),
    ],
)
def test_who_may_see_and_change_a_citys_connections(
    api: Api, make_staff, session: Session, role: str, cities: tuple, channels: tuple, listed: int, changed: int
) -> None:
    token = make_staff("someone", role, cities, channels)
    body = api.get(UPSTREAMS, token=token, expected=listed)
    if listed == 200:
        assert len(body["connections"]) == 3
    else:
        assert body["error"]["code"] == "auth.city_out_of_scope"
    body = api.patch(FUND, json={"reason": "mine", "params": NEW_FUND}, token=token, expected=changed)
    if changed == 403:
        assert body["error"]["code"] in ("auth.city_out_of_scope", "auth.forbidden")
        assert audit_count(session) == 0
    assert api.get(UPSTREAMS, expected=401)["error"]["code"] == "auth.required"


def test_parameters_carried_over_that_do_not_fit_are_shown_and_must_be_fixed(
    api: Api, admin: str, session: Session
) -> None:
    # As migration 0006 leaves parameters written before adapters declared theirs.
    with transaction(session):
        connection = session.scalar(select(UpstreamConnection).where(UpstreamConnection.service_code == "housing_fund"))
        connection.params = {"institution_code": "A30-330100", "timeout_seconds": 5}
    listed = connection_in_list(api, admin)
    assert listed["params"] == {"institution_code": "A30-330100", "timeout_seconds": 5}
    assert listed["problems"] == [
        "params.institution_code: Unknown parameter; hangzhou_gjj takes timeout_seconds, max_concurrent_calls, "
        "failure_threshold, reset_seconds, read_retries, base_url, appid, jgh, secret_env.",
        "params.base_url: Missing; this adapter needs it.",
        "params.appid: Missing; this adapter needs it.",
        "params.jgh: Missing; this adapter needs it.",
        "params.secret_env: Missing; this adapter needs it.",
    ]
    # A reason alone does not let them stand; giving the whole set fixes them.
    error = api.patch(FUND, json={"reason": "look"}, token=admin, expected=422)["error"]
    assert error["code"] == "catalogue.invalid_upstream_params"
    assert api.patch(FUND, json={"reason": "fixed", "params": NEW_FUND}, token=admin)["problems"] == []


def test_the_document_lists_both_operations_and_their_codes(api: Api) -> None:
    paths = api.get("/api/v1/openapi.json")["paths"]
    listed = paths["/admin/api/cities/{city}/upstreams"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CityConnections")
    change = paths["/admin/api/cities/{city}/upstreams/{service}"]["patch"]
    assert change["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ConnectionChange")
    assert set(change["responses"]["422"]["x-error-codes"]) >= {
        "request.invalid",
        "catalogue.unknown_upstream",
        "catalogue.invalid_upstream_params",
        "catalogue.upstream_params_required",
        "catalogue.unsafe_upstream",
        "catalogue.reason_required",
    }
    assert set(change["responses"]["403"]["x-error-codes"]) >= {"auth.forbidden", "auth.city_out_of_scope"}
