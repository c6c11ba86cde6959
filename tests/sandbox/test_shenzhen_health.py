"""shenzhen_health_platform: signed requests, schedules, orders held until confirmed, errors and faults over HTTP."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.conftest import ROOT
from tests.sandbox.outpatient_clients import ShenzhenHealth
from tests.sandbox.outpatient_clients import direct_session
from tests.sandbox.outpatient_clients import new_patient
from tests.sandbox.outpatient_clients import shanghai_today
from tests.sandbox.outpatient_clients import sign

PEOPLES = "440301001"  # 深圳市人民医院
CARDIOLOGY = "1001"  # a chief (3 places) and an attending (10)
CLINIC = "1009"  # 便民门诊: free


@pytest.fixture
def platform(sandbox: Any) -> Iterator[ShenzhenHealth]:
    """The shared sandbox's platform with every place free again."""
    sandbox.helper("DELETE", "outpatient/holds")
    yield ShenzhenHealth(sandbox.base, sandbox.config.state_dir, sandbox.http)
    sandbox.helper("DELETE", "outpatient/holds")


def code_of(response: requests.Response) -> str:
    body = response.json()
    assert set(body) == {"code", "msg", "data"} and body["msg"], body
    return str(body["code"])


def slot_view(sandbox: Any, schedule_id: str) -> dict[str, Any]:
    response = sandbox.helper("GET", f"outpatient/slots/shenzhen_health_platform/{schedule_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_readme_signing_example_is_right() -> None:
    readme = (ROOT / "sandbox" / "README.md").read_text(encoding="utf-8")
    secret = re.search(r"example secret: `([0-9a-f]{64})`", readme)
    text = re.search(r"string to sign: `([^`]+)`", readme)
    signature = re.search(r"sign: `([0-9a-f]{64})`", readme)
    assert secret and text and signature, "the README's signing example is missing"
    pairs = dict(pair.split("=", 1) for pair in text.group(1).split("&"))
    assert sign(secret.group(1), pairs) == signature.group(1)


def test_hospitals_departments_and_a_week_of_schedules(platform: ShenzhenHealth) -> None:
    hospitals = platform.call("hospital/list")["data"]
    departments = platform.call("department/list", hos_code=PEOPLES)["data"]
    schedules = platform.schedules(PEOPLES, CARDIOLOGY)

    assert [h["hos_code"] for h in hospitals] == ["440301001", "440301002", "440301003", "440301004"]
    assert hospitals[0]["hos_name"] == "深圳市人民医院"
    assert [d["dep_code"] for d in departments] == [CARDIOLOGY, "1002", CLINIC]
    today = shanghai_today()
    days = {s["work_date"] for s in schedules}
    assert days <= {(today + timedelta(days=n)).isoformat() for n in range(7)} and len(days) >= 6
    assert {s["amount"] for s in schedules} == {5000, 1500}
    assert {s["amount"] for s in platform.schedules(PEOPLES, CLINIC)} == {0}
    first = schedules[0]
    assert first["available_number"] == first["reserved_number"] and first["status"] == "AVAILABLE"
    assert re.fullmatch(r"[0-9]{2}:[0-9]{2}", first["begin_time"]) and first["doctor_name"]
    tomorrow = (today + timedelta(days=1)).isoformat()
    only = platform.schedules(PEOPLES, CARDIOLOGY, today + timedelta(days=1))
    assert only and {s["work_date"] for s in only} == {tomorrow}


def test_unknown_ids_are_the_platform_own_not_found(platform: ShenzhenHealth) -> None:
    assert platform.call("department/list", hos_code="440399999")["code"] == "2001"
    assert platform.call("schedule/list", hos_code=PEOPLES, dep_code="9999")["code"] == "2002"
    assert platform.submit("202001010000000800")["code"] == "2003"
    for action in ("order/confirm", "order/cancel", "order/query"):
        assert platform.call(action, order_no="20200101000000000000")["code"] == "2004"


def test_an_order_holds_its_place_until_confirmed(sandbox: Any, platform: ShenzhenHealth) -> None:
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY, capacity=10)
    answer = platform.submit(schedule)
    order = answer["data"]

    assert answer["code"] == "0" and order["status"] == "PENDING_PAYMENT" and order["amount"] == 1500
    expire = datetime.strptime(order["expire_time"], "%Y-%m-%d %H:%M:%S")
    created = datetime.strptime(order["create_time"], "%Y-%m-%d %H:%M:%S")
    assert expire - created == timedelta(seconds=900)
    assert slot_view(sandbox, schedule)["remaining"] == 9

    confirmed = platform.call("order/confirm", order_no=order["order_no"])["data"]
    assert confirmed["status"] == "CONFIRMED" and confirmed["confirm_time"]
    assert platform.call("order/confirm", order_no=order["order_no"])["data"]["status"] == "CONFIRMED"
    assert platform.call("order/query", order_no=order["order_no"])["data"]["status"] == "CONFIRMED"

    cancelled = platform.call("order/cancel", order_no=order["order_no"])["data"]
    assert cancelled["status"] == "CANCELLED" and cancelled["cancel_time"]
    assert platform.call("order/cancel", order_no=order["order_no"])["code"] == "0"
    assert platform.call("order/confirm", order_no=order["order_no"])["code"] == "3004"
    assert slot_view(sandbox, schedule)["remaining"] == 10


