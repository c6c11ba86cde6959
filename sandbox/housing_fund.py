"""What the emulated housing provident fund centres hold: personal accounts, their entries and loans.

One record model serves both emulated systems (hangzhou_gjj and shenzhen_gjj); each system keeps its
own accounts, and each dialect module renders them in its own wire format. Money is integer fen
here; the dialects turn it into yuan strings or keep it as fen.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta

from sandbox.outbox import BEIJING
from sandbox.settings import SandboxConfig
from sandbox.upstream_access import IssuedTokens
from sandbox.upstream_access import NonceLedger
from sandbox.upstream_keys import UpstreamCredential
from sandbox.upstream_keys import load_or_create_upstream_credentials

HANGZHOU_GJJ = "hangzhou_gjj"
SHENZHEN_GJJ = "shenzhen_gjj"
SYSTEMS = (HANGZHOU_GJJ, SHENZHEN_GJJ)

# Account states (JGJ/T 320 个人账户状态: 01 正常, 02 封存, 06 冻结; 03/04/05 are kinds of 销户).
NORMAL, SEALED, FROZEN, CLOSED = "normal", "sealed", "frozen", "closed"
STATUSES = (NORMAL, SEALED, FROZEN, CLOSED)

# Entry kinds (JGJ/T 320 归集和提取业务类型: 01 汇缴, 02 补缴, 09 年终结息, 11 部分提取).
DEPOSIT, SUPPLEMENTARY, INTEREST, WITHDRAWAL = "deposit", "supplementary", "interest", "withdrawal"
ENTRY_KINDS = (DEPOSIT, SUPPLEMENTARY, INTEREST, WITHDRAWAL)

# The personal and the employer share are 12% of the contribution base each in both demo cities.
CONTRIBUTION_RATE_PERCENT = 12
_EMPLOYERS = {HANGZHOU_GJJ: "杭州市示范科技有限公司", SHENZHEN_GJJ: "深圳市示范科技有限公司"}
_ACCOUNT_PREFIX = {HANGZHOU_GJJ: "330100", SHENZHEN_GJJ: "2044"}
_LOAN_PREFIX = {HANGZHOU_GJJ: "3301DK", SHENZHEN_GJJ: "SZDK"}


def today() -> date:
    """Today in Beijing, the day the centres book in."""
    return datetime.now(BEIJING).date()


@dataclass(frozen=True)
class Entry:
    """One booked entry of a personal account (个人业务明细)."""

    serial: str  # 业务流水号
    posted_on: date
    kind: str  # one of ENTRY_KINDS
    amount_fen: int  # positive; the kind says which way it goes

    @property
    def signed_fen(self) -> int:
        """The amount with withdrawals negative."""
        return -self.amount_fen if self.kind == WITHDRAWAL else self.amount_fen


@dataclass(frozen=True)
class Loan:
    """A provident-fund housing loan (个人住房贷款账户)."""

    account_number: str
    contract_number: str
    principal_fen: int
    balance_fen: int
    issued_on: date
    term_months: int
    rate_bp: int  # annual rate in basis points: 310 = 3.10%
    overdue_periods: int = 0

    @property
    def monthly_payment_fen(self) -> int:
        """The equal-instalment (等额本息) monthly payment on the principal."""
        if self.term_months <= 0:
            return 0
        monthly_rate = self.rate_bp / 10000 / 12
        if monthly_rate == 0:
            return -(-self.principal_fen // self.term_months)
        growth = (1 + monthly_rate) ** self.term_months
        return round(self.principal_fen * monthly_rate * growth / (growth - 1))

    @property
    def interest_due_fen(self) -> int:
        """This month's interest part of the payment, on the outstanding balance."""
        return round(self.balance_fen * self.rate_bp / 10000 / 12)

    def remaining_months(self, on: date) -> int:
        """Instalments left after those due up to `on`."""
        if self.balance_fen == 0:
            return 0
        elapsed = (on.year - self.issued_on.year) * 12 + on.month - self.issued_on.month
        return max(self.term_months - max(elapsed, 0), 1)

    def next_payment_on(self, on: date) -> date | None:
        """The next instalment date: the 20th of this month, or of next month once that has passed."""
        if self.balance_fen == 0:
            return None
        due = on.replace(day=20)
        return due if due >= on else _add_months(due, 1)


@dataclass
class FundAccount:
    """A personal provident-fund account (个人账户) in one system."""

    system: str
    account_number: str
    id_number: str
    name: str
    employer: str
    status: str
    balance_fen: int
    monthly_fen: int  # personal + employer share, deposited every month
    opened_on: date
    closed_on: date | None
    entries: list[Entry]  # newest first
    loan: Loan | None

    @property
    def personal_monthly_fen(self) -> int:
        """The personal share of the monthly deposit (个人月缴存额)."""
        return self.monthly_fen // 2

    @property
    def employer_monthly_fen(self) -> int:
        """The employer share of the monthly deposit (单位月缴存额)."""
        return self.monthly_fen - self.personal_monthly_fen

    @property
    def contribution_base_fen(self) -> int:
        """The contribution base (缴存基数) the personal share is 12% of."""
        return self.personal_monthly_fen * 100 // CONTRIBUTION_RATE_PERCENT

    @property
    def last_deposit(self) -> Entry | None:
        """The newest deposit or supplementary deposit, if any."""
        return next((e for e in self.entries if e.kind in (DEPOSIT, SUPPLEMENTARY)), None)


@dataclass(frozen=True)
class EntryInput:
    """An entry as the helper describes it."""

    posted_on: date
    kind: str
    amount_fen: int


