"""The upstream systems' helpers, credentials, faults and logs: the contract around the four emulations."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sandbox.car_move import Location
from sandbox.server import create_sandbox
from sandbox.server import sandbox_world
from sandbox.settings import SandboxConfig
from tests.sandbox.upstream_callers import GuangdongTrafficPolice
from tests.sandbox.upstream_callers import HangzhouGjj
from tests.sandbox.upstream_callers import ShenzhenGjj
from tests.sandbox.upstream_callers import ZhejiangTrafficPolice
from tests.sandbox.upstream_callers import credential
from tests.sandbox.upstream_callers import new_id_number

SECRET_FILES = {
    "hangzhou_gjj": "upstreams/hangzhou_gjj.secret",
    "shenzhen_gjj": "upstreams/shenzhen_gjj.client_secret",
    "zhejiang_traffic_police": "upstreams/zhejiang_traffic_police.app_secret",
    "guangdong_traffic_police": "upstreams/guangdong_traffic_police.secret",
}
TARGETS = (
    "housing_fund.hangzhou_gjj",
    "housing_fund.shenzhen_gjj",
    "car_move.zhejiang_traffic_police",
    "car_move.guangdong_traffic_police",
)
ACCOUNT = {
    "system": "hangzhou_gjj",
    "id_number": "33010619900307123X",
    "name": "钱七",
    "balance_fen": 100,
    "monthly_fen": 200,
    "status": "sealed",
    "records": [{"date": "2024-01-15", "kind": "deposit", "amount_fen": 200}],
    "loan": {
        "principal_fen": 1000,
        "balance_fen": 900,
        "issued_on": "2020-01-01",
        "term_months": 12,
        "rate_bp": 0,
        "overdue_periods": 1,
    },
}
VEHICLE = {
    "system": "guangdong_traffic_police",
    "plate": "粤B77777",
    "owner_id_number": "440305199204150037",
    "plate_type": "02",
    "owner_reachable": False,
}
# helper -> (an accepted body, the kind of each field it reads)
BODY_HELPERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "housing-fund/accounts": (
        ACCOUNT,
        {
            "system": "choice",
            "id_number": "text",
            "name": "text",
            "balance_fen": "fen",
            "monthly_fen": "fen",
            "status": "choice",
            "records": "list",
            "loan": "object",
        },
    ),
    "vehicles": (
        VEHICLE,
        {
            "system": "choice",
            "plate": "text",
            "owner_id_number": "text",
            "plate_type": "choice",
            "owner_reachable": "boolean",
        },
    ),
}
REQUIRED = {
    "housing-fund/accounts": ("system", "id_number", "name", "balance_fen"),
    "vehicles": ("system", "plate", "owner_id_number"),
}
NOT_TEXT = [["x"], {"x": "y"}, 12, 1.5, True]
WRONG_BY_KIND: dict[str, list[Any]] = {
    "text": [*NOT_TEXT, "", " ", "tab\there", "nul\x00", "{braces}", "١٢٣٤٥٦٧٨", "x" * 65],
    "choice": [*NOT_TEXT, "", "nonsense", "NORMAL"],
    "fen": ["100", 1.5, -1, 10**12 + 1, True, ["x"], {"x": 1}],
    "list": ["x", 1, {"x": 1}, [1], ["x"], [None], [{"date": "2024-01-15"}], list(range(501))],
    "object": ["x", 1, [1], {"x": 1}, {}, {"principal_fen": 1}],
    "boolean": ["true", 0, 1, ["x"]],
}
CASES = [
    pytest.param(path, field, wrong, id=f"{path}:{field}={json.dumps(wrong, ensure_ascii=True)[:24]}")
    for path, (_, kinds) in BODY_HELPERS.items()
    for field, kind in kinds.items()
    for wrong in WRONG_BY_KIND[kind]
]


@pytest.fixture(scope="module")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """A private sandbox called in-process."""
    yield create_sandbox(SandboxConfig(state_dir=tmp_path_factory.mktemp("upstream-helpers"))).test_client()


def assert_sandbox_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.mimetype == "application/json" and response.headers["Cache-Control"] == "no-store"
    error = response.get_json()["error"]
    assert error["code"].startswith("sandbox.") and error["message"] and isinstance(error["details"], dict)
    return error


def open_ticket(client: FlaskClient, plate: str = "浙A12345") -> str:
    """A ticket opened straight in the sandbox's records."""
    records = sandbox_world(client.application).car_move.records
    vehicle = records.vehicle("zhejiang_traffic_police", plate)
    assert vehicle is not None
    return records.open_ticket(vehicle, f"req-{time.time_ns()}", "resident-01", Location("文三路"), "").ticket_no


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_the_base_bodies_are_accepted(helpers: FlaskClient, path: str) -> None:
    response = helpers.post("/_sandbox/" + path, json=BODY_HELPERS[path][0])
    assert response.status_code in (200, 201), response.text


