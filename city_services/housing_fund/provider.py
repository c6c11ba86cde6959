"""The housing provident fund port: what citytiles asks a city's fund centre, and the answers in our words."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Protocol

from errors import UpstreamRejected

# Account states in our words; every centre's codes map onto these (JGJ/T 320 个人账户状态).
NORMAL = "normal"  # 正常: contributions are being paid
SEALED = "sealed"  # 封存: the employer stopped paying (left the job); the balance stays
FROZEN = "frozen"  # 冻结: held by a court or the centre
CLOSED = "closed"  # 销户: the account is closed
ACCOUNT_STATES = (NORMAL, SEALED, FROZEN, CLOSED)

# Kinds of record (归集和提取业务类型).
DEPOSIT = "deposit"  # 汇缴
SUPPLEMENTARY = "supplementary"  # 补缴
INTEREST = "interest"  # 结息
WITHDRAWAL = "withdrawal"  # 提取
RECORD_KINDS = (DEPOSIT, SUPPLEMENTARY, INTEREST, WITHDRAWAL)

# Loan states.
REPAYING = "repaying"
OVERDUE = "overdue"
PAID_OFF = "paid_off"
LOAN_STATES = (REPAYING, OVERDUE, PAID_OFF)

# What a lookup asks for: the port's three questions, by the names the data-access log uses.
ACCOUNT = "account"
RECORDS = "records"
LOAN = "loan"
LOOKUPS = (ACCOUNT, RECORDS, LOAN)


@dataclass(frozen=True)
class Person:
    """Whom to look up: the centres find a person by ID number and check the name as they registered it."""

    id_number: str = field(repr=False)
    name: str = field(repr=False)


@dataclass(frozen=True)
class MonthlyContribution:
    """What is paid in each month, in fen: the person's share and the employer's."""

    personal_fen: int
    employer_fen: int

    @property
    def total_fen(self) -> int:
        """Both shares together."""
        return self.personal_fen + self.employer_fen


@dataclass(frozen=True)
class FundAccount:
    """A person's provident fund account (个人账户), as the centre holds it now."""

    account_number: str = field(repr=False)
    status: str
    balance_fen: int
    monthly: MonthlyContribution
    contribution_base_fen: int
    opened_on: date
    last_deposit_on: date | None
    employer: str
    has_loan: bool


@dataclass(frozen=True)
class FundRecord:
    """One booked movement (个人业务明细): money in is positive, a withdrawal negative."""

    posted_on: date
    kind: str
    amount_fen: int
    description: str
    # The balance after the movement, when the centre says it (neither demo centre does).
    balance_fen: int | None = None


@dataclass(frozen=True)
class RecordsPage:
    """Records newest first, and the cursor of the next page (None on the last)."""

    records: tuple[FundRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class Loan:
    """A provident fund housing loan (个人住房贷款)."""

    loan_number: str = field(repr=False)
    status: str
    principal_fen: int
    balance_fen: int
    issued_on: date
    term_months: int
    remaining_months: int
    annual_rate_bp: int
    monthly_payment_fen: int
    next_payment_on: date | None
    overdue_periods: int
    overdue_fen: int


class HousingFundProvider(Protocol):
    """A city's fund centre. Raises UpstreamRejected (no account, name mismatch, closed) or UpstreamUnavailable."""

    name: str

    def account(self, person: Person) -> FundAccount:
        """The person's account."""
        ...

    def records(self, person: Person, cursor: str | None) -> RecordsPage:
        """A page of the person's records; cursor None is the newest page."""
        ...

    def loan(self, person: Person) -> Loan | None:
        """The person's housing loan, or None without one."""
        ...


def account_not_found() -> UpstreamRejected:
    """The centre has no account for the ID number."""
    return UpstreamRejected(
        "housing_fund.account_not_found", "The fund centre has no provident fund account for you.", kind="not_found"
    )


def name_mismatch() -> UpstreamRejected:
    """The centre registered another name for the ID number."""
    return UpstreamRejected(
        "housing_fund.name_mismatch",
        "The fund centre registered a different name for your ID number; contact the centre.",
        kind="invalid",
    )


def account_closed() -> UpstreamRejected:
    """The centre refuses to answer about a closed account."""
    return UpstreamRejected(
        "housing_fund.account_closed", "Your provident fund account is closed; the centre shows no details.", "conflict"
    )


def invalid_cursor() -> UpstreamRejected:
    """A records cursor the centre did not issue for this account."""
    return UpstreamRejected("housing_fund.invalid_cursor", "This page of records is not valid; start again.", "invalid")
