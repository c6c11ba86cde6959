"""The housing fund port's contract, run over the fake and over each real adapter against the sandbox."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from city_services.housing_fund import fake
from city_services.housing_fund import hangzhou_gjj
from city_services.housing_fund import provider as port
from city_services.housing_fund import shenzhen_gjj
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from identity.id_numbers import check_digit
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MemoryCallLog
from tests.conftest import Sandbox

SYSTEMS = ("fake", "hangzhou_gjj", "shenzhen_gjj")
KIND_NAMES = {port.DEPOSIT: "deposit", port.SUPPLEMENTARY: "supplementary", port.INTEREST: "interest"}
SECRET_FILES = {"hangzhou_gjj": "hangzhou_gjj.secret", "shenzhen_gjj": "shenzhen_gjj.client_secret"}
SECRET_VARIABLES = {"hangzhou_gjj": "HANGZHOU_GJJ_HMAC_KEY", "shenzhen_gjj": "SHENZHEN_GJJ_CLIENT_SECRET"}


def new_person(name: str = "周八") -> port.Person:
    """A person no test has used: a well-formed ID number drawn from ten million."""
    # Not a thousand: the sandbox's centres keep every account the run opened, and a drawn number that
    # another test opened an account for made "no account" tests fail now and then.
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(15000))
    first = f"330106{born:%Y%m%d}{secrets.randbelow(1000):03d}"
    return port.Person(first + check_digit(first), name)


def link_to(environ: dict[str, str] | None = None, **limits: Any) -> UpstreamLink:
    """A link through a fresh outbound (no backoff sleeps), reading secrets from environ."""
    params = fake.Params(**{"timeout_seconds": 3.0, "read_retries": 0, **limits})
    outbound = Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), MemoryCallLog(), sleep=lambda _: None)
    return UpstreamLink("upstream.test.housing_fund", params.policy(), outbound, environ or {})


def real_adapter(system: str, base_url: str, environ: dict[str, str], **options: Any) -> port.HousingFundProvider:
    """A real adapter at base_url (a sandbox or a stub), its secret read from environ."""
    if system == "hangzhou_gjj":
        params: Any = hangzhou_gjj.Params(
            base_url=f"{base_url}/upstreams/hangzhou-gjj",
            appid="HZGJJ-CT-0001",
            jgh="330100",
            secret_env="HANGZHOU_GJJ_HMAC_KEY",
            timeout_seconds=3.0,
            read_retries=0,
        )
        return hangzhou_gjj.HangzhouGjj(params, link_to(environ))
    params = shenzhen_gjj.Params(
        base_url=f"{base_url}/upstreams/shenzhen-gjj",
        client_id="citytiles-szgjj",
        client_secret_env="SHENZHEN_GJJ_CLIENT_SECRET",
        timeout_seconds=3.0,
        read_retries=0,
    )
    return shenzhen_gjj.ShenzhenGjj(params, link_to(environ), **options)


def secrets_of(sandbox: Sandbox, system: str) -> dict[str, str]:
    """The environment an adapter reads its secret from: the sandbox's generated one."""
    secret = (sandbox.state_dir / "upstreams" / SECRET_FILES[system]).read_text(encoding="ascii")
    return {SECRET_VARIABLES[system]: secret}


@dataclass
class System:
    """One centre under contract: its adapter, how to open an account there, and how to make it fail."""

    name: str
    provider: port.HousingFundProvider
    open: Callable[..., None]
    fail: Callable[[str], None]


def sandbox_system(sandbox: Sandbox, name: str) -> System:
    def open_account(person: port.Person, **account: Any) -> None:
        sandbox.helper("POST", "housing-fund/accounts", json={"system": name, **person_json(person), **account})

    def fail(mode: str) -> None:
        sandbox.helper("POST", "faults", json={"target": f"housing_fund.{name}", "mode": mode, "persistent": True})

    adapter = real_adapter(name, sandbox.base, secrets_of(sandbox, name))
    return System(name, adapter, open_account, fail)


def person_json(person: port.Person) -> dict[str, str]:
    return {"id_number": person.id_number, "name": person.name}