def test_an_account_is_replaced_by_a_second_post(helpers: FlaskClient) -> None:
    body = {**ACCOUNT, "id_number": new_id_number()}
    first = helpers.post("/_sandbox/housing-fund/accounts", json=body)
    second = helpers.post("/_sandbox/housing-fund/accounts", json={**body, "balance_fen": 5, "status": "normal"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["account_number"] == first.json["account_number"] and second.json["replaced"] is True
    assert (second.json["balance_fen"], second.json["status"], second.json["records"]) == (5, "normal", 1)


@pytest.mark.parametrize(("path", "field", "wrong"), CASES)
def test_a_wrong_field_is_a_400(helpers: FlaskClient, path: str, field: str, wrong: Any) -> None:
    body = {**BODY_HELPERS[path][0], field: wrong}
    error = assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)
    assert error["code"] == "sandbox.invalid_request"
    assert any(key == field or key.startswith((f"{field}.", f"{field}[")) for key in error["details"]), error


@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_missing_required_fields_and_unknown_fields_are_400(helpers: FlaskClient, path: str) -> None:
    base = BODY_HELPERS[path][0]
    for field in REQUIRED[path]:
        for body in ({k: v for k, v in base.items() if k != field}, {**base, field: None}):
            assert field in assert_sandbox_error(helpers.post("/_sandbox/" + path, json=body), 400)["details"]
    unknown = assert_sandbox_error(helpers.post("/_sandbox/" + path, json={**base, "extra": 1}), 400)
    assert unknown["details"] == {"extra": "not a field of this helper"}


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'{"balance_fen": NaN}', b"\xff"])
@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_a_body_that_is_not_a_json_object_is_a_400(helpers: FlaskClient, path: str, raw: bytes) -> None:
    response = helpers.post("/_sandbox/" + path, data=raw, content_type="application/json")
    assert "body" in assert_sandbox_error(response, 400)["details"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"records": [{"date": "2024-02-30", "kind": "deposit", "amount_fen": 1}]}, "records[0].date"),
        (
            {"records": [ACCOUNT["records"][0], {"date": "2024-01-15", "kind": "gift", "amount_fen": 1}]},
            "records[1].kind",
        ),
        ({"records": [{"date": "2024-01-15", "kind": "deposit", "amount_fen": 0}]}, "records[0].amount_fen"),
        ({"records": [{"date": "2024-01-15", "kind": "deposit", "amount_fen": 1, "memo": "x"}]}, "records[0].memo"),
        ({"records": ["2024-01-15"]}, "records[0]"),
        ({"loan": {**ACCOUNT["loan"], "balance_fen": 1001}}, "loan.balance_fen"),
        ({"loan": {**ACCOUNT["loan"], "issued_on": "20200101"}}, "loan.issued_on"),
        ({"loan": {**ACCOUNT["loan"], "term_months": 0}}, "loan.term_months"),
        ({"loan": {**ACCOUNT["loan"], "rate_bp": -1}}, "loan.rate_bp"),
    ],
)
def test_nested_errors_name_their_path(helpers: FlaskClient, change: dict[str, Any], detail: str) -> None:
    error = assert_sandbox_error(helpers.post("/_sandbox/housing-fund/accounts", json={**ACCOUNT, **change}), 400)
    assert detail in error["details"], error


