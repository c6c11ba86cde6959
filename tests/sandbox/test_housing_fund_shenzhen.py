"""shenzhen_gjj: camelCase JSON in fen, bearer tokens that expire, cursor-paged records, HTTP-status errors."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.sandbox.upstream_callers import ShenzhenGjj
from tests.sandbox.upstream_callers import credential
from tests.sandbox.upstream_callers import new_id_number
from tests.sandbox.upstream_callers import open_account

SYSTEM = "shenzhen_gjj"
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@pytest.fixture
def gjj(sandbox: Any) -> ShenzhenGjj:
    client_id, secret = credential(sandbox, SYSTEM)
    return ShenzhenGjj(sandbox.base, sandbox.http, client_id, secret)


def error_of(response: Any, status: int) -> str:
    """The errorCode of an error answer with this HTTP status (and a requestId)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorMessage"] and re.fullmatch(r"[0-9a-f]{16}", body["requestId"])
    return body["errorCode"]


def test_a_token_then_the_account_in_fen_and_iso_dates(sandbox: Any, gjj: ShenzhenGjj) -> None:
    issued = gjj.fetch_token()
    assert issued["tokenType"] == "Bearer" and issued["expiresIn"] == 7200 and len(issued["accessToken"]) >= 32
    id_number, name, opened = open_account(sandbox, SYSTEM, balance_fen=8_642_050, monthly_fen=450_001)

    response = gjj.post("accounts/query", {"idNumber": id_number, "name": name})

    assert response.status_code == 200 and response.headers["X-Request-Id"]
    account = response.json()
    assert account["accountNumber"] == opened["account_number"] and account["name"] == name
    assert (account["status"], account["balance"], account["hasLoan"], account["closedOn"]) == (
        "ACTIVE",
        8_642_050,
        False,
        None,
    )
    assert account["monthlyContribution"] == {"personal": 225_000, "employer": 225_001, "total": 450_001}
    assert account["contributionBase"] == 1_875_000
    assert ISO_DAY.fullmatch(account["openedOn"]) and ISO_DAY.fullmatch(account["lastContributionOn"])
    assert account["paidUpTo"] == account["lastContributionOn"][:7]
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\+08:00", account["asOf"])


def test_the_demo_residents(gjj: ShenzhenGjj) -> None:
    active = gjj.post("accounts/query", {"idNumber": "440305199204150037", "name": "王五"}).json()
    closed = gjj.post("accounts/query", {"idNumber": "440304198809230055", "name": "赵六"}).json()
    assert (active["accountNumber"], active["balance"]) == ("204400000001", 8_642_050)
    assert (closed["status"], closed["balance"]) == ("CLOSED", 0) and ISO_DAY.fullmatch(closed["closedOn"])


@pytest.mark.parametrize(("status", "shown"), [("sealed", "SEALED"), ("frozen", "FROZEN"), ("closed", "CLOSED")])
def test_the_account_status(sandbox: Any, gjj: ShenzhenGjj, status: str, shown: str) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM, status=status, monthly_fen=100_000)
    account = gjj.post("accounts/query", {"idNumber": id_number, "name": name}).json()
    assert account["status"] == shown
    assert (account["closedOn"] is not None) == (status == "closed")
    # A closed account still shows its history, as the centre keeps it.
    assert len(gjj.post("accounts/records/query", {"idNumber": id_number, "name": name}).json()["items"]) == 12


