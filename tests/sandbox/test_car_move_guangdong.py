"""guangdong_traffic_police: yes/no answers about a plate and its owner, requests signed in headers."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.sandbox.upstream_callers import GuangdongTrafficPolice
from tests.sandbox.upstream_callers import credential
from tests.sandbox.upstream_callers import new_id_number

SYSTEM = "guangdong_traffic_police"
OWNER = "440305199204150037"  # the demo owner of 粤B12345


@pytest.fixture
def police(sandbox: Any) -> GuangdongTrafficPolice:
    return GuangdongTrafficPolice(sandbox.base, sandbox.http, *credential(sandbox, SYSTEM))


def answer_of(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_a_registered_plate_and_its_owner(police: GuangdongTrafficPolice) -> None:
    assert answer_of(police.check({"hphm": "粤B12345", "hpzl": "02", "sfzmhm": OWNER})) == {
        "ret": 0,
        "msg": "ok",
        "result": {"registered": True, "ownerMatched": True},
    }
    stranger = answer_of(police.check({"hphm": "粤B12345", "hpzl": "02", "sfzmhm": new_id_number("440305")}))
    assert stranger["result"] == {"registered": True, "ownerMatched": False}
    assert answer_of(police.check({"hphm": "粤B12345", "hpzl": "02"}))["result"] == {"registered": True}
    lower_x = answer_of(police.check({"hphm": "粤BD54321", "hpzl": "52", "sfzmhm": "440304198809230055"}))
    assert lower_x["result"]["ownerMatched"] is True


def test_a_helper_registered_vehicle(sandbox: Any, police: GuangdongTrafficPolice) -> None:
    owner = new_id_number("440106")[:-1] + "X"
    plate = "粤A" + "".join(secrets.choice("0123456789") for _ in range(5))
    body = {"system": SYSTEM, "plate": plate, "owner_id_number": owner, "plate_type": "01"}
    assert sandbox.helper("POST", "vehicles", json=body).status_code == 201
    matched = answer_of(police.check({"hphm": plate, "hpzl": "01", "sfzmhm": owner[:-1] + "x"}))
    assert matched["result"] == {"registered": True, "ownerMatched": True}
    assert answer_of(police.check({"hphm": plate, "hpzl": "02"}))["result"] == {"registered": False}


@pytest.mark.parametrize(("plate", "kind"), [("粤B00001", "02"), ("浙A12345", "02"), ("粤B12345", "52")])
def test_unregistered_is_an_answer_not_an_error(police: GuangdongTrafficPolice, plate: str, kind: str) -> None:
    found = answer_of(police.check({"hphm": plate, "hpzl": kind, "sfzmhm": OWNER}))
    assert found == {"ret": 0, "msg": "ok", "result": {"registered": False, "ownerMatched": False}}


def test_signature_refusals(police: GuangdongTrafficPolice) -> None:
    raw = json.dumps({"hphm": "粤B12345", "hpzl": "02"}).encode()
    good = police.headers(raw)

    def ret(response: Any) -> int:
        return answer_of(response, 401)["ret"]

    assert ret(police.post(raw, {**good, "X-GDTP-Signature": ""})) == 1001
    assert ret(police.post(raw, {k: v for k, v in good.items() if k != "X-GDTP-Nonce"})) == 1001
    assert ret(police.post(raw, {**good, "X-GDTP-Timestamp": "yesterday"})) == 1001
    assert ret(police.post(raw, police.headers(raw) | {"X-GDTP-AppId": "GDTP-OTHER"})) == 1002
    assert ret(police.post(raw.replace(b"12345", b"99999"), police.headers(raw))) == 1003
    assert ret(police.post(raw, {**police.headers(raw), "X-GDTP-Signature": "AAAA"})) == 1003
    stale = police.headers(raw, timestamp=int(time.time()) - 600)
    assert ret(police.post(raw, stale)) == 1004
    assert answer_of(police.post(raw, good))["ret"] == 0
    replayed = police.post(raw, good)
    assert ret(replayed) == 1005 and replayed.json()["result"] is None


def test_someone_without_the_secret_is_refused(police: GuangdongTrafficPolice) -> None:
    forger = GuangdongTrafficPolice(police.base, police.http, police.app_id, "f" * 64)
    assert answer_of(forger.check({"hphm": "粤B12345", "hpzl": "02", "sfzmhm": OWNER}), 401)["ret"] == 1003


@pytest.mark.parametrize(
    "body",
    [
        {"hpzl": "02"},
        {"hphm": "粤b12345", "hpzl": "02"},
        {"hphm": "粤B12345"},
        {"hphm": "粤B12345", "hpzl": 2},
        {"hphm": "粤B12345", "hpzl": "02", "sfzmhm": "4403"},
        {"hphm": "粤B12345", "hpzl": "02", "sfzmhm": 440305199204150037},
        {"hphm": ["粤B12345"], "hpzl": "02"},
    ],
)
def test_malformed_queries_are_2001(police: GuangdongTrafficPolice, body: dict[str, Any]) -> None:
    answer = answer_of(police.check(body), 400)
    assert answer["ret"] == 2001 and answer["result"] is None


def test_malformed_bodies_are_2001(police: GuangdongTrafficPolice) -> None:
    for raw in (b"", b"{", b"[]", b"\xff", b'{"hphm": Infinity}'):
        assert answer_of(police.post(raw, police.headers(raw)), 400)["ret"] == 2001
    form = b"hphm=x"
    headers = {**police.headers(form), "Content-Type": "application/x-www-form-urlencoded"}
    assert answer_of(police.post(form, headers), 400)["ret"] == 2001


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["hphm", "hpzl", "sfzmhm", "x"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.lists(st.text(max_size=3)),
        max_size=4,
    )
)
def test_no_body_makes_the_system_fail(police: GuangdongTrafficPolice, body: dict[str, Any]) -> None:
    response = police.check(body)
    assert response.status_code in (200, 400) and isinstance(response.json()["ret"], int)


def test_faults(police: GuangdongTrafficPolice, faults: Any) -> None:
    faults(target="car_move.guangdong_traffic_police", mode="error")
    busy = police.check({"hphm": "粤B12345", "hpzl": "02"})
    assert answer_of(busy, 503) == {"ret": 5001, "msg": "系统繁忙", "result": None}
    faults(target="car_move.guangdong_traffic_police", mode="down", close_connection=False)
    assert police.check({"hphm": "粤B12345", "hpzl": "02"}).status_code == 503
    assert answer_of(police.check({"hphm": "粤B12345", "hpzl": "02"}))["ret"] == 0