def test_a_vehicle_belongs_to_its_provinces_system(helpers: FlaskClient) -> None:
    body = {**VEHICLE, "system": "zhejiang_traffic_police"}
    assert "plate" in assert_sandbox_error(helpers.post("/_sandbox/vehicles", json=body), 400)["details"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("path", list(BODY_HELPERS))
def test_no_json_body_makes_a_helper_fail(helpers: FlaskClient, path: str, data: st.DataObject) -> None:
    base, kinds = BODY_HELPERS[path]
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
        max_leaves=8,
    )
    overrides = data.draw(st.dictionaries(st.sampled_from([*kinds, "stranger"]), values, max_size=3))
    response = helpers.post("/_sandbox/" + path, json={**base, **overrides})
    assert response.status_code in (200, 201, 400), response.text


def test_ticket_listing_and_its_bad_queries(helpers: FlaskClient) -> None:
    ticket_no = open_ticket(helpers, "浙AD12345")
    listed = helpers.get("/_sandbox/car-move/tickets", query_string={"plate": "浙AD12345"}).json["tickets"]
    assert [t["ticket_no"] for t in listed][-1] == ticket_no and listed[-1]["status"] == "notified"
    assert helpers.get("/_sandbox/car-move/tickets", query_string={"system": "guangdong_traffic_police"}).json == {
        "tickets": []
    }
    for query in ({"system": "fund"}, {"plate": "浙a12345"}, {"plate": ""}, {"plate": "浙A12345\n"}):
        assert_sandbox_error(helpers.get("/_sandbox/car-move/tickets", query_string=query), 400)


def test_setting_a_ticket_status(helpers: FlaskClient) -> None:
    ticket_no = open_ticket(helpers)
    url = f"/_sandbox/car-move/tickets/{ticket_no}/status"

    for wrong in (
        {"status": "notified"},
        {"status": "cancelled"},
        {"status": "MOVED"},
        {},
        {"status": "moved", "x": 1},
    ):
        assert_sandbox_error(helpers.post(url, json=wrong), 400)
    moved = helpers.post(url, json={"status": "moved"})
    assert moved.status_code == 200 and [e["status"] for e in moved.json["events"]] == ["notified", "moved"]
    conflict = assert_sandbox_error(helpers.post(url, json={"status": "acknowledged"}), 409)
    assert conflict["code"] == "sandbox.conflict"
    for unknown in ("ZJNC0", "zjnc1"):
        missing = helpers.post(f"/_sandbox/car-move/tickets/{unknown}/status", json={"status": "moved"})
        assert assert_sandbox_error(missing, 404)["code"] == "sandbox.not_found"


