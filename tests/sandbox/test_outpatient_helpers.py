"""The outpatient helpers, and what no request can do to either system: a 500, or personal data in the log."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sandbox.server import create_sandbox
from sandbox.settings import SandboxConfig
from tests.sandbox.outpatient_clients import ShenzhenHealth
from tests.sandbox.outpatient_clients import ZheyiHis
from tests.sandbox.outpatient_clients import sign

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
ACTIONS = ["hospital/list", "department/list", "schedule/list", "order/submit", "order/confirm", "order/cancel"]
PARAMS = ["hos_code", "dep_code", "work_date", "schedule_id", "out_order_no", "patient_name", "patient_id_number"]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Any]]:
    """A private sandbox called in-process, and its state directory."""
    state_dir = tmp_path_factory.mktemp("outpatient-contract")
    yield create_sandbox(SandboxConfig(state_dir=state_dir)).test_client(), state_dir


def test_the_slot_helper_shows_places_and_holds(sandbox: Any) -> None:
    his = ZheyiHis(sandbox.base, sandbox.config.state_dir, sandbox.http)
    slot = his.free_slot("ZY02-GK")
    appointment = his.hold(slot["id"]).json()

    view = sandbox.helper("GET", f"outpatient/slots/zheyi_his/{slot['id']}").json()

    assert (view["system"], view["slot_id"], view["capacity"]) == ("zheyi_his", slot["id"], slot["capacity"])
    assert view["remaining"] == slot["capacity"] - 1 and view["department"] == {"code": "GK", "name": "骨科"}
    assert [(h["id"], h["state"]) for h in view["holds"]] == [(appointment["id"], "held")]
    assert view["holds"][0]["expires_at"] == appointment["holdExpiresAt"]
    assert "patient" not in json.dumps(view) and "张三" not in json.dumps(view, ensure_ascii=False)

    assert sandbox.helper("DELETE", "outpatient/holds").json() == {"cleared": True}
    assert sandbox.helper("GET", f"outpatient/slots/zheyi_his/{slot['id']}").json()["remaining"] == slot["capacity"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("outpatient/slots/his/ZY01-XHNK-D01-20250102-0800", 400),
        ("outpatient/slots/zheyi_his/ZY01_XHNK", 400),
        ("outpatient/slots/zheyi_his/ZY01-XHNK-D01-２０２５0102-0800", 400),
        ("outpatient/slots/zheyi_his/" + "A" * 65, 400),
        ("outpatient/slots/zheyi_his/ZY01-XHNK-D01-20000102-0800", 404),
        ("outpatient/slots/shenzhen_health_platform/ZY01-XHNK-D01-20250102-0800", 404),
        ("outpatient/slots/zheyi_his", 404),
    ],
)
def test_bad_slot_helper_paths(sandbox: Any, path: str, status: int) -> None:
    response = sandbox.helper("GET", path)
    assert response.status_code == status and response.json()["error"]["code"].startswith("sandbox.")


def test_the_credentials_helper_matches_the_files(sandbox: Any) -> None:
    held = sandbox.helper("GET", "outpatient/credentials").json()
    folder = sandbox.config.state_dir / "outpatient"

    assert held["zheyi_his"]["api_key"] == (folder / "zheyi_his.api_key").read_text()
    secret = held["shenzhen_health_platform"]
    assert secret["app_id"] == ShenzhenHealth.APP_ID
    assert secret["app_secret"] == (folder / "shenzhen_health_platform" / "szjk_citytiles_demo.secret").read_text()
    assert len(secret["app_secret"]) == 64 and int(secret["app_secret"], 16) >= 0


def test_the_fault_targets_are_listed(sandbox: Any) -> None:
    targets = sandbox.helper("GET", "faults").json()["targets"]
    assert {"outpatient.zheyi_his", "outpatient.shenzhen_health_platform"} <= set(targets)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(JSON_VALUES, st.dictionaries(st.sampled_from(["slot", "patient", "x"]), JSON_VALUES)))
def test_no_hold_body_makes_the_his_fail(in_process: tuple[FlaskClient, Any], body: Any) -> None:
    client, state_dir = in_process
    key = (state_dir / "outpatient" / "zheyi_his.api_key").read_text()
    response = client.post("/upstreams/zheyi-his/fhir/Appointment/$hold", json=body, headers={"X-Api-Key": key})

    assert response.status_code in (201, 400, 404, 409), response.text
    if response.status_code != 201:
        assert response.get_json()["resourceType"] == "OperationOutcome"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(ACTIONS),
    params=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=24), max_size=5),
)
def test_no_signed_request_makes_the_platform_fail(
    in_process: tuple[FlaskClient, Any], action: str, params: dict[str, str]
) -> None:
    client, state_dir = in_process
    secret = (state_dir / "outpatient" / "shenzhen_health_platform" / "szjk_citytiles_demo.secret").read_text()
    body = {
        "app_id": ShenzhenHealth.APP_ID,
        "timestamp": str(int(time.time())),
        "nonce": secrets.token_hex(8),
        "sign_type": "HMAC-SHA256",
        **params,
    }
    body["sign"] = sign(secret, body)
    response = client.post("/upstreams/shenzhen-health/open/v1/" + action, json=body)

    assert response.status_code == 200, response.text
    answer = response.get_json()
    assert set(answer) == {"code", "msg", "data"} and answer["code"] != "1002", answer


def test_no_personal_data_reaches_the_log(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    his = ZheyiHis(sandbox.base, sandbox.config.state_dir, sandbox.http)
    platform = ShenzhenHealth(sandbox.base, sandbox.config.state_dir, sandbox.http)
    patient = {"name": "欧阳娜娜", "id_number": "44030419880808123X", "phone": "13912345678"}

    his.hold(his.free_slot("ZY03-BMMZ")["id"], patient)
    platform.submit(platform.free_schedule("440301002", "1003"), patient)
    platform.call(
        "order/submit",
        schedule_id="0",
        out_order_no="CT-log-0001",
        patient_name=patient["name"],
        patient_id_number="bad" + patient["id_number"],
    )

    logged = caplog.text
    assert "/upstreams/shenzhen-health/open/v1/order/submit" in logged  # the log is captured at all
    assert all(value not in logged for value in patient.values())