def test_a_free_slot_is_confirmed_at_once(platform: ShenzhenHealth) -> None:
    order = platform.submit(platform.free_schedule(PEOPLES, CLINIC, paid=False))["data"]
    assert (order["status"], order["amount"], order["expire_time"]) == ("CONFIRMED", 0, None)


def test_out_order_no_makes_a_submission_safe_to_retry(sandbox: Any, platform: ShenzhenHealth) -> None:
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY, capacity=10)
    patient = new_patient()
    first = platform.submit(schedule, patient, out_order_no="CT-retry-0001")["data"]
    again = platform.submit(schedule, patient, out_order_no="CT-retry-0001")["data"]

    assert again["order_no"] == first["order_no"] and again["out_order_no"] == "CT-retry-0001"
    assert slot_view(sandbox, schedule)["remaining"] == 9
    assert platform.submit(schedule, new_patient(), out_order_no="CT-retry-0001")["code"] == "3005"


def test_a_full_schedule_and_a_second_place_the_same_day(platform: ShenzhenHealth) -> None:
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY, capacity=3)
    patient = new_patient()
    orders = [platform.submit(schedule, patient if n == 0 else None)["data"] for n in range(3)]

    assert platform.submit(schedule)["code"] == "3001"
    listed = next(s for s in platform.schedules(PEOPLES, CARDIOLOGY) if s["schedule_id"] == schedule)
    assert (listed["available_number"], listed["status"]) == (0, "FULL")
    platform.call("order/cancel", order_no=orders[1]["order_no"])
    same_day = next(
        s["schedule_id"]
        for s in platform.schedules(PEOPLES, CARDIOLOGY)
        if s["work_date"] == orders[0]["work_date"] and s["schedule_id"] != schedule
    )
    assert platform.submit(same_day, patient)["code"] == "3002"


def test_unpaid_orders_expire_and_give_the_place_back(spawn_sandbox: Any) -> None:
    sb = spawn_sandbox("short-orders", outpatient_order_seconds=1)
    platform = ShenzhenHealth(sb.base, sb.config.state_dir, sb.http)
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY, capacity=3)
    order = platform.submit(schedule)["data"]

    time.sleep(1.2)

    assert slot_view(sb, schedule)["remaining"] == 3
    assert platform.call("order/query", order_no=order["order_no"])["data"]["status"] == "EXPIRED"
    assert platform.call("order/confirm", order_no=order["order_no"])["code"] == "3003"
    assert platform.call("order/cancel", order_no=order["order_no"])["code"] == "3003"


def test_many_orders_at_once_never_oversell(sandbox: Any, platform: ShenzhenHealth) -> None:
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY, capacity=10)
    start = threading.Barrier(30)

    def race(n: int) -> str:
        own = ShenzhenHealth(sandbox.base, sandbox.config.state_dir, direct_session())  # Sessions are not thread-safe
        body = own.signed(
            schedule_id=schedule, out_order_no=f"CT-race-{n:04d}", patient_name="李四", patient_id_number=f"{n:017d}X"
        )
        start.wait()
        return code_of(own.post("order/submit", body))

    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(race, range(30)))

    assert sorted(codes) == ["0"] * 10 + ["3001"] * 20
    assert slot_view(sandbox, schedule)["remaining"] == 0