def test_credentials_are_written_once_where_citytiles_reads_them(tmp_path: Path) -> None:
    described = create_sandbox(SandboxConfig(state_dir=tmp_path)).test_client().get("/_sandbox/upstreams").json
    again = create_sandbox(SandboxConfig(state_dir=tmp_path)).test_client().get("/_sandbox/upstreams").json

    assert described == again
    by_system = {entry["system"]: entry for entry in described["systems"]}
    assert set(by_system) == set(SECRET_FILES)
    for system, relative in SECRET_FILES.items():
        path = tmp_path / relative
        assert by_system[system]["secret_file"] == str(path) and path.read_text() == by_system[system]["secret"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not path.read_text().endswith("\n")
        assert len(path.read_text()) >= 32
    assert {e["system"]: e["client_id"] for e in described["systems"]} == {
        "hangzhou_gjj": "HZGJJ-CT-0001",
        "shenzhen_gjj": "citytiles-szgjj",
        "zhejiang_traffic_police": "ZJJJ0571CT01",
        "guangdong_traffic_police": "GDTP-CT-0001",
    }
    other = create_sandbox(SandboxConfig(state_dir=tmp_path / "other")).test_client().get("/_sandbox/upstreams").json
    assert {e["secret"] for e in other["systems"]}.isdisjoint(e["secret"] for e in described["systems"])


def test_the_fault_targets_are_listed_and_take_the_usual_modes(helpers: FlaskClient) -> None:
    listed = helpers.get("/_sandbox/faults").json["targets"]
    assert set(TARGETS) <= set(listed)
    for target in TARGETS:
        for mode in ("down", "error", "flaky"):
            assert helpers.post("/_sandbox/faults", json={"target": target, "mode": mode}).status_code == 201
        slow = {"target": target, "mode": "slow", "delay_seconds": 0.1, "persistent": True}
        assert helpers.post("/_sandbox/faults", json=slow).status_code == 201
        assert_sandbox_error(helpers.post("/_sandbox/faults", json={"target": target, "mode": "rate_limit"}), 400)
    helpers.delete("/_sandbox/faults")


def test_a_persistent_slow_fault_is_a_fixed_latency_upstream_served_in_parallel(spawn_sandbox: Any) -> None:
    slow = spawn_sandbox("slow-upstream")
    gjj = HangzhouGjj(slow.base, slow.http, *credential(slow, "hangzhou_gjj"))
    armed = {"target": "housing_fund.hangzhou_gjj", "mode": "slow", "delay_seconds": 0.5, "persistent": True}
    assert slow.helper("POST", "faults", json=armed).status_code == 201
    forms = [gjj.form(ZJHM="330106199003071236", XINGMING="张三") for _ in range(8)]

    def timed(form: dict[str, str]) -> tuple[float, str]:
        started = time.monotonic()
        recode = gjj.post("grzhxx", form).json()["recode"]
        return time.monotonic() - started, recode

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(timed, forms))
    elapsed = time.monotonic() - started

    assert [recode for _, recode in results] == ["000000"] * 8
    assert min(took for took, _ in results) >= 0.5
    assert elapsed < 2.0, elapsed  # one after another would take 4 s
    assert slow.helper("GET", "faults").json()["faults"][0]["calls"] == 8


def test_the_log_shows_paths_and_no_personal_data(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    hangzhou = HangzhouGjj(sandbox.base, sandbox.http, *credential(sandbox, "hangzhou_gjj"))
    shenzhen = ShenzhenGjj(sandbox.base, sandbox.http, *credential(sandbox, "shenzhen_gjj"))
    zhejiang = ZhejiangTrafficPolice(sandbox.base, sandbox.http, *credential(sandbox, "zhejiang_traffic_police"))
    guangdong = GuangdongTrafficPolice(sandbox.base, sandbox.http, *credential(sandbox, "guangdong_traffic_police"))
    caplog.set_level(logging.INFO, logger="werkzeug")

    hangzhou.call("grzhxx", ZJHM="330106199003071236", XINGMING="张三")
    hangzhou.post(
        "grzhxx", hangzhou.form(ZJHM="330106199003071236", XINGMING="张三"), params={"ZJHM": "330106199003071236"}
    )
    shenzhen.post("accounts/query", {"idNumber": "440305199204150037", "name": "王五"})
    ticket = zhejiang.submit("浙A12345", "resident-logs", location={"address": "文三路90号"})["data"]
    zhejiang.call("GET", f"move-requests/{ticket['ticketNo']}")
    guangdong.check({"hphm": "粤B12345", "hpzl": "02", "sfzmhm": "440305199204150037"})
    sandbox.helper("GET", "car-move/tickets", params={"plate": "浙A12345"})
    sandbox.helper("POST", "vehicles", json={**VEHICLE, "plate": "粤B66666", "owner_id_number": "440305199204150037"})
    time.sleep(0.2)  # the server thread logs after answering

    logged = caplog.text
    assert "/upstreams/hangzhou-gjj/api/grzhxx" in logged and "/upstreams/guangdong-traffic-police" in logged
    assert "/_sandbox/car-move/tickets" in logged
    for personal in (
        "330106199003071236",
        "440305199204150037",
        "张三",
        "王五",
        "浙A12345",
        "粤B",
        "文三路",
        "%E6%B5%99",
    ):
        assert personal not in logged, personal
