"""zhejiang_traffic_police: move requests become tickets the system works on by itself; status; cancel."""

from __future__ import annotations

import concurrent.futures
import re
import secrets
import time
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.sandbox.upstream_callers import ZhejiangTrafficPolice
from tests.sandbox.upstream_callers import credential
from tests.sandbox.upstream_callers import new_id_number

SYSTEM = "zhejiang_traffic_police"
MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+08:00")


@pytest.fixture
def police(sandbox: Any) -> ZhejiangTrafficPolice:
    return ZhejiangTrafficPolice(sandbox.base, sandbox.http, *credential(sandbox, SYSTEM))


def new_plate(sandbox: Any, reachable: bool = True, province: str = "浙A") -> str:
    plate = province + "".join(secrets.choice("0123456789") for _ in range(5))
    body = {"system": SYSTEM, "plate": plate, "owner_id_number": new_id_number(), "owner_reachable": reachable}
    assert sandbox.helper("POST", "vehicles", json=body).status_code in (200, 201)
    return plate


def new_ref() -> str:
    return "resident-" + secrets.token_hex(6)


def set_status(sandbox: Any, ticket_no: str, status: str) -> Any:
    return sandbox.helper("POST", f"car-move/tickets/{ticket_no}/status", json={"status": status})


def test_a_request_becomes_a_ticket_the_owner_is_notified(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    plate = new_plate(sandbox)

    answer = police.submit(plate, new_ref(), message="您的车挡住了出口")

    assert (answer["code"], answer["msg"]) == (0, "success")
    ticket = answer["data"]
    assert re.fullmatch(r"ZJNC[0-9]{14}", ticket["ticketNo"]) and ticket["hphm"] == plate and ticket["hpzl"] == "02"
    assert ticket["status"] == "NOTIFIED" and MOMENT.fullmatch(ticket["createdAt"])
    assert [e["status"] for e in ticket["events"]] == ["NOTIFIED"]
    seen = sandbox.helper("GET", "car-move/tickets", params={"system": SYSTEM, "plate": plate}).json()["tickets"]
    assert [(t["ticket_no"], t["status"], t["message"]) for t in seen] == [
        (ticket["ticketNo"], "notified", "您的车挡住了出口")
    ]
    assert seen[0]["location"] == {"address": "杭州市西湖区文三路90号", "longitude": 120.13, "latitude": 30.28}


def test_the_ticket_goes_acknowledged_then_moved(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    ticket_no = police.submit(new_plate(sandbox), new_ref())["data"]["ticketNo"]

    assert set_status(sandbox, ticket_no, "acknowledged").json()["status"] == "acknowledged"
    assert police.call("GET", f"move-requests/{ticket_no}").json()["data"]["status"] == "ACKNOWLEDGED"
    set_status(sandbox, ticket_no, "moved")

    data = police.call("GET", f"move-requests/{ticket_no}").json()["data"]
    assert [e["status"] for e in data["events"]] == ["NOTIFIED", "ACKNOWLEDGED", "MOVED"]
    assert data["status"] == "MOVED" and data["updatedAt"] >= data["createdAt"]
    assert police.call("POST", f"move-requests/{ticket_no}/cancel", {}).json()["code"] == 40902


def test_an_unreachable_owner_ends_the_ticket(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    ticket_no = police.submit(new_plate(sandbox), new_ref())["data"]["ticketNo"]
    set_status(sandbox, ticket_no, "unreachable")
    assert police.call("GET", f"move-requests/{ticket_no}").json()["data"]["status"] == "UNREACHABLE"
    assert police.call("POST", f"move-requests/{ticket_no}/cancel").json() == {
        "code": 40902,
        "msg": "挪车工单已结束，不能撤销",
        "data": None,
    }


def test_cancel_is_final_and_repeatable(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    ticket_no = police.submit(new_plate(sandbox), new_ref())["data"]["ticketNo"]
    set_status(sandbox, ticket_no, "acknowledged")

    cancelled = police.call("POST", f"move-requests/{ticket_no}/cancel", {}).json()
    again = police.call("POST", f"move-requests/{ticket_no}/cancel", {}).json()

    assert cancelled["data"]["status"] == again["data"]["status"] == "CANCELLED"
    assert len(again["data"]["events"]) == 3
    assert set_status(sandbox, ticket_no, "moved").status_code == 409


def test_unknown_plates_and_types_are_the_systems_own_error(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    registered = new_plate(sandbox)
    for plate, kind in (("浙A00000", "02"), ("沪A12345", "02"), (registered, "52"), (registered, "01")):
        answer = police.submit(plate, new_ref(), hpzl=kind)
        assert answer == {"code": 40401, "msg": "未查询到该号牌车辆的登记信息", "data": None}, plate
    new_energy = police.submit("浙AD12345", new_ref())  # the demo's new-energy car, type 52
    assert new_energy["code"] == 0 and new_energy["data"]["hpzl"] == "52"


@pytest.mark.parametrize(
    "change",
    [
        {"hphm": "浙a12345"},
        {"hphm": "浙AI2345"},
        {"hphm": "ZJA12345"},
        {"hphm": 12345},
        {"hpzl": "03"},
        {"hpzl": 2},
        {"request_no": "short"},
        {"request_no": "has space in it"},
        {"requesterRef": "x"},
        {"location": "文三路"},
        {"location": {}},
        {"location": {"address": ""}},
        {"location": {"address": "文三路", "longitude": 120.1}},
        {"location": {"address": "文三路", "longitude": 10**400, "latitude": 30.0}},
        {"location": {"address": "文三路", "longitude": 120.1, "latitude": 91}},
        {"location": {"address": "文三路", "longitude": True, "latitude": 30.0}},
        {"location": {"address": "x" * 101}},
        {"message": "x" * 51},
        {"message": ["hi"]},
    ],
)
def test_malformed_requests_are_40001(sandbox: Any, police: ZhejiangTrafficPolice, change: dict[str, Any]) -> None:
    plate = change.pop("hphm", "浙A12345")
    requester = change.pop("requesterRef", new_ref())
    answer = police.submit(plate, requester, **change)
    assert answer["code"] == 40001 and answer["msg"].startswith("参数错误") and answer["data"] is None


def test_a_retried_request_number_returns_the_same_ticket(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    plate, requester = new_plate(sandbox), new_ref()
    first = police.submit(plate, requester, request_no="ct-retry-" + secrets.token_hex(4))
    number = first["data"]["requestNo"]

    retried = police.submit(plate, requester, request_no=number)
    other = police.submit(new_plate(sandbox), requester, request_no=number)

    assert retried["data"]["ticketNo"] == first["data"]["ticketNo"]
    assert other["code"] == 40901
    assert len(sandbox.helper("GET", "car-move/tickets", params={"plate": plate}).json()["tickets"]) == 1


def test_five_requests_a_month_per_requester(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    requester = new_ref()
    codes = [police.submit(new_plate(sandbox), requester)["code"] for _ in range(6)]
    assert codes == [0, 0, 0, 0, 0, 42901]
    assert police.submit(new_plate(sandbox), new_ref())["code"] == 0


def test_tokens_are_required_and_expire(spawn_sandbox: Any) -> None:
    quick = spawn_sandbox("zj-tokens", upstream_token_ttl_seconds=1)
    police = ZhejiangTrafficPolice(quick.base, quick.http, *credential(quick, SYSTEM))
    wrong = ZhejiangTrafficPolice(quick.base, quick.http, police.app_key, "0" * 32)
    answer = wrong.http.post(wrong._url("token"), json={"appKey": wrong.app_key, "appSecret": "x"}, timeout=10).json()
    assert answer["code"] == 40103

    lone = b'{"appKey": "ZJJJ0571CT01", "appSecret": "\\ud800"}'
    headers = {"Content-Type": "application/json"}
    assert quick.http.post(police._url("token"), data=lone, headers=headers, timeout=10).json()["code"] == 40103

    assert police.call("GET", "move-requests/ZJNC1", token="nope").json()["code"] == 40101
    no_header = quick.http.get(quick.base + "/upstreams/zhejiang-traffic-police/api/v1/move-requests/ZJNC1", timeout=10)
    assert no_header.json()["code"] == 40101
    assert police.submit("浙A12345")["code"] == 0
    time.sleep(1.2)
    assert police.submit("浙A12345")["code"] == 40102


def test_unknown_tickets(police: ZhejiangTrafficPolice) -> None:
    for ticket_no in ("ZJNC2000010100000009", "zjnc1", "X" * 41):
        assert police.call("GET", f"move-requests/{ticket_no}").json()["code"] == 40402
        assert police.call("POST", f"move-requests/{ticket_no}/cancel").json()["code"] == 40402


def test_tickets_advance_by_themselves_on_the_configured_clock(spawn_sandbox: Any) -> None:
    clocked = spawn_sandbox("zj-clock", car_move_step_seconds=1.0)
    police = ZhejiangTrafficPolice(clocked.base, clocked.http, *credential(clocked, SYSTEM))
    reachable = police.submit("浙A12345")["data"]["ticketNo"]
    unreachable = police.submit("浙AD12345", "resident-other")["data"]["ticketNo"]
    by_hand = police.submit("浙A12345", "resident-third")["data"]["ticketNo"]
    assert set_status(clocked, by_hand, "acknowledged").status_code == 200

    def statuses() -> tuple[str, ...]:
        return tuple(
            police.call("GET", f"move-requests/{t}").json()["data"]["status"] for t in (reachable, unreachable, by_hand)
        )

    assert statuses() == ("NOTIFIED", "NOTIFIED", "ACKNOWLEDGED")
    time.sleep(1.3)
    assert statuses() == ("ACKNOWLEDGED", "NOTIFIED", "ACKNOWLEDGED")
    time.sleep(1.0)
    # Once set by hand, a ticket is left alone by the clock.
    assert statuses() == ("MOVED", "UNREACHABLE", "ACKNOWLEDGED")
    events = police.call("GET", f"move-requests/{reachable}").json()["data"]["events"]
    assert [e["status"] for e in events] == ["NOTIFIED", "ACKNOWLEDGED", "MOVED"]


def test_faults_cover_the_ticket_api(police: ZhejiangTrafficPolice, faults: Any) -> None:
    police.fetch_token()
    faults(target="car_move.zhejiang_traffic_police", mode="error")
    assert police.submit("浙A12345", new_ref()) == {"code": 50001, "msg": "系统繁忙，请稍后重试", "data": None}
    faults(target="car_move.zhejiang_traffic_police", mode="down")
    assert police.call("GET", "move-requests/ZJNC1").status_code == 503
    assert police.call("GET", "move-requests/ZJNC1").json()["code"] == 40402


def test_malformed_bodies(police: ZhejiangTrafficPolice) -> None:
    police.fetch_token()
    url = police._url("move-requests")
    headers = {"X-Access-Token": police.token or "", "Content-Type": "application/json"}
    lone = (
        b'{"requestNo": "req-00000001", "hphm": "\\u6d59A12345", "hpzl": "02", "requesterRef": "r-000001",'
        b' "location": {"address": "\\udc00"}}'
    )
    for raw in (b"", b"{", b"[]", b'"x"', b"\xff", lone):
        assert police.http.post(url, data=raw, headers=headers, timeout=10).json()["code"] == 40001
    token = {"X-Access-Token": police.token or ""}
    as_form = police.http.post(url, data={"hphm": "浙A12345"}, headers=token, timeout=10)
    assert as_form.json()["code"] == 40001


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["requestNo", "hphm", "hpzl", "location", "requesterRef", "message"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
        | st.dictionaries(
            st.sampled_from(["address", "longitude", "latitude"]),
            st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
        ),
        max_size=4,
    )
)
def test_no_body_makes_the_system_fail(police: ZhejiangTrafficPolice, body: dict[str, Any]) -> None:
    response = police.call("POST", "move-requests", body)
    assert response.status_code == 200 and isinstance(response.json()["code"], int)


def test_concurrent_retries_of_one_request_open_one_ticket(sandbox: Any, police: ZhejiangTrafficPolice) -> None:
    plate, requester, number = new_plate(sandbox), new_ref(), "ct-race-" + secrets.token_hex(4)
    police.fetch_token()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: police.submit(plate, requester, request_no=number), range(8)))
    assert [a["code"] for a in answers] == [0] * 8
    assert len({a["data"]["ticketNo"] for a in answers}) == 1
    assert len(sandbox.helper("GET", "car-move/tickets", params={"plate": plate}).json()["tickets"]) == 1