def test_records_follow_the_cursor_to_the_end(sandbox: Any, gjj: ShenzhenGjj) -> None:
    records = [
        {"date": f"20{20 + i // 12}-{i % 12 + 1:02d}-15", "kind": "deposit", "amount_fen": 1000 + i} for i in range(44)
    ]
    records.append({"date": "2024-09-02", "kind": "withdrawal", "amount_fen": 777_700})
    id_number, name, _ = open_account(sandbox, SYSTEM, records=records)
    who = {"idNumber": id_number, "name": name}

    pages, cursor = [], None
    while True:
        page = gjj.post("accounts/records/query", {**who, "limit": 20, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert [len(items) for items in pages] == [20, 20, 5]
    items = [item for page in pages for item in page]
    assert [i["postedOn"] for i in items] == sorted((i["postedOn"] for i in items), reverse=True)
    assert len({i["id"] for i in items}) == 45
    withdrawal = next(i for i in items if i["type"] == "WITHDRAWAL")
    assert withdrawal["amount"] == -777_700 and withdrawal["postedOn"] == "2024-09-02"  # signed, unlike hangzhou_gjj
    assert {i["type"] for i in items} == {"DEPOSIT", "WITHDRAWAL"} and all(isinstance(i["amount"], int) for i in items)
    default = gjj.post("accounts/records/query", who).json()
    assert [i["id"] for i in default["items"]] == [i["id"] for i in pages[0]] and default["nextCursor"]


def test_a_cursor_is_only_good_for_its_account(sandbox: Any, gjj: ShenzhenGjj) -> None:
    mine = open_account(sandbox, SYSTEM, monthly_fen=100_000)
    theirs = open_account(sandbox, SYSTEM, monthly_fen=100_000)
    first = gjj.post("accounts/records/query", {"idNumber": mine[0], "name": mine[1], "limit": 5}).json()
    assert first["nextCursor"]

    for cursor in (first["nextCursor"] + "x", "not-a-cursor", "", 12, "✓", first["nextCursor"][::-1]):
        response = gjj.post("accounts/records/query", {"idNumber": mine[0], "name": mine[1], "cursor": cursor})
        assert error_of(response, 400) == "INVALID_CURSOR", cursor
    stolen = gjj.post(
        "accounts/records/query", {"idNumber": theirs[0], "name": theirs[1], "cursor": first["nextCursor"]}
    )
    assert error_of(stolen, 400) == "INVALID_CURSOR"


@pytest.mark.parametrize("limit", [0, 101, "5", True, 2.5, None])
def test_bad_limits(sandbox: Any, gjj: ShenzhenGjj, limit: Any) -> None:
    body = {"idNumber": "440305199204150037", "name": "王五", "limit": limit}
    response = gjj.post("accounts/records/query", body)
    assert error_of(response, 400) == "INVALID_REQUEST" and response.json()["field"] == "limit"


def test_the_loan_or_null(sandbox: Any, gjj: ShenzhenGjj) -> None:
    loan = {"principal_fen": 50_000_000, "balance_fen": 0, "issued_on": "2010-01-05", "term_months": 120, "rate_bp": 0}
    paid, paid_name, _ = open_account(sandbox, SYSTEM, loan=loan)
    none, none_name, _ = open_account(sandbox, SYSTEM)

    answer = gjj.post("accounts/loan/query", {"idNumber": paid, "name": paid_name}).json()["loan"]
    assert (answer["status"], answer["principal"], answer["balance"], answer["annualRateBasisPoints"]) == (
        "PAID_OFF",
        50_000_000,
        0,
        0,
    )
    assert answer["nextPaymentOn"] is None and answer["remainingMonths"] == 0 and answer["monthlyPayment"] == 0
    assert gjj.post("accounts/loan/query", {"idNumber": none, "name": none_name}).json() == {"loan": None}

    overdue = {**loan, "balance_fen": 20_000_000, "rate_bp": 310, "overdue_periods": 3, "issued_on": "2020-02-01"}
    late, late_name, _ = open_account(sandbox, SYSTEM, loan=overdue)
    owed = gjj.post("accounts/loan/query", {"idNumber": late, "name": late_name}).json()["loan"]
    assert owed["status"] == "OVERDUE" and owed["overdueAmount"] == 3 * owed["monthlyPayment"] > 0
    assert ISO_DAY.fullmatch(owed["nextPaymentOn"]) and owed["nextPaymentOn"].endswith("-20")


def test_the_real_refusals(sandbox: Any, gjj: ShenzhenGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    for path in ("accounts/query", "accounts/records/query", "accounts/loan/query"):
        assert error_of(gjj.post(path, {"idNumber": new_id_number("440305"), "name": name}), 404) == "ACCOUNT_NOT_FOUND"
        assert error_of(gjj.post(path, {"idNumber": id_number, "name": "别人"}), 422) == "NAME_MISMATCH"
        assert error_of(gjj.post(path, {"idNumber": id_number}), 400) == "INVALID_REQUEST"


def test_token_endpoint_refusals(gjj: ShenzhenGjj) -> None:
    url = f"{gjj.base}/upstreams/shenzhen-gjj/v2/auth/token"
    good = {"grantType": "client_credentials", "clientId": gjj.client_id, "clientSecret": gjj.client_secret}
    cases = [
        ({**good, "clientSecret": "nope"}, 401, "INVALID_CLIENT"),
        ({**good, "clientId": "someone"}, 401, "INVALID_CLIENT"),
        ({**good, "grantType": "password"}, 400, "UNSUPPORTED_GRANT_TYPE"),
        ({**good, "clientSecret": 12}, 400, "INVALID_REQUEST"),
        ([good], 400, "INVALID_REQUEST"),
    ]
    for body, status, code in cases:
        assert error_of(gjj.http.post(url, json=body, timeout=10), status) == code
    as_form = gjj.http.post(url, data=good, timeout=10)
    assert error_of(as_form, 400) == "INVALID_REQUEST"
    # JSON may carry lone surrogates, which no UTF-8 encoder takes: still an answer, not a crash.
    raw = b'{"grantType": "client_credentials", "clientId": "citytiles-szgjj", "clientSecret": "\\ud800"}'
    lone = gjj.http.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=10)
    assert error_of(lone, 401) == "INVALID_CLIENT"


def test_a_missing_or_unknown_token_is_401(gjj: ShenzhenGjj) -> None:
    body = {"idNumber": "440305199204150037", "name": "王五"}
    url = f"{gjj.base}/upstreams/shenzhen-gjj/v2/accounts/query"
    missing = gjj.http.post(url, json=body, timeout=10)
    assert error_of(missing, 401) == "TOKEN_MISSING" and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(gjj.post("accounts/query", body, token="made-up"), 401) == "TOKEN_INVALID"
    basic = gjj.http.post(url, json=body, headers={"Authorization": "Basic abc"}, timeout=10)
    assert error_of(basic, 401) == "TOKEN_MISSING"


def test_tokens_expire(spawn_sandbox: Any) -> None:
    quick = spawn_sandbox("quick-tokens", upstream_token_ttl_seconds=1)
    gjj = ShenzhenGjj(quick.base, quick.http, *credential(quick, SYSTEM))
    assert gjj.fetch_token()["expiresIn"] == 1
    body = {"idNumber": "440305199204150037", "name": "王五"}
    assert gjj.post("accounts/query", body).status_code == 200

    time.sleep(1.2)
    expired = gjj.post("accounts/query", body)
    assert error_of(expired, 401) == "TOKEN_EXPIRED"
    gjj.fetch_token()
    assert gjj.post("accounts/query", body).status_code == 200


def test_malformed_bodies_are_400(gjj: ShenzhenGjj) -> None:
    gjj.fetch_token()
    url = f"{gjj.base}/upstreams/shenzhen-gjj/v2/accounts/query"
    headers = {"Authorization": f"Bearer {gjj.token}", "Content-Type": "application/json"}
    surrogates = b'{"idNumber": "440305199204150037", "name": "\\ud800"}'
    for raw in (b"", b"{", b"[]", b"null", b'{"idNumber": NaN}', b"\xff", b"[" * 50_000 + b"]" * 50_000, surrogates):
        response = gjj.http.post(url, data=raw, headers=headers, timeout=10)
        assert error_of(response, 400) == "INVALID_REQUEST", raw[:20]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["idNumber", "name", "cursor", "limit", "x"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30)
        | st.lists(st.integers()),
        max_size=4,
    ),
    path=st.sampled_from(["accounts/query", "accounts/records/query", "accounts/loan/query"]),
)
def test_no_body_makes_the_centre_fail(gjj: ShenzhenGjj, body: dict[str, Any], path: str) -> None:
    response = gjj.post(path, {"idNumber": "440305199204150037", "name": "王五", **body})
    assert response.status_code in (200, 400, 404, 422), response.text
    assert isinstance(response.json(), dict)


def test_faults_cover_the_queries_but_not_the_token_endpoint(gjj: ShenzhenGjj, faults: Any) -> None:
    body = {"idNumber": "440305199204150037", "name": "王五"}
    faults(target="housing_fund.shenzhen_gjj", mode="error", times=2)
    gjj.fetch_token()
    busy = gjj.post("accounts/query", body)
    assert error_of(busy, 503) == "SYSTEM_BUSY" and busy.headers["Retry-After"] == "5"
    assert error_of(gjj.post("accounts/loan/query", body), 503) == "SYSTEM_BUSY"
    assert gjj.post("accounts/query", body).status_code == 200

    faults(target="housing_fund.shenzhen_gjj", mode="down")
    assert gjj.post("accounts/query", body).status_code == 503
    assert gjj.post("accounts/query", body).status_code == 200
