"""zheyi_his, the FHIR-like HIS: find, hold, book, cancel; expiry, conflicts, errors and faults over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.sandbox.outpatient_clients import SHANGHAI
from tests.sandbox.outpatient_clients import ZheyiHis
from tests.sandbox.outpatient_clients import direct_session
from tests.sandbox.outpatient_clients import new_patient
from tests.sandbox.outpatient_clients import shanghai_today

GASTRO = "ZY01-XHNK"  # 消化内科: a chief (3 places), an associate (5) and an attending (10)
CLINIC = "ZY01-BMMZ"  # 便民门诊: free, every day


@pytest.fixture
def his(sandbox: Any) -> Iterator[ZheyiHis]:
    """The shared sandbox's HIS with every place free again."""
    sandbox.helper("DELETE", "outpatient/holds")
    yield ZheyiHis(sandbox.base, sandbox.config.state_dir, sandbox.http)
    sandbox.helper("DELETE", "outpatient/holds")


def error_code(response: requests.Response) -> tuple[int, str, str]:
    """(HTTP status, FHIR issue type, the HIS's code) of an OperationOutcome."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    issue = body["issue"][0]
    assert issue["severity"] == "error" and issue["details"]["text"]
    return response.status_code, issue["code"], issue["details"]["coding"][0]["code"]


def slot_view(sandbox: Any, slot_id: str) -> dict[str, Any]:
    response = sandbox.helper("GET", f"outpatient/slots/zheyi_his/{slot_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_metadata_is_open_and_everything_else_needs_the_key(his: ZheyiHis) -> None:
    assert his.call("GET", "/metadata", key="").json()["fhirVersion"] == "4.0.1"
    for key in ("", "wrong-key", his.key + "x"):
        assert error_code(his.call("GET", "/Organization", key=key)) == (401, "login", "UNAUTHORIZED")
    assert his.call("GET", "/Organization").status_code == 200


def test_hospitals_and_departments(his: ZheyiHis) -> None:
    hospitals = his.call("GET", "/Organization").json()
    services = his.call("GET", "/HealthcareService", params={"organization": "ZY01"}).json()

    assert [e["resource"]["id"] for e in hospitals["entry"]] == ["ZY01", "ZY02", "ZY03"]
    assert hospitals["total"] == 3 and hospitals["entry"][0]["resource"]["name"].startswith(
        "浙江大学医学院附属第一医院"
    )
    assert {e["resource"]["id"] for e in services["entry"]} == {"ZY01-XHNK", "ZY01-XXGNK", "ZY01-PFK", "ZY01-BMMZ"}
    assert error_code(his.call("GET", "/HealthcareService", params={"organization": "ZY99"}))[2] == (
        "ORGANIZATION_NOT_FOUND"
    )


def test_slots_cover_the_seven_days_from_today_in_shanghai(his: ZheyiHis) -> None:
    slots = his.slots(CLINIC)
    today, now = shanghai_today(), datetime.now(SHANGHAI)
    days = {datetime.fromisoformat(s["start"]).date() for s in slots}

    assert {today + timedelta(days=n) for n in range(1, 7)} <= days <= {today + timedelta(days=n) for n in range(7)}
    assert all(datetime.fromisoformat(s["start"]) > now for s in slots)  # started slots are not offered
    assert all(s["feeFen"] == 0 and s["start"].endswith("+08:00") for s in slots)
    fees = {s["feeFen"] for s in his.slots(GASTRO)}
    assert fees <= {5000, 3000, 1500} and len(fees) >= 2
    first = slots[0]
    assert first["resourceType"] == "Slot" and first["status"] == "free"
    assert (
        first["practitioner"]["title"] == "便民门诊" and first["service"]["reference"] == f"HealthcareService/{CLINIC}"
    )


def test_slot_search_by_date_and_its_errors(his: ZheyiHis) -> None:
    tomorrow = shanghai_today() + timedelta(days=1)
    assert {s["start"][:10] for s in his.slots(CLINIC, tomorrow)} == {tomorrow.isoformat()}
    assert his.slots(CLINIC, tomorrow + timedelta(days=30)) == []

    bad = [
        {"service": CLINIC, "date": "2024-02-30"},
        {"service": CLINIC, "date": "tomorrow"},
        {"service": CLINIC, "date": "２０２４-01-01"},
        {"date": tomorrow.isoformat()},
        {"service": CLINIC, "organization": "ZY01"},
    ]
    for params in bad:
        assert error_code(his.call("GET", "/Slot", params=params))[:2] == (400, "invalid"), params
    assert error_code(his.call("GET", "/Slot", params={"service": "ZY01-NOPE"}))[2] == "SERVICE_NOT_FOUND"


def test_hold_book_and_cancel(sandbox: Any, his: ZheyiHis) -> None:
    slot = his.free_slot(GASTRO, capacity=5)
    before = time.time()

    held = his.hold(slot["id"])
    assert held.status_code == 201, held.text
    appointment = held.json()
    expires = datetime.fromisoformat(appointment["holdExpiresAt"]).timestamp()
    assert appointment["status"] == "pending" and appointment["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    assert before + 299 <= expires <= time.time() + 301
    assert his.call("GET", f"/Slot/{slot['id']}").json()["remaining"] == 4

    booked = his.call("POST", f"/Appointment/{appointment['id']}/$book")
    assert booked.status_code == 200 and booked.json()["status"] == "booked" and "holdExpiresAt" not in booked.json()
    assert his.call("POST", f"/Appointment/{appointment['id']}/$book").json()["status"] == "booked"  # idempotent
    assert slot_view(sandbox, slot["id"])["holds"][0]["state"] == "booked"

    cancelled = his.call("POST", f"/Appointment/{appointment['id']}/$cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelationReason"]["coding"][0]["code"] == "pat"
    assert his.call("POST", f"/Appointment/{appointment['id']}/$cancel").status_code == 200  # idempotent
    assert his.call("GET", f"/Appointment/{appointment['id']}").json()["status"] == "cancelled"
    assert his.call("GET", f"/Slot/{slot['id']}").json()["remaining"] == 5
    refused = his.call("POST", f"/Appointment/{appointment['id']}/$book")
    assert error_code(refused) == (409, "conflict", "APPOINTMENT_CANCELLED")


def test_a_full_slot_is_unavailable_until_a_place_comes_back(his: ZheyiHis) -> None:
    slot = his.free_slot(GASTRO, capacity=3)
    holds = [his.hold(slot["id"]).json() for _ in range(3)]

    assert error_code(his.hold(slot["id"])) == (409, "conflict", "SLOT_UNAVAILABLE")
    full = his.call("GET", f"/Slot/{slot['id']}").json()
    assert (full["status"], full["remaining"]) == ("busy", 0)

    his.call("POST", f"/Appointment/{holds[0]['id']}/$cancel")
    assert his.hold(slot["id"]).status_code == 201


def test_one_place_per_patient_department_and_day(his: ZheyiHis) -> None:
    patient = new_patient()
    tomorrow = shanghai_today() + timedelta(days=1)
    first, second = his.slots(CLINIC, tomorrow)[:2]
    other_day = his.slots(CLINIC, tomorrow + timedelta(days=1))[0]

    held = his.hold(first["id"], patient).json()
    assert error_code(his.hold(second["id"], patient)) == (409, "duplicate", "DUPLICATE_APPOINTMENT")
    assert his.hold(other_day["id"], patient).status_code == 201
    his.call("POST", f"/Appointment/{held['id']}/$cancel")
    assert his.hold(second["id"], patient).status_code == 201


def test_unknown_ids_are_the_his_own_404(his: ZheyiHis) -> None:
    missing = "ZY01-XHNK-D01-20000101-0800"
    assert error_code(his.call("GET", f"/Slot/{missing}")) == (404, "not-found", "SLOT_NOT_FOUND")
    assert error_code(his.hold(missing))[2] == "SLOT_NOT_FOUND"
    for method, path in (("GET", ""), ("POST", "/$book"), ("POST", "/$cancel")):
        assert error_code(his.call(method, f"/Appointment/apt-0000{path}"))[2] == "APPOINTMENT_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ("", "body"),
        ("[1]", "body"),
        ('{"slot": "x"', "body"),
        ('{"patient": {"name": "张三", "idNumber": "330106199001010015"}}', "slot"),
        ('{"slot": 12, "patient": {}}', "slot"),
        ('{"slot": "ZY01", "patient": "张三"}', "patient"),
        ('{"slot": "ZY01", "patient": {"name": "张三", "idNumber": "33010619900101001"}}', "patient.idNumber"),
        ('{"slot": "ZY01", "patient": {"name": "\\u5f20\\n", "idNumber": "330106199001010015"}}', "patient.name"),
        ('{"slot": "ZY01", "patient": {"name": "张三", "idNumber": "330106199001010015", "phone": "1"}}', "phone"),
        ('{"slot": "ZY01", "patient": {"name": "张三", "idNumber": "330106199001010015", "age": 3}}', "age"),
        ('{"slot": "ZY01", "patient": {}, "priority": 1}', "priority"),
    ],
)
def test_malformed_holds_are_the_his_own_400(his: ZheyiHis, body: str, part: str) -> None:
    response = his.call(
        "POST", "/Appointment/$hold", data=body.encode(), headers={"Content-Type": "application/fhir+json"}
    )

    assert error_code(response) == (400, "invalid", "INVALID_REQUEST")
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert part in diagnostics and "330106199001010015" not in diagnostics and "33010619900101001" not in diagnostics


def test_unknown_paths_and_methods(his: ZheyiHis) -> None:
    assert error_code(his.call("GET", "/Patient")) == (404, "not-supported", "NOT_FOUND")
    wrong = his.call("DELETE", "/Slot")
    assert error_code(wrong) == (405, "not-supported", "METHOD_NOT_ALLOWED") and wrong.headers["Allow"] == "GET"
    assert his.call("GET", "/Slot").headers["Content-Type"].startswith("application/fhir+json")


def test_many_holds_at_once_never_oversell(sandbox: Any, his: ZheyiHis) -> None:
    slot = his.free_slot(GASTRO, capacity=5)
    start = threading.Barrier(24)

    def race(_: int) -> int:
        own = ZheyiHis(sandbox.base, sandbox.config.state_dir, direct_session())  # Sessions are not thread-safe
        start.wait()
        return own.hold(slot["id"]).status_code

    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(race, range(24)))

    assert sorted(statuses) == [201] * 5 + [409] * 19
    view = slot_view(sandbox, slot["id"])
    assert view["remaining"] == 0 and [h["state"] for h in view["holds"]] == ["held"] * 5


def test_holds_expire_by_themselves(spawn_sandbox: Any) -> None:
    sb = spawn_sandbox("short-holds", outpatient_hold_seconds=1)
    his = ZheyiHis(sb.base, sb.config.state_dir, sb.http)
    slot = his.free_slot(GASTRO, capacity=3)
    held = his.hold(slot["id"]).json()
    assert slot_view(sb, slot["id"])["remaining"] == 2

    time.sleep(1.2)

    view = slot_view(sb, slot["id"])
    assert view["remaining"] == 3 and view["holds"][0]["state"] == "expired"
    assert error_code(his.call("POST", f"/Appointment/{held['id']}/$book")) == (410, "expired", "HOLD_EXPIRED")
    assert error_code(his.call("POST", f"/Appointment/{held['id']}/$cancel"))[2] == "HOLD_EXPIRED"
    read = his.call("GET", f"/Appointment/{held['id']}").json()
    assert read["status"] == "cancelled" and read["cancelationReason"]["coding"][0]["code"] == "hold-expired"


def test_faults_reach_every_endpoint(his: ZheyiHis, faults: Any) -> None:
    assert faults(target="outpatient.zheyi_his", mode="down", times=2).status_code == 201
    assert his.call("GET", "/metadata").status_code == 503
    assert his.call("GET", "/nowhere").status_code == 503
    assert his.call("GET", "/Organization").status_code == 200

    faults(target="outpatient.zheyi_his", mode="error")
    assert error_code(his.call("POST", "/Appointment/$hold", json={})) == (500, "exception", "HIS_ERROR")

    faults(target="outpatient.zheyi_his", mode="flaky")
    assert [his.call("GET", "/Organization").status_code for _ in range(4)] == [500, 200, 500, 200]

    faults(target="outpatient.zheyi_his", mode="slow", delay_seconds=1.0)
    with pytest.raises(requests.Timeout):
        his.http.get(his.url + "/metadata", timeout=0.3)


def test_a_down_fault_can_drop_the_connection(his: ZheyiHis, faults: Any) -> None:
    faults(target="outpatient.zheyi_his", mode="down", close_connection=True)
    with pytest.raises(requests.ConnectionError):
        his.call("GET", "/Organization")