def fake_system() -> System:
    centre = fake.FakeHousingFund(link_to())

    def open_account(
        person: port.Person,
        *,
        balance_fen: int,
        monthly_fen: int = 0,
        status: str = "normal",
        records: list[dict[str, Any]] | None = None,
        loan: dict[str, Any] | None = None,
    ) -> None:
        if records is None:
            # As the sandbox does: a year of monthly deposits when none are given.
            records = [
                {"date": f"2026-{month:02d}-15", "kind": "deposit", "amount_fen": monthly_fen}
                for month in range(1, 13)
                if monthly_fen
            ]
        shown = [
            port.FundRecord(
                date.fromisoformat(r["date"]),
                r["kind"],
                -r["amount_fen"] if r["kind"] == port.WITHDRAWAL else r["amount_fen"],
                r["kind"],
            )
            for r in sorted(records, key=lambda r: r["date"], reverse=True)
        ]
        account = port.FundAccount(
            account_number="330100" + person.id_number[-6:],
            status=status,
            balance_fen=balance_fen,
            monthly=port.MonthlyContribution(monthly_fen // 2, monthly_fen - monthly_fen // 2),
            contribution_base_fen=monthly_fen * 100 // 24,
            opened_on=date(2015, 1, 1),
            last_deposit_on=shown[0].posted_on if shown else None,
            employer="示范公司",
            has_loan=loan is not None,
        )
        held_loan = None
        if loan is not None:
            held_loan = port.Loan(
                loan_number="DK1",
                status=port.REPAYING,
                principal_fen=loan["principal_fen"],
                balance_fen=loan["balance_fen"],
                issued_on=date.fromisoformat(loan["issued_on"]),
                term_months=loan["term_months"],
                remaining_months=loan["term_months"] - 12,
                annual_rate_bp=loan.get("rate_bp", 310),
                monthly_payment_fen=100_000,
                next_payment_on=None,
                overdue_periods=0,
                overdue_fen=0,
            )
        centre.open_account(person, account, tuple(shown), held_loan)

    def fail(mode: str) -> None:
        centre.busy = True

    return System("fake", centre, open_account, fail)


@pytest.fixture(params=SYSTEMS)
def system(request: pytest.FixtureRequest) -> System:
    if request.param == "fake":
        return fake_system()
    return sandbox_system(request.getfixturevalue("clean_sandbox"), request.param)


def monthly_records(count: int) -> list[dict[str, Any]]:
    """count monthly deposits of 1000.01 yuan, oldest about count months ago, and one withdrawal."""
    start = date(2024, 1, 15)
    deposits = [
        {"date": (start + timedelta(days=31 * n)).replace(day=15).isoformat(), "kind": "deposit", "amount_fen": 100_001}
        for n in range(count)
    ]
    return [*deposits, {"date": "2023-12-20", "kind": "withdrawal", "amount_fen": 3_210_099}]


def test_an_account_is_read_exactly(system: System) -> None:
    person = new_person()
    system.open(person, balance_fen=5_234_567, monthly_fen=288_002)
    account = system.provider.account(person)
    assert account.status == port.NORMAL
    assert account.balance_fen == 5_234_567
    assert account.monthly.total_fen == 288_002
    assert account.monthly.personal_fen == account.monthly.employer_fen == 144_001
    assert account.contribution_base_fen > 0 and account.employer and account.account_number
    assert account.last_deposit_on is not None and account.opened_on <= account.last_deposit_on
    assert account.has_loan is False


def test_records_page_newest_first_to_the_end(system: System) -> None:
    person = new_person()
    system.open(person, balance_fen=1, monthly_fen=200_002, records=monthly_records(25))
    first = system.provider.records(person, None)
    assert first.next_cursor is not None
    second = system.provider.records(person, first.next_cursor)
    assert second.next_cursor is None
    every = first.records + second.records
    assert len(every) == 26
    assert [r.posted_on for r in every] == sorted((r.posted_on for r in every), reverse=True)
    assert {r.kind for r in every} == {port.DEPOSIT, port.WITHDRAWAL}
    assert every[0].amount_fen == 100_001 and every[-1].amount_fen == -3_210_099


def test_a_cursor_the_centre_did_not_issue_is_refused(system: System) -> None:
    person = new_person()
    system.open(person, balance_fen=1, records=monthly_records(2))
    with pytest.raises(UpstreamRejected) as refused:
        system.provider.records(person, "not-a-cursor")
    assert (refused.value.code, refused.value.kind) == ("housing_fund.invalid_cursor", "invalid")


def test_a_loan_and_no_loan(system: System) -> None:
    borrower, saver = new_person(), new_person()
    loan = {"principal_fen": 80_000_000, "balance_fen": 64_532_199, "issued_on": "2019-05-20", "term_months": 360}
    system.open(borrower, balance_fen=1, monthly_fen=2, loan=loan)
    system.open(saver, balance_fen=1, monthly_fen=2)
    found = system.provider.loan(borrower)
    assert found is not None
    assert (found.principal_fen, found.balance_fen, found.term_months, found.annual_rate_bp) == (
        80_000_000,
        64_532_199,
        360,
        310,
    )
    assert found.issued_on == date(2019, 5, 20) and found.status == port.REPAYING
    assert system.provider.account(borrower).has_loan is True
    assert system.provider.loan(saver) is None


@pytest.mark.parametrize("lookup", port.LOOKUPS)
def test_no_account(system: System, lookup: str) -> None:
    with pytest.raises(UpstreamRejected) as refused:
        ask(system.provider, lookup, new_person())
    assert (refused.value.code, refused.value.kind) == ("housing_fund.account_not_found", "not_found")


@pytest.mark.parametrize("lookup", port.LOOKUPS)
def test_a_name_the_centre_did_not_register(system: System, lookup: str) -> None:
    person = new_person("吴九")
    system.open(person, balance_fen=1, monthly_fen=2)
    with pytest.raises(UpstreamRejected) as refused:
        ask(system.provider, lookup, port.Person(person.id_number, "吴十"))
    assert (refused.value.code, refused.value.kind) == ("housing_fund.name_mismatch", "invalid")


@pytest.mark.parametrize("status", [port.SEALED, port.FROZEN])
def test_a_sealed_or_frozen_account_is_an_answer(system: System, status: str) -> None:
    person = new_person()
    system.open(person, balance_fen=1_800_000, status=status, records=monthly_records(3))
    account = system.provider.account(person)
    assert (account.status, account.balance_fen) == (status, 1_800_000)
    assert len(system.provider.records(person, None).records) == 4


def test_a_closed_account_is_an_answer_or_a_conflict(system: System) -> None:
    person = new_person()
    system.open(person, balance_fen=0, status=port.CLOSED)
    try:
        account = system.provider.account(person)
    except UpstreamRejected as refused:
        assert (refused.code, refused.kind) == ("housing_fund.account_closed", "conflict")
    else:
        assert account.status == port.CLOSED


@pytest.mark.parametrize("mode", ["down", "error"])
@pytest.mark.parametrize("lookup", port.LOOKUPS)
def test_a_centre_down_or_busy_is_unavailable(system: System, mode: str, lookup: str) -> None:
    person = new_person()
    system.open(person, balance_fen=1, monthly_fen=2)
    system.fail(mode)
    with pytest.raises(UpstreamUnavailable) as failed:
        ask(system.provider, lookup, person)
    assert failed.value.code == "upstream.unavailable" and failed.value.retry_after > 0


def ask(provider: port.HousingFundProvider, lookup: str, person: port.Person) -> Any:
    questions: dict[str, Callable[[], Any]] = {
        port.ACCOUNT: lambda: provider.account(person),
        port.RECORDS: lambda: provider.records(person, None),
        port.LOAN: lambda: provider.loan(person),
    }
    return questions[lookup]()


# What only real adapters meet: a wrong secret, and answers that are not their dialect.

REAL = ("hangzhou_gjj", "shenzhen_gjj")


@pytest.mark.parametrize("system_name", REAL)
def test_a_wrong_secret_is_unavailable_not_the_residents_fault(
    clean_sandbox: Sandbox, system_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = real_adapter(system_name, clean_sandbox.base, {SECRET_VARIABLES[system_name]: "0" * 43})
    person = port.Person("330106199003071236", "张三")
    with pytest.raises(UpstreamUnavailable):
        adapter.account(person)
    assert person.id_number not in caplog.text and person.name not in caplog.text


class _Garbage(BaseHTTPRequestHandler):
    """A front end answering 200 with something that is not the dialect (tokens still issued)."""

    answers: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/auth/token"):
            body = json.dumps({"accessToken": "t", "tokenType": "Bearer", "expiresIn": 7200}).encode()
        else:
            body = self.answers[0]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def garbage_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


MALFORMED = [
    b"<html>busy</html>",
    b"[]",
    b'{"recode": "000000", "data": {"GRZH": 1}}',
    b'{"recode": "000000", "data": {"GRZH": "1", "GRZHZT": "01", "GRZHYE": "12.3", "KHRQ": "20140701"}}',
    b'{"accountNumber": "1", "status": "ACTIVE", "balance": "100"}',
    b'{"accountNumber": "1", "status": "WEIRD", "balance": 100, "openedOn": "2014-07-01"}',
]


@pytest.mark.parametrize("system_name", REAL)
@pytest.mark.parametrize("answer", MALFORMED)
def test_an_answer_not_in_the_dialect_is_unavailable_and_logged(
    garbage_server: str, system_name: str, answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    _Garbage.answers[:] = [answer]
    adapter = real_adapter(system_name, garbage_server, {SECRET_VARIABLES[system_name]: "k" * 43})
    person = new_person()
    with pytest.raises(UpstreamUnavailable):
        adapter.account(person)
    assert any(r.getMessage() == "unusable upstream answer" for r in caplog.records)
    assert person.id_number not in caplog.text


def test_yuan_strings_become_fen_exactly() -> None:
    assert [hangzhou_gjj.fen_of(y) for y in ("0.29", "52345.67", "0.01", "1000000.10")] == [
        29,
        5_234_567,
        1,
        100_000_010,
    ]
    for bad in ("12.3", "1e3", "12.345", " 1.00", ""):
        with pytest.raises(hangzhou_gjj.Unreadable):
            hangzhou_gjj.fen_of(bad)


def test_signing_matches_the_centres_worked_example() -> None:
    params = {
        "appid": "HZGJJ-CT-0001",
        "jgh": "330100",
        "timestamp": "20250101093000",
        "nonce": "a1b2c3d4e5f60718",
        "ZJHM": "330106199003071236",
        "XINGMING": "张三",
        "PAGENUM": "",
    }
    secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    assert hangzhou_gjj.sign(params, secret) == "94A37B6DC3853A3A8D44C01221C8E67FC4D5551047DB04D2F108E3028ABE0359"


@pytest.fixture
def short_token_sandbox(tmp_path: Path, sandbox: Sandbox) -> Iterator[Sandbox]:
    """A second sandbox whose upstream tokens live one second, sharing the session sandbox's credentials."""
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    base, stop = serve_in_thread(SandboxConfig(state_dir=sandbox.state_dir, upstream_token_ttl_seconds=1))
    yield Sandbox(base, sandbox.state_dir)
    stop()


def test_an_expired_token_is_renewed_and_the_call_made_again(short_token_sandbox: Sandbox) -> None:
    # The adapter's clock stands still, so it believes its token fresh; the centre says it expired.
    adapter = real_adapter(
        "shenzhen_gjj", short_token_sandbox.base, secrets_of(short_token_sandbox, "shenzhen_gjj"), clock=lambda: 0.0
    )
    person = port.Person("440305199204150037", "王五")
    assert adapter.account(person).balance_fen == 8_642_050
    time.sleep(1.2)
    assert adapter.account(person).balance_fen == 8_642_050


def test_a_token_is_kept_until_it_is_about_to_expire(clean_sandbox: Sandbox) -> None:
    now = [0.0]
    adapter = real_adapter(
        "shenzhen_gjj", clean_sandbox.base, secrets_of(clean_sandbox, "shenzhen_gjj"), clock=lambda: now[0]
    )
    assert isinstance(adapter, shenzhen_gjj.ShenzhenGjj)
    first = adapter._current_token()
    now[0] = 7200 - shenzhen_gjj.TOKEN_MARGIN_SECONDS - 1
    assert adapter._current_token() == first
    now[0] += 2
    assert adapter._current_token() != first
