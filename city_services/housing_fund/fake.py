"""The in-process fake housing_fund system, for demos and tests: seedable accounts, and a switch to make it fail."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import TypeVar

from city_services.connection_params import FakeConnection
from city_services.housing_fund import provider as port
from city_services.housing_fund.answers import busy
from city_services.upstream_link import UpstreamLink

T = TypeVar("T")
PAGE_SIZE = 20
_OFFSET = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True, kw_only=True)
class Params(FakeConnection):
    """Only call limits: the fake has no address and no credentials, and production refuses it."""

    def connect(self, link: UpstreamLink) -> FakeHousingFund:
        """A fake centre holding the demo account, reached through link like a real one."""
        fake = FakeHousingFund(link)
        fake.open_account(port.Person("330106199003071236", "张三"), demo_account())
        return fake


@dataclass
class _Holding:
    name: str
    account: port.FundAccount
    records: tuple[port.FundRecord, ...]
    loan: port.Loan | None


@dataclass
class FakeHousingFund:
    """A centre in memory: what tests open is what it answers; `busy` makes every call fail as unavailable."""

    link: UpstreamLink | None = None
    name: str = "fake"
    busy: bool = False
    calls: int = 0
    _holdings: dict[str, _Holding] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_account(
        self,
        person: port.Person,
        account: port.FundAccount,
        records: tuple[port.FundRecord, ...] = (),
        loan: port.Loan | None = None,
    ) -> None:
        """Hold an account (records newest first) for the person's ID number, registered under their name."""
        with self._lock:
            self._holdings[person.id_number.upper()] = _Holding(person.name, account, records, loan)

    def account(self, person: port.Person) -> port.FundAccount:
        """The account held for the person."""
        return self._ask("account", lambda: self._holding(person).account)

    def records(self, person: port.Person, cursor: str | None) -> port.RecordsPage:
        """A page of PAGE_SIZE records; the cursor is the offset."""

        def page() -> port.RecordsPage:
            records = self._holding(person).records
            if cursor is not None and not (_OFFSET.fullmatch(cursor) and 0 < int(cursor) < len(records)):
                raise port.invalid_cursor()
            start = int(cursor or 0)
            end = start + PAGE_SIZE
            return port.RecordsPage(records[start:end], str(end) if end < len(records) else None)

        return self._ask("records", page)

    def loan(self, person: port.Person) -> port.Loan | None:
        """The loan held for the person, if any."""
        return self._ask("loan", lambda: self._holding(person).loan)

    def _ask(self, operation: str, answer: Callable[[], T]) -> T:
        def attempt() -> T:
            with self._lock:
                self.calls += 1
            if self.busy:
                raise busy()
            return answer()

        if self.link is None:
            return attempt()
        return self.link.call(f"housing_fund.{operation}", attempt, safe=True)

    def _holding(self, person: port.Person) -> _Holding:
        with self._lock:
            holding = self._holdings.get(person.id_number.upper())
        if holding is None:
            raise port.account_not_found()
        if holding.name != person.name:
            raise port.name_mismatch()
        return holding


def demo_account() -> port.FundAccount:
    """The demo resident's account, as the sandbox's Hangzhou centre holds it."""
    return port.FundAccount(
        account_number="330100100001",
        status=port.NORMAL,
        balance_fen=5_234_567,
        monthly=port.MonthlyContribution(144_000, 144_000),
        contribution_base_fen=1_200_000,
        opened_on=date(2014, 7, 1),
        last_deposit_on=date(2026, 10, 15),
        employer="杭州市示范科技有限公司",
        has_loan=False,
    )