def test_signatures_timestamps_and_nonces(platform: ShenzhenHealth) -> None:
    good = platform.signed(hos_code=PEOPLES)
    assert code_of(platform.post("department/list", good)) == "0"
    assert code_of(platform.post("department/list", good)) == "1004"  # the same nonce again

    tampered = {**platform.signed(hos_code=PEOPLES), "hos_code": "440301002"}
    assert code_of(platform.post("department/list", tampered)) == "1002"
    upper = platform.signed(hos_code=PEOPLES)
    assert code_of(platform.post("department/list", {**upper, "sign": upper["sign"].upper()})) == "1002"
    for skew in (-301, 301):
        stale = platform.signed(timestamp=int(time.time()) + skew, hos_code=PEOPLES)
        assert code_of(platform.post("department/list", stale)) == "1003"
    stranger = platform.signed(hos_code=PEOPLES)
    stranger = {**stranger, "app_id": "szjk_someone_else"}
    stranger["sign"] = sign(platform.secret, stranger)
    assert code_of(platform.post("department/list", stranger)) == "1005"
    empty_is_left_out = platform.signed(hos_code=PEOPLES, dep_code=CARDIOLOGY, work_date="")
    assert code_of(platform.post("schedule/list", empty_is_left_out)) == "0"


def resigned(platform: ShenzhenHealth, **changes: Any) -> dict[str, Any]:
    """A department/list body with changes applied (None removes a parameter), signed again unless sign=None."""
    body: dict[str, Any] = platform.signed(hos_code=PEOPLES)
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    if "sign" not in changes:
        body["sign"] = sign(platform.secret, {k: str(v) for k, v in body.items()})
    return body


@pytest.mark.parametrize(
    "changes",
    [
        {"sign": None},
        {"nonce": None},
        {"hos_code": None},
        {"sign_type": "MD5"},
        {"timestamp": "1700000000000"},
        {"nonce": "short"},
        {"hos_code": 440301001},
        {"extra": "1"},
    ],
    ids=repr,
)
def test_malformed_requests_are_the_platform_own_1001(platform: ShenzhenHealth, changes: dict[str, Any]) -> None:
    assert code_of(platform.post("department/list", resigned(platform, **changes))) == "1001"


@pytest.mark.parametrize(
    ("patient", "field"),
    [
        ({"patient_name": "张三", "patient_id_number": "1234"}, "patient_id_number"),
        ({"patient_name": "张三\n", "patient_id_number": "330106199001010015"}, "patient_name"),
        ({"patient_name": "张三", "patient_id_number": "330106199001010015", "patient_phone": "138"}, "patient_phone"),
    ],
)
def test_bad_patients_are_refused_without_echoing_them(
    platform: ShenzhenHealth, patient: dict[str, str], field: str
) -> None:
    schedule = platform.free_schedule(PEOPLES, CARDIOLOGY)
    answer = platform.call("order/submit", schedule_id=schedule, out_order_no="CT-bad-patient", **patient)
    assert answer["code"] == "1001" and field in answer["msg"]
    assert all(value not in answer["msg"] for value in patient.values())


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'"x"', b"null", b"\xff"])
def test_a_body_that_is_not_a_json_object_is_1001(platform: ShenzhenHealth, raw: bytes) -> None:
    response = platform.http.post(platform.url + "hospital/list", data=raw, timeout=5)
    assert response.status_code == 200 and code_of(response) == "1001"


def test_unknown_actions_and_methods(platform: ShenzhenHealth) -> None:
    unknown = platform.post("order/refund", platform.signed(order_no="1"))
    assert (unknown.status_code, code_of(unknown)) == (404, "1006")
    wrong = platform.http.get(platform.url + "order/submit", timeout=5)
    assert (wrong.status_code, code_of(wrong), wrong.headers["Allow"]) == (405, "1007", "POST")
    elsewhere = platform.http.get(platform.url.replace("/open/v1/", "/admin"), timeout=5)
    assert (elsewhere.status_code, code_of(elsewhere)) == (404, "1006")


def test_faults_reach_every_action(platform: ShenzhenHealth, faults: Any) -> None:
    faults(target="outpatient.shenzhen_health_platform", mode="down")
    assert platform.post("hospital/list", platform.signed()).status_code == 503

    faults(target="outpatient.shenzhen_health_platform", mode="error")
    assert platform.call("hospital/list")["code"] == "9999"
    faults(target="outpatient.shenzhen_health_platform", mode="error", errcode=3001)
    assert platform.call("hospital/list")["code"] == "3001"

    faults(target="outpatient.shenzhen_health_platform", mode="flaky")
    assert [platform.call("hospital/list")["code"] for _ in range(4)] == ["9999", "0", "9999", "0"]

    faults(target="outpatient.shenzhen_health_platform", mode="slow", delay_seconds=1.0)
    with pytest.raises(requests.Timeout):
        platform.http.post(platform.url + "hospital/list", json=platform.signed(), timeout=0.3)
