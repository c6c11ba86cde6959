"""Ningbo's fund centre (宁波住房公积金, emulated in tests): pinyin JSON, yuan strings, a static API key header."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from typing import TypeVar

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.housing_fund import provider as port
from city_services.housing_fund.answers import Unreadable
from city_services.housing_fund.answers import busy
from city_services.housing_fund.answers import field
from city_services.housing_fund.answers import json_object
from city_services.housing_fund.answers import unavailable
from city_services.upstream_link import UpstreamLink
from outbound.http import http_session

T = TypeVar("T")
NAME = "ningbo_gjj"
STATES = {"zhengchang": port.NORMAL, "fengcun": port.SEALED, "dongjie": port.FROZEN}
KINDS = {"huijiao": port.DEPOSIT, "bujiao": port.SUPPLEMENTARY, "jiexi": port.INTEREST, "tiqu": port.WITHDRAWAL}
# The resident's own answers; any other zhuangtai is the centre refusing us (our key, our setup).
REJECTIONS = {
    "wuzhanghu": port.account_not_found,
    "xingmingbufu": port.name_mismatch,
    "yixiaohu": port.account_closed,
    "yemawuxiao": port.invalid_cursor,
}


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the centre's API is, and the variable holding the API key it issued us."""

    api_key_env: str = secret_variable(example="NINGBO_GJJ_API_KEY")

    def connect(self, link: UpstreamLink) -> NingboGjj:
        """The adapter speaking to the centre through link."""
        return NingboGjj(self, link)


class NingboGjj:
    """The centre's three questions: zhanghu (account), mingxi (records), daikuan (loan)."""

    name = NAME

    def __init__(self, params: Params, link: UpstreamLink) -> None:
        self.params = params
        self.link = link
        self.http = http_session(params.max_concurrent_calls)

    def account(self, person: port.Person) -> port.FundAccount:
        """zhanghu: 个人账户."""
        return self._ask("zhanghu", person, {}, read_account)

    def records(self, person: port.Person, cursor: str | None) -> port.RecordsPage:
        """mingxi: 个人明细; our cursor is the centre's own page token (yema)."""
        return self._ask("mingxi", person, {"yema": cursor} if cursor else {}, read_records)

    def loan(self, person: port.Person) -> port.Loan | None:
        """daikuan: 个人住房贷款; the centre answers daikuan null without one."""
        return self._ask("daikuan", person, {}, read_loan)

    def _ask(self, operation: str, person: port.Person, extra: dict[str, str], read: Callable[[Any], T]) -> T:
        """One question, read inside the attempt: an answer we cannot read counts against the centre."""

        def attempt() -> T:
            headers = {"X-Api-Key": self.link.secret(self.params.api_key_env)}
            body = {"shenfenzhenghao": person.id_number, "xingming": person.name, **extra}
            url = f"{self.params.base_url.rstrip('/')}/chaxun/{operation}"
            response = self.http.post(url, json=body, headers=headers, timeout=self.link.policy.timeout_seconds)
            response.raise_for_status()
            try:
                answer = json_object(response)
                status = field(answer, "zhuangtai", str)
                if status == "chenggong":
                    return read(field(answer, "shuju", dict))
            except Unreadable as problem:
                raise unavailable(NAME, operation, str(problem)) from None
            if status == "fanmang":
                raise busy()
            if status in REJECTIONS:
                raise REJECTIONS[status]()
            raise unavailable(NAME, operation, f"refused with zhuangtai {status[:16]}")

        return self.link.call(f"housing_fund.{operation}", attempt, safe=True)


_HUNDREDTHS = re.compile(r"-?[0-9]{1,12}\.[0-9]{2}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def hundredths(data: dict[str, Any], name: str) -> int:
    """A decimal string with two places, exactly in hundredths: yuan "52345.67" → 5234567 fen, "3.10" % → 310 bp."""
    value = field(data, name, str)
    if not _HUNDREDTHS.fullmatch(value):
        raise Unreadable(f"{name} is not a number with two decimals")
    return int(Decimal(value) * 100)


def day(data: dict[str, Any], name: str) -> date:
    """A YYYY-MM-DD date."""
    value = field(data, name, str)
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Unreadable(f"{name} is not a calendar date")


def maybe_day(data: dict[str, Any], name: str) -> date | None:
    """A YYYY-MM-DD date, or null for none."""
    return None if data.get(name) is None else day(data, name)


def read_account(data: dict[str, Any]) -> port.FundAccount:
    """zhanghu in our words."""
    status = STATES.get(field(data, "zhanghuzhuangtai", str))
    if status is None:
        raise Unreadable("zhanghuzhuangtai not understood")
    return port.FundAccount(
        account_number=field(data, "zhanghao", str),
        status=status,
        balance_fen=hundredths(data, "yue"),
        monthly=port.MonthlyContribution(hundredths(data, "gerenyuejiao"), hundredths(data, "danweiyuejiao")),
        contribution_base_fen=hundredths(data, "jiaocunjishu"),
        opened_on=day(data, "kaihuriqi"),
        last_deposit_on=maybe_day(data, "zuihoujiaocun"),
        employer=field(data, "danwei", str),
        has_loan=field(data, "youdaikuan", bool),
    )


def read_records(data: dict[str, Any]) -> port.RecordsPage:
    """mingxi: one page, signed amounts and the balance after each, and the next page's token while any remain."""
    records = []
    for item in field(data, "mingxi", list):
        if not isinstance(item, dict):
            raise Unreadable("mingxi item is not an object")
        kind = KINDS.get(field(item, "leixing", str))
        if kind is None:
            raise Unreadable("leixing not understood")
        amount, balance = hundredths(item, "jine"), hundredths(item, "yue")
        records.append(port.FundRecord(day(item, "riqi"), kind, amount, field(item, "zhaiyao", str), balance))
    following = data.get("xiayiye")
    if following is not None and not isinstance(following, str):
        raise Unreadable("xiayiye is not text")
    return port.RecordsPage(tuple(records), following)


def read_loan(data: dict[str, Any]) -> port.Loan | None:
    """daikuan in our words; null is no loan."""
    if data.get("daikuan") is None:
        return None
    loan = field(data, "daikuan", dict)
    balance, overdue_periods = hundredths(loan, "yue"), field(loan, "yuqiqishu", int)
    if balance == 0:
        status = port.PAID_OFF
    else:
        status = port.OVERDUE if overdue_periods else port.REPAYING
    return port.Loan(
        loan_number=field(loan, "daikuanhao", str),
        status=status,
        principal_fen=hundredths(loan, "benjin"),
        balance_fen=balance,
        issued_on=day(loan, "fafangriqi"),
        term_months=field(loan, "qishu", int),
        remaining_months=field(loan, "shengyuqishu", int),
        annual_rate_bp=hundredths(loan, "nianlilv"),
        monthly_payment_fen=hundredths(loan, "yuegong"),
        next_payment_on=maybe_day(loan, "xiacihuankuan"),
        overdue_periods=overdue_periods,
        overdue_fen=hundredths(loan, "yuqijine"),
    )
