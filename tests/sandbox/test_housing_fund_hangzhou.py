"""hangzhou_gjj: JGJ/T 320 fields, signed form posts, page-numbered entries, the centre's own errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.sandbox.upstream_callers import HangzhouGjj
from tests.sandbox.upstream_callers import beijing_timestamp
from tests.sandbox.upstream_callers import credential
from tests.sandbox.upstream_callers import hangzhou_sign
from tests.sandbox.upstream_callers import new_id_number
from tests.sandbox.upstream_callers import open_account

YUAN = re.compile(r"-?[0-9]+\.[0-9]{2}")
DAY = re.compile(r"[0-9]{8}")
SYSTEM = "hangzhou_gjj"


@pytest.fixture
def gjj(sandbox: Any) -> HangzhouGjj:
    appid, secret = credential(sandbox, SYSTEM)
    return HangzhouGjj(sandbox.base, sandbox.http, appid, secret)


def person(id_number: str, name: str) -> dict[str, str]:
    return {"ZJHM": id_number, "XINGMING": name}


def test_the_account_in_jgj_fields_with_yuan_strings_and_compact_dates(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, opened = open_account(sandbox, SYSTEM, balance_fen=1_234_567, monthly_fen=288_000)

    answer = gjj.call("grzhxx", **person(id_number, name))

    assert (answer["recode"], answer["msg"]) == ("000000", "成功")
    data = answer["data"]
    assert data["GRZH"] == opened["account_number"] and data["XINGMING"] == name
    assert (data["GRZHZT"], data["GRZHZTMC"], data["SFDK"]) == ("01", "正常", "0")
    assert (data["GRZHYE"], data["GRYJCE"], data["DWYJCE"], data["GRJCJS"]) == (
        "12345.67",
        "1440.00",
        "1440.00",
        "12000.00",
    )
    assert DAY.fullmatch(data["KHRQ"]) and DAY.fullmatch(data["JZRQ"]) and re.fullmatch(r"[0-9]{6}", data["JZNY"])
    assert data["JZRQ"][:6] == data["JZNY"] and data["KHRQ"] < data["JZRQ"]
    assert all(isinstance(value, str) for value in data.values())


def test_the_demo_resident_is_there_from_the_start(gjj: HangzhouGjj) -> None:
    answer = gjj.call("grzhxx", **person("330106199003071236", "张三"))
    assert answer["data"]["GRZH"] == "330100100001" and answer["data"]["GRZHYE"] == "52345.67"
    assert gjj.call("grdkxx", **person("330106199003071236", "张三"))["data"]["DKFFE"] == "800000.00"
    assert gjj.call("grzhxx", **person("330102198506120044", "李四"))["data"]["GRZHZT"] == "02"


def test_entries_come_newest_first_by_page_number(sandbox: Any, gjj: HangzhouGjj) -> None:
    records = [{"date": f"2023-{m:02d}-15", "kind": "deposit", "amount_fen": 100_000 + m} for m in range(1, 13)]
    records += [{"date": f"2024-{m:02d}-15", "kind": "deposit", "amount_fen": 200_000 + m} for m in range(1, 11)]
    records.append({"date": "2024-06-30", "kind": "interest", "amount_fen": 12_345})
    records.append({"date": "2024-11-01", "kind": "withdrawal", "amount_fen": 5_000_000})
    id_number, name, _ = open_account(sandbox, SYSTEM, records=records)

    pages = [gjj.call("grywmx", PAGENUM=str(n), PAGESIZE="10", **person(id_number, name))["data"] for n in (1, 2, 3, 4)]

    assert [len(page["LIST"]) for page in pages] == [10, 10, 4, 0]
    assert {page["TOTALCOUNT"] for page in pages} == {"24"} and pages[1]["PAGENUM"] == "2"
    listed = [entry for page in pages for entry in page["LIST"]]
    assert [e["JZRQ"] for e in listed] == sorted((e["JZRQ"] for e in listed), reverse=True)
    assert len({e["YWLSH"] for e in listed}) == 24
    withdrawal, deposit = listed[0], listed[1]
    assert (withdrawal["GJHTQYWLX"], withdrawal["FSE"], withdrawal["JZRQ"]) == (
        "11",
        "50000.00",
        "20241101",
    )  # unsigned
    assert (deposit["GJHTQYWLX"], deposit["GJHTQYWLXMC"], deposit["FSE"], deposit["ZY"]) == (
        "01",
        "汇缴",
        "2000.10",
        "2024年10月汇缴",
    )
    interest = next(e for e in listed if e["GJHTQYWLX"] == "09")
    assert (interest["FSE"], interest["GJHTQYWLXMC"]) == ("123.45", "年终结息")


def test_page_defaults_and_limits(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM, monthly_fen=300_000)  # a year of generated deposits
    default = gjj.call("grywmx", **person(id_number, name))["data"]
    assert (default["PAGENUM"], default["PAGESIZE"], default["TOTALCOUNT"], len(default["LIST"])) == (
        "1",
        "10",
        "12",
        10,
    )
    for bad in ({"PAGESIZE": "51"}, {"PAGESIZE": "0"}, {"PAGENUM": "0"}, {"PAGENUM": "-1"}, {"PAGENUM": "１"}):
        assert gjj.call("grywmx", **bad, **person(id_number, name))["recode"] == "100001", bad


def test_the_loan(sandbox: Any, gjj: HangzhouGjj) -> None:
    loan = {"principal_fen": 100_000_000, "balance_fen": 90_000_000, "issued_on": "2022-03-10", "term_months": 360}
    id_number, name, _ = open_account(sandbox, SYSTEM, loan={**loan, "rate_bp": 285, "overdue_periods": 2})

    data = gjj.call("grdkxx", **person(id_number, name))["data"]

    assert (data["DKFFE"], data["DKYE"], data["DKFFRQ"], data["DKLL"], data["DKQS"]) == (
        "1000000.00",
        "900000.00",
        "20220310",
        "2.85",
        "360",
    )
    assert data["DQJHHKJE"] == "4135.57"  # equal instalments: 1,000,000 over 360 months at 2.85%
    assert data["LJYQQS"] == "2" and YUAN.fullmatch(data["YQBJZE"]) and data["YQBJZE"] != "0.00"
    assert DAY.fullmatch(data["XCHKRQ"]) and data["DKJQRQ"] == "" and 0 < int(data["SYQS"]) < 360
    assert gjj.call("grzhxx", **person(id_number, name))["data"]["SFDK"] == "1"


def test_no_loan_is_the_centres_own_error(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    assert gjj.call("grdkxx", **person(id_number, name)) == {
        "recode": "200004",
        "msg": "未查询到个人住房公积金贷款信息",
        "data": None,
    }


@pytest.mark.parametrize(("status", "code", "label"), [("sealed", "02", "封存"), ("frozen", "06", "冻结")])
def test_sealed_and_frozen_accounts_answer_with_their_status(
    sandbox: Any, gjj: HangzhouGjj, status: str, code: str, label: str
) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM, status=status)
    data = gjj.call("grzhxx", **person(id_number, name))["data"]
    assert (data["GRZHZT"], data["GRZHZTMC"]) == (code, label)


def test_the_real_refusals(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    closed_id, closed_name, _ = open_account(sandbox, SYSTEM, status="closed")
    for operation in ("grzhxx", "grywmx", "grdkxx"):
        assert gjj.call(operation, **person(new_id_number(), name))["recode"] == "200001"
        assert gjj.call(operation, **person(id_number, "别人"))["recode"] == "200002"
        assert gjj.call(operation, **person(closed_id, closed_name))["recode"] == "200003"
    # The check character may be sent in lower case.
    lower = id_number[:-1] + id_number[-1].lower()
    assert gjj.call("grzhxx", **person(lower, name))["recode"] == "000000"


def test_requests_must_be_signed_with_the_secret(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    who = person(id_number, name)

    forged = HangzhouGjj(gjj.base, gjj.http, gjj.appid, "0" * 64).call("grzhxx", **who)
    assert forged["recode"] == "100002" and forged["data"] is None

    tampered = gjj.form(**who)
    tampered["ZJHM"] = new_id_number()
    assert gjj.post("grzhxx", tampered).json()["recode"] == "100002"

    lower = gjj.form(**who)
    lower["sign"] = lower["sign"].lower()
    assert gjj.post("grzhxx", lower).json()["recode"] == "000000"

    unsigned = gjj.form(**who)
    del unsigned["sign"]
    assert gjj.post("grzhxx", unsigned).json()["recode"] == "100001"

    stranger = HangzhouGjj(gjj.base, gjj.http, "SOMEONE-ELSE", gjj.secret).call("grzhxx", **who)
    assert stranger["recode"] == "100004"


def test_empty_parameters_are_left_out_of_the_signature(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    form = gjj.form(**person(id_number, name), PAGENUM="")
    assert "PAGENUM=" not in "&".join(f"{k}={v}" for k, v in sorted(form.items()) if v != "")
    assert gjj.post("grywmx", form).json()["recode"] == "000000"


@pytest.mark.parametrize("shift", [-600, 600])
def test_stale_or_future_timestamps_are_refused(sandbox: Any, gjj: HangzhouGjj, shift: int) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    form = gjj.form(timestamp=beijing_timestamp(shift), **person(id_number, name))
    assert gjj.post("grzhxx", form).json()["recode"] == "100003"
    # Within the five-minute window is fine.
    assert gjj.post("grzhxx", gjj.form(timestamp=beijing_timestamp(-240), **person(id_number, name))).json()[
        "recode"
    ] == ("000000")


def test_a_nonce_is_good_once(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    form = gjj.form(**person(id_number, name))
    assert gjj.post("grzhxx", form).json()["recode"] == "000000"
    assert gjj.post("grzhxx", form).json()["recode"] == "100006"


def test_the_institution_code_must_be_the_centres(sandbox: Any, gjj: HangzhouGjj) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    assert gjj.call("grzhxx", jgh="330200", **person(id_number, name))["recode"] == "100005"


@pytest.mark.parametrize(
    "change",
    [
        {"ZJHM": "12345"},
        {"ZJHM": "３３０１０６１９９００３０７１２３６"},
        {"XINGMING": ""},
        {"XINGMING": "x" * 31},
        {"XINGMING": "张\n三"},
        {"timestamp": "2024-06-01 10:00:00"},
        {"timestamp": "20241399999999"},
        {"nonce": "short"},
    ],
)
def test_malformed_parameters_are_100001(sandbox: Any, gjj: HangzhouGjj, change: dict[str, str]) -> None:
    id_number, name, _ = open_account(sandbox, SYSTEM)
    answer = gjj.post("grzhxx", gjj.form(**{**person(id_number, name), **change})).json()
    assert answer["recode"] == "100001" and answer["msg"].startswith("参数错误")


def test_malformed_requests_get_the_centres_answer(sandbox: Any, gjj: HangzhouGjj) -> None:
    form = gjj.form(**person("330106199003071236", "张三"))
    url = f"{gjj.base}/upstreams/hangzhou-gjj/api/grzhxx"
    answers = [
        gjj.http.get(url, params=form, timeout=10),
        gjj.http.post(url, json=form, timeout=10),
        gjj.http.post(url, params={"ZJHM": "330106199003071236"}, data=form, timeout=10),
        gjj.http.post(url, data=[*form.items(), ("ZJHM", "330106199003071236")], timeout=10),
        gjj.http.post(
            url, data=b"\xff\xfe=\x00", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10
        ),
    ]
    for response in answers:
        assert response.status_code == 200 and response.json()["recode"] == "100001", response.text
    unknown = gjj.post("grzhxx-v2", gjj.form()).json()
    assert unknown["recode"] == "100007"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.dictionaries(
        st.sampled_from(["ZJHM", "XINGMING", "PAGENUM", "PAGESIZE", "jgh", "appid", "nonce", "timestamp", "x"]),
        st.text(max_size=30),
        max_size=4,
    ),
    operation=st.sampled_from(["grzhxx", "grywmx", "grdkxx"]),
    signed=st.booleans(),
)
def test_no_form_makes_the_centre_fail(gjj: HangzhouGjj, extra: dict[str, str], operation: str, signed: bool) -> None:
    form = {**gjj.form(**person("330106199003071236", "张三")), **extra}
    if signed:
        form["sign"] = hangzhou_sign(gjj.secret, form)
    response = gjj.post(operation, form)
    assert response.status_code == 200, response.text
    assert re.fullmatch(r"[0-9]{6}", response.json()["recode"])


def test_faults_answer_system_busy_or_503(sandbox: Any, gjj: HangzhouGjj, faults: Any) -> None:
    who = person("330106199003071236", "张三")
    assert faults(target="housing_fund.hangzhou_gjj", mode="error").status_code == 201
    assert gjj.call("grzhxx", **who) == {"recode": "999999", "msg": "系统繁忙，请稍后再试", "data": None}
    assert gjj.call("grzhxx", **who)["recode"] == "000000"

    faults(target="housing_fund.hangzhou_gjj", mode="down")
    assert gjj.post("grzhxx", gjj.form(**who)).status_code == 503

    faults(target="housing_fund.hangzhou_gjj", mode="flaky")
    assert [gjj.call("grzhxx", **who)["recode"] for _ in range(4)] == ["999999", "000000", "999999", "000000"]