@dataclass(frozen=True)
class LoanInput:
    """A loan as the helper describes it."""

    principal_fen: int
    balance_fen: int
    issued_on: date
    term_months: int
    rate_bp: int = 310
    overdue_periods: int = 0


@dataclass
class FundAccounts:
    """Every personal account of both emulated centres, by system and ID number."""

    _accounts: dict[tuple[str, str], FundAccount] = field(default_factory=dict)
    _numbers: set[str] = field(default_factory=set)
    _serial: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_account(
        self,
        system: str,
        id_number: str,
        name: str,
        balance_fen: int,
        *,
        monthly_fen: int = 0,
        status: str = NORMAL,
        entries: list[EntryInput] | None = None,
        loan: LoanInput | None = None,
        account_number: str | None = None,
        opened_on: date | None = None,
    ) -> tuple[FundAccount, bool]:
        """Create (or replace) the account of id_number in system; True when it replaced one."""
        on = today()
        if entries is None:
            # A year of monthly deposits, booked on the 15th, as a payroll deduction would be.
            months = [_add_months(on.replace(day=15), -n) for n in range(1, 13)] if monthly_fen else []
            entries = [EntryInput(month, DEPOSIT, monthly_fen) for month in months]
        with self._lock:
            previous = self._accounts.get((system, id_number))
            number = account_number or (previous.account_number if previous else self._new_number(system))
            booked = sorted((self._entry(e) for e in entries), key=lambda e: (e.posted_on, e.serial), reverse=True)
            account = FundAccount(
                system=system,
                account_number=number,
                id_number=id_number,
                name=name,
                employer=_EMPLOYERS[system],
                status=status,
                balance_fen=balance_fen,
                monthly_fen=0 if status == CLOSED else monthly_fen,
                opened_on=opened_on or min((e.posted_on for e in booked), default=on) - timedelta(days=20),
                closed_on=on if status == CLOSED else None,
                entries=booked,
                loan=None if loan is None else self._loan(system, number, loan),
            )
            self._accounts[(system, id_number)] = account
            self._numbers.add(number)
        return account, previous is not None

    def find(self, system: str, id_number: str) -> FundAccount | None:
        """The account of id_number in system, if any."""
        with self._lock:
            return self._accounts.get((system, id_number))

    def _new_number(self, system: str) -> str:
        while True:
            number = _ACCOUNT_PREFIX[system] + "".join(secrets.choice("0123456789") for _ in range(8))
            if number not in self._numbers:
                return number

    def _entry(self, given: EntryInput) -> Entry:
        self._serial += 1
        return Entry(f"{given.posted_on:%Y%m%d}{self._serial:08d}", given.posted_on, given.kind, given.amount_fen)

    @staticmethod
    def _loan(system: str, account_number: str, given: LoanInput) -> Loan:
        return Loan(
            account_number=_LOAN_PREFIX[system] + account_number[-8:],
            contract_number=f"JK{given.issued_on:%Y%m%d}{account_number[-6:]}",
            principal_fen=given.principal_fen,
            balance_fen=given.balance_fen,
            issued_on=given.issued_on,
            term_months=given.term_months,
            rate_bp=given.rate_bp,
            overdue_periods=given.overdue_periods,
        )


@dataclass(frozen=True)
class HousingFundSystems:
    """Both emulated centres: their accounts, their callers' credentials, and the state of their doors."""

    accounts: FundAccounts
    credentials: dict[str, UpstreamCredential]
    hangzhou_nonces: NonceLedger
    shenzhen_tokens: IssuedTokens
    cursor_key: bytes  # tags shenzhen_gjj's paging cursors


def build_housing_fund_systems(config: SandboxConfig) -> HousingFundSystems:
    """Load or create the credentials and open the demo accounts."""
    accounts = FundAccounts()
    seed_demo_accounts(accounts)
    return HousingFundSystems(
        accounts=accounts,
        credentials=load_or_create_upstream_credentials(config.state_dir, SYSTEMS),
        hangzhou_nonces=NonceLedger(config.upstream_clock_skew_seconds),
        shenzhen_tokens=IssuedTokens(config.upstream_token_ttl_seconds),
        cursor_key=secrets.token_bytes(32),
    )


def seed_demo_accounts(accounts: FundAccounts) -> None:
    """The demo residents of sandbox/README.md, so `make demo` has accounts to look up."""
    accounts.open_account(
        HANGZHOU_GJJ,
        "330106199003071236",
        "张三",
        5_234_567,
        monthly_fen=288_000,
        account_number="330100100001",
        opened_on=date(2014, 7, 1),
        loan=LoanInput(80_000_000, 64_532_100, date(2019, 5, 20), 360, 310),
    )
    year_before = today().year - 2
    accounts.open_account(
        HANGZHOU_GJJ,
        "330102198506120044",
        "李四",
        1_800_000,
        monthly_fen=0,
        status=SEALED,
        account_number="330100100002",
        opened_on=date(2016, 3, 1),
        entries=[EntryInput(date(year_before, month, 15), DEPOSIT, 150_000) for month in range(1, 13)],
    )
    accounts.open_account(
        SHENZHEN_GJJ,
        "440305199204150037",
        "王五",
        8_642_050,
        monthly_fen=450_000,
        account_number="204400000001",
        opened_on=date(2018, 9, 1),
    )
    accounts.open_account(
        SHENZHEN_GJJ,
        "440304198809230055",
        "赵六",
        0,
        status=CLOSED,
        account_number="204400000002",
        opened_on=date(2012, 4, 1),
        entries=[EntryInput(today() - timedelta(days=40), WITHDRAWAL, 3_210_000)],
    )


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)
