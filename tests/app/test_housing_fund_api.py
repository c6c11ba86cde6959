"""Housing fund lookups over HTTP through the real channels and fund centres in the sandbox, on both databases."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from city_services.housing_fund.models import FundAnswer
from city_services.housing_fund.models import FundLookup
from database import transaction
from identity.id_numbers import check_digit
from identity.models import Resident
from tests.concurrency import run_together
from tests.conftest import ALIPAY_MINI_PROGRAM as ALIPAY
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

HANGZHOU, SHENZHEN = "330100", "440300"
SYSTEM = {HANGZHOU: "hangzhou_gjj", SHENZHEN: "shenzhen_gjj"}
CONSENT = "2026-11"


@pytest.fixture
def app(clean_sandbox: Sandbox, database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    """citytiles with real channel adapters and the seed's fund centres, all pointed at the sandbox."""
    settings = clean_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    application = create_app(settings, clock=clock)
    application.testing = True
    yield application
    application.extensions["engine"].dispose()


@pytest.fixture(autouse=True)
def seeded(app: Flask, session: Session, clock: Clock) -> None:
    """The demo catalogue, its upstream connections at the sandbox."""
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    seed_catalogue(session, read_seed(app.extensions["settings"].catalogue_seed), now=clock())


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str


def new_person(name: str = "钱七") -> Person:
    """Someone no fund centre has heard of yet."""
    # Random over ten million numbers, not a thousand: the sandbox's centres keep every account the run opened.
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(15000))
    first = f"330106{born:%Y%m%d}{secrets.randbelow(1000):03d}"
    return Person(name, first + check_digit(first))


def open_account(sandbox: Sandbox, city: str, person: Person, **account: Any) -> dict[str, Any]:
    body = {"system": SYSTEM[city], "id_number": person.id_number, "name": person.name, **account}
    answer: dict[str, Any] = sandbox.helper("POST", "housing-fund/accounts", json=body)
    return answer


def sign_in(api: Api, sandbox: Sandbox, channel: str, person: Person, *, verify: bool = True) -> str:
    """Log in through the channel as the person and, unless told not to, verify their real name."""
    claim = {"real_name": person.name, "id_number": person.id_number}
    if channel == "wechat":
        code = {"channel": "wechat", "app_id": MINI, "code": sandbox.wechat_code(MINI, **claim)["code"]}
    else:
        code = {"channel": "alipay", "app_id": ALIPAY, "code": sandbox.alipay_code(**claim)["auth_code"]}
    token: str = api.post("/api/v1/sessions", json=code, expected=201)["token"]
    if verify:
        body = {"name": person.name, "id_number": person.id_number, "consent_version": CONSENT}
        api.post("/api/v1/me/real-name", json=body, token=token)
    return token


def fund(city: str, what: str = "account") -> str:
    return f"/api/v1/cities/{city}/housing-fund/{what}"


def fault(sandbox: Sandbox, city: str, mode: str = "down") -> None:
    sandbox.helper("POST", "faults", json={"target": f"housing_fund.{SYSTEM[city]}", "mode": mode, "persistent": True})


@pytest.fixture
def citytiles_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything citytiles logs (its loggers do not propagate to the root)."""
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
@pytest.mark.parametrize("city", [HANGZHOU, SHENZHEN])
def test_a_verified_resident_looks_up_account_records_and_loan(
    api: Api, clean_sandbox: Sandbox, city: str, channel: str, citytiles_log: pytest.LogCaptureFixture
) -> None:
    person = new_person()
    records = [{"date": f"2026-{m:02d}-15", "kind": "deposit", "amount_fen": 200_001} for m in range(1, 11)]
    records += [{"date": f"2025-{m:02d}-15", "kind": "deposit", "amount_fen": 200_001} for m in range(1, 13)]
    records.append({"date": "2024-12-31", "kind": "withdrawal", "amount_fen": 1_000_000})
    loan = {"principal_fen": 60_000_000, "balance_fen": 51_234_599, "issued_on": "2020-03-20", "term_months": 300}
    opened = open_account(
        clean_sandbox, city, person, balance_fen=9_876_543, monthly_fen=400_002, records=records, loan=loan
    )
    token = sign_in(api, clean_sandbox, channel, person)

    account = api.get(fund(city), token=token)
    assert account["status"] == "normal"
    assert account["balance_fen"] == 9_876_543
    assert account["monthly"] == {"personal_fen": 200_001, "employer_fen": 200_001, "total_fen": 400_002}
    assert account["contribution_base_fen"] > 0
    assert account["last_deposit_on"] == "2026-10-15"
    assert account["account_number"] == "*" * (len(opened["account_number"]) - 4) + opened["account_number"][-4:]
    assert account["has_loan"] is True

    first = api.get(fund(city, "records"), token=token)
    assert len(first["records"]) == 20 and first["next_cursor"]
    assert first["records"][0] == {
        "posted_on": "2026-10-15",
        "kind": "deposit",
        "amount_fen": 200_001,
        "balance_fen": None,
        "description": first["records"][0]["description"],
    }
    second = api.get(fund(city, "records"), query_string={"cursor": first["next_cursor"]}, token=token)
    assert second["next_cursor"] is None
    assert second["records"][-1]["kind"] == "withdrawal" and second["records"][-1]["amount_fen"] == -1_000_000

    found = api.get(fund(city, "loan"), token=token)["loan"]
    assert (found["principal_fen"], found["balance_fen"], found["term_months"], found["annual_rate_bp"]) == (
        60_000_000,
        51_234_599,
        300,
        310,
    )
    assert found["loan_number"].startswith("****") and found["status"] == "repaying"

    log = api.get("/api/v1/me/data-access", token=token)
    assert [(e["what"], e["city"], e["channel"], e["upstream"], e["outcome"]) for e in log["entries"]] == [
        ("loan", city, channel, SYSTEM[city], "ok"),
        ("records", city, channel, SYSTEM[city], "ok"),
        ("records", city, channel, SYSTEM[city], "ok"),
        ("account", city, channel, SYSTEM[city], "ok"),
    ]
    assert log["next_cursor"] is None
    # The log was listening: one line per call to the centre, none carrying the person.
    calls = [r for r in citytiles_log.records if getattr(r, "connection", "") == f"upstream.{city}.housing_fund"]
    assert len(calls) == 4
    for secret in (person.id_number, person.name, opened["account_number"]):
        assert secret not in citytiles_log.text


def test_a_resident_without_a_verified_real_name_is_refused(api: Api, clean_sandbox: Sandbox) -> None:
    token = sign_in(api, clean_sandbox, "wechat", new_person(), verify=False)
    for what in ("account", "records", "loan"):
        body = api.get(fund(HANGZHOU, what), token=token, expected=403)
        assert body["error"]["code"] == "housing_fund.real_name_required"
    assert api.get("/api/v1/me/data-access", token=token)["entries"] == []


@pytest.mark.parametrize(("city", "channel"), [(HANGZHOU, "wechat"), (SHENZHEN, "alipay")])
def test_no_account_at_the_centre_is_404_and_logged(api: Api, clean_sandbox: Sandbox, city: str, channel: str) -> None:
    token = sign_in(api, clean_sandbox, channel, new_person())
    assert api.get(fund(city), token=token, expected=404)["error"]["code"] == "housing_fund.account_not_found"
    [entry] = api.get("/api/v1/me/data-access", token=token)["entries"]
    assert (entry["what"], entry["outcome"]) == ("account", "housing_fund.account_not_found")


@pytest.mark.parametrize("city", [HANGZHOU, SHENZHEN])
def test_a_name_the_centre_registered_differently_is_422(api: Api, clean_sandbox: Sandbox, city: str) -> None:
    person = new_person("孙八")
    open_account(clean_sandbox, city, Person("孙九", person.id_number), balance_fen=1)
    token = sign_in(api, clean_sandbox, "alipay", person)
    assert api.get(fund(city), token=token, expected=422)["error"]["code"] == "housing_fund.name_mismatch"


def test_sealed_answers_and_closed_refuses_or_answers_by_centre(api: Api, clean_sandbox: Sandbox) -> None:
    sealed, closed = new_person(), new_person()
    open_account(clean_sandbox, HANGZHOU, sealed, balance_fen=1_800_000, status="sealed")
    open_account(clean_sandbox, HANGZHOU, closed, balance_fen=0, status="closed")
    open_account(clean_sandbox, SHENZHEN, closed, balance_fen=0, status="closed")
    token = sign_in(api, clean_sandbox, "wechat", sealed)
    assert api.get(fund(HANGZHOU), token=token)["status"] == "sealed"
    token = sign_in(api, clean_sandbox, "wechat", closed)
    assert api.get(fund(HANGZHOU), token=token, expected=409)["error"]["code"] == "housing_fund.account_closed"
    assert api.get(fund(SHENZHEN), token=token)["status"] == "closed"


@pytest.mark.parametrize("city", [HANGZHOU, SHENZHEN])
def test_a_centre_down_is_503_with_retry_after(api: Api, clean_sandbox: Sandbox, city: str) -> None:
    person = new_person()
    open_account(clean_sandbox, city, person, balance_fen=1)
    token = sign_in(api, clean_sandbox, "wechat", person)
    fault(clean_sandbox, city)
    response = api.client.get(fund(city), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]["code"] == "upstream.unavailable"
    [entry] = api.get("/api/v1/me/data-access", token=token)["entries"]
    assert entry["outcome"] == "upstream.unavailable"


def test_a_lookup_is_kept_three_minutes_sealed(
    api: Api, clean_sandbox: Sandbox, clock: Clock, session: Session
) -> None:
    person = new_person()
    open_account(clean_sandbox, HANGZHOU, person, balance_fen=123_456, monthly_fen=2)
    token = sign_in(api, clean_sandbox, "wechat", person)
    first = api.get(fund(HANGZHOU), token=token)
    # The centre goes down: within the window the kept answer still comes, without asking it.
    fault(clean_sandbox, HANGZHOU)
    clock.advance(minutes=2, seconds=59)
    assert api.get(fund(HANGZHOU), token=token) == first
    [kept] = session.scalars(select(FundAnswer)).all()
    assert kept.answer_sealed.startswith("v1:") and "123456" not in kept.answer_sealed
    # Another page or another question is not the kept answer.
    api.get(fund(HANGZHOU, "records"), token=token, expected=503)
    clock.advance(seconds=1)  # exactly three minutes: no longer kept
    api.get(fund(HANGZHOU), token=token, expected=503)
    entries = api.get("/api/v1/me/data-access", token=token)["entries"]
    assert [(e["what"], e["from_cache"], e["outcome"]) for e in entries] == [
        ("account", False, "upstream.unavailable"),
        ("records", False, "upstream.unavailable"),
        ("account", True, "ok"),
        ("account", False, "ok"),
    ]


def test_the_kept_answer_is_the_persons_in_that_city_only(api: Api, clean_sandbox: Sandbox) -> None:
    someone, other = new_person(), new_person()
    open_account(clean_sandbox, HANGZHOU, someone, balance_fen=111)
    open_account(clean_sandbox, HANGZHOU, other, balance_fen=222)
    open_account(clean_sandbox, SHENZHEN, someone, balance_fen=333)
    token = sign_in(api, clean_sandbox, "wechat", someone)
    other_token = sign_in(api, clean_sandbox, "alipay", other)
    assert api.get(fund(HANGZHOU), token=token)["balance_fen"] == 111
    assert api.get(fund(HANGZHOU), token=other_token)["balance_fen"] == 222
    assert api.get(fund(SHENZHEN), token=token)["balance_fen"] == 333


def test_a_disabled_offering_is_409_before_the_centre_is_asked(
    api: Api, clean_sandbox: Sandbox, make_staff: Any
) -> None:
    person = new_person()
    token = sign_in(api, clean_sandbox, "alipay", person)
    admin = make_staff("root", "platform_admin")
    offering = "/admin/api/cities/330100/services/housing_fund/channels/alipay"
    api.patch(offering, json={"reason": "centre migrating", "enabled": False}, token=admin)
    assert api.get(fund(HANGZHOU), token=token, expected=409)["error"]["code"] == "service.not_offered"
    assert api.get("/api/v1/me/data-access", token=token)["entries"] == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("records", {"cursor": "a b"}),
        ("records", {"cursor": "x" * 201}),
        ("records", {"page": "2"}),
        ("records", {"cursor": ""}),
    ],
)
def test_bad_input_is_422_in_the_one_shape(api: Api, clean_sandbox: Sandbox, path: str, query: dict[str, str]) -> None:
    token = sign_in(api, clean_sandbox, "wechat", new_person())
    body = api.get(fund(HANGZHOU, path), query_string=query, token=token, expected=422)
    assert body["error"]["code"] == "request.invalid"


@pytest.mark.parametrize("cursor", ["0", "01", "12345678901", "-1", "abc"])
def test_a_bad_data_access_cursor_is_422(api: Api, clean_sandbox: Sandbox, cursor: str) -> None:
    token = sign_in(api, clean_sandbox, "wechat", new_person(), verify=False)
    body = api.get("/api/v1/me/data-access", query_string={"cursor": cursor}, token=token, expected=422)
    assert body["error"]["code"] == "request.invalid"


def test_a_data_access_cursor_past_every_id_starts_from_the_newest(api: Api, clean_sandbox: Sandbox) -> None:
    person = new_person()
    open_account(clean_sandbox, HANGZHOU, person, balance_fen=1)
    token = sign_in(api, clean_sandbox, "wechat", person)
    api.get(fund(HANGZHOU), token=token)
    body = api.get("/api/v1/me/data-access", query_string={"cursor": "9999999999"}, token=token)
    assert len(body["entries"]) == 1


def test_a_cursor_the_centre_did_not_give_is_422(api: Api, clean_sandbox: Sandbox) -> None:
    person = new_person()
    open_account(clean_sandbox, SHENZHEN, person, balance_fen=1, monthly_fen=2)
    token = sign_in(api, clean_sandbox, "alipay", person)
    body = api.get(fund(SHENZHEN, "records"), query_string={"cursor": "forged.cursor"}, token=token, expected=422)
    assert body["error"]["code"] == "housing_fund.invalid_cursor"


def test_unknown_city_is_404(api: Api, clean_sandbox: Sandbox) -> None:
    token = sign_in(api, clean_sandbox, "wechat", new_person())
    assert api.get(fund("999999"), token=token, expected=404)["error"]["code"] == "catalogue.city_not_found"


def test_data_access_pages_newest_first_across_merged_ids(
    api: Api, clean_sandbox: Sandbox, session: Session, clock: Clock
) -> None:
    person = new_person()
    open_account(clean_sandbox, SHENZHEN, person, balance_fen=1)
    token = sign_in(api, clean_sandbox, "alipay", person)
    me = session.scalar(select(Resident.id).where(Resident.id_number_lookup.is_not(None)))
    assert me is not None
    with transaction(session):
        # A resident merged into me earlier, with lookups made before the merge.
        old = Resident(public_id="r_old", created_at=clock(), merged_into_id=me)
        session.add(old)
        session.flush()
        for _ in range(25):
            session.add(
                FundLookup(
                    resident_id=old.id,
                    city_code=HANGZHOU,
                    lookup="account",
                    channel="wechat",
                    upstream="hangzhou_gjj",
                    outcome="ok",
                    from_cache=False,
                    at=clock(),
                )
            )
    api.get(fund(SHENZHEN), token=token)
    first = api.get("/api/v1/me/data-access", token=token)
    assert len(first["entries"]) == 20 and first["entries"][0]["city"] == SHENZHEN
    rest = api.get("/api/v1/me/data-access", query_string={"cursor": first["next_cursor"]}, token=token)
    assert len(rest["entries"]) == 6 and rest["next_cursor"] is None
    assert {e["upstream"] for e in rest["entries"]} == {"hangzhou_gjj"}


def test_erasure_removes_the_log_and_the_kept_answers(api: Api, clean_sandbox: Sandbox, session: Session) -> None:
    person, neighbour = new_person(), new_person()
    for someone in (person, neighbour):
        open_account(clean_sandbox, HANGZHOU, someone, balance_fen=1)
    token = sign_in(api, clean_sandbox, "wechat", person)
    neighbour_token = sign_in(api, clean_sandbox, "alipay", neighbour)
    for who in (token, neighbour_token):
        api.get(fund(HANGZHOU), token=who)
        api.get(fund(HANGZHOU, "loan"), token=who, expected=200)
    assert session.scalar(select(func.count()).select_from(FundLookup)) == 4
    session.rollback()
    api.delete("/api/v1/me", token=token, expected=204)
    assert session.scalar(select(func.count()).select_from(FundLookup)) == 2
    assert session.scalar(select(func.count()).select_from(FundAnswer)) == 2
    assert len(api.get("/api/v1/me/data-access", token=neighbour_token)["entries"]) == 2


def test_an_erasure_while_the_centre_answers_leaves_nothing_behind(
    app: Flask, api: Api, clean_sandbox: Sandbox, session: Session
) -> None:
    person = new_person()
    open_account(clean_sandbox, HANGZHOU, person, balance_fen=1)
    token = sign_in(api, clean_sandbox, "wechat", person)
    clean_sandbox.helper(
        "POST", "faults", json={"target": "housing_fund.hangzhou_gjj", "mode": "slow", "delay_seconds": 1.0}
    )

    def act(index: int) -> int:
        client = app.test_client()
        if index == 1:
            time.sleep(0.4)  # the lookup is waiting for the centre
            return client.delete("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        return client.get(fund(HANGZHOU), headers={"Authorization": f"Bearer {token}"}).status_code

    assert run_together(2, act) == [409, 204]
    assert session.scalar(select(func.count()).select_from(FundLookup)) == 0
    assert session.scalar(select(func.count()).select_from(FundAnswer)) == 0


def test_parallel_lookups_of_one_page_all_answer_and_keep_one_answer(
    app: Flask, api: Api, clean_sandbox: Sandbox, session: Session
) -> None:
    person = new_person()
    open_account(clean_sandbox, SHENZHEN, person, balance_fen=1, monthly_fen=2)
    token = sign_in(api, clean_sandbox, "alipay", person)

    def look(index: int) -> int:
        response = app.test_client().get(fund(SHENZHEN, "records"), headers={"Authorization": f"Bearer {token}"})
        return response.status_code

    assert run_together(6, look) == [200] * 6
    assert session.scalar(select(func.count()).select_from(FundAnswer)) == 1
    assert session.scalar(select(func.count()).select_from(FundLookup)) == 6


@pytest.mark.parametrize("city", [HANGZHOU, SHENZHEN])
def test_records_pages_and_the_loan_are_kept_as_they_came(api: Api, clean_sandbox: Sandbox, city: str) -> None:
    person, debtless = new_person(), new_person()
    records = [{"date": f"2026-{m:02d}-15", "kind": "deposit", "amount_fen": 200_001} for m in range(1, 11)]
    records += [{"date": f"2025-{m:02d}-15", "kind": "deposit", "amount_fen": 200_001} for m in range(1, 13)]
    loan = {"principal_fen": 60_000_000, "balance_fen": 51_234_599, "issued_on": "2020-03-20", "term_months": 300}
    open_account(clean_sandbox, city, person, balance_fen=9_876_543, records=records, loan=loan)
    open_account(clean_sandbox, city, debtless, balance_fen=1)
    token = sign_in(api, clean_sandbox, "wechat", person)
    other = sign_in(api, clean_sandbox, "alipay", debtless)
    first = api.get(fund(city, "records"), token=token)
    second = api.get(fund(city, "records"), query_string={"cursor": first["next_cursor"]}, token=token)
    owed = api.get(fund(city, "loan"), token=token)
    nothing = api.get(fund(city, "loan"), token=other)
    assert owed["loan"]["issued_on"] == "2020-03-20" and nothing == {"loan": None}
    # The centre goes down: every page and the loan come back from what was kept, exactly as they came.
    fault(clean_sandbox, city)
    assert api.get(fund(city, "records"), token=token) == first
    assert api.get(fund(city, "records"), query_string={"cursor": first["next_cursor"]}, token=token) == second
    assert api.get(fund(city, "loan"), token=token) == owed
    assert api.get(fund(city, "loan"), token=other) == nothing
    entries = api.get("/api/v1/me/data-access", token=token)["entries"]
    assert [(e["what"], e["from_cache"]) for e in entries][:3] == [("loan", True), ("records", True), ("records", True)]
