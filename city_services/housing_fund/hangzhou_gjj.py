"""Hangzhou Housing Provident Fund Management Centre (杭州住房公积金管理中心): JGJ/T 320 fields over signed forms.

The centre signs every request with an HMAC key it issued to our app (`appid`) at one institution
(机构号, `jgh`). Amounts are yuan strings, dates YYYYMMDD, and every answer is HTTP 200 with a `recode`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from typing import Any
from typing import TypeVar

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text
from city_services.housing_fund import provider as port
from city_services.housing_fund.answers import Unreadable
from city_services.housing_fund.answers import busy
from city_services.housing_fund.answers import field
from city_services.housing_fund.answers import json_object
from city_services.housing_fund.answers import unavailable
from city_services.upstream_link import UpstreamLink
from outbound.http import http_session

T = TypeVar("T")
NAME = "hangzhou_gjj"
BEIJING = timezone(timedelta(hours=8))
PAGE_SIZE = 20
_YUAN = re.compile(r"-?[0-9]{1,12}\.[0-9]{2}")
_DAY = re.compile(r"[0-9]{8}")
_COUNT = re.compile(r"[0-9]{1,6}")
_RATE = re.compile(r"[0-9]{1,2}\.[0-9]{2}")
_PAGE = re.compile(r"[1-9][0-9]{0,5}")
# 个人账户状态 (GRZHZT).
STATES = {"01": port.NORMAL, "02": port.SEALED, "06": port.FROZEN}
# 归集和提取业务类型 (GJHTQYWLX) → our kind, and whether money went out.
KINDS = {
    "01": (port.DEPOSIT, False),
    "02": (port.SUPPLEMENTARY, False),
    "09": (port.INTEREST, False),
    "11": (port.WITHDRAWAL, True),
}
# The resident's own answers; every other recode is the centre refusing us (our signing, clock or setup).
REJECTIONS = {
    "200001": port.account_not_found,
    "200002": port.name_mismatch,
    "200003": port.account_closed,
}
NO_LOAN = "200004"
BUSY = "999999"


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the centre's API is, our app id and institution code there, and the variable holding the HMAC key."""

    appid: str = text(r"[0-9A-Za-z-]{1,32}", example="HZGJJ-CT-0001")
    jgh: str = text(r"[0-9A-Za-z-]{1,32}", example="330100")
    secret_env: str = secret_variable(example="HANGZHOU_GJJ_HMAC_KEY")

    def connect(self, link: UpstreamLink) -> HangzhouGjj:
        """The adapter speaking to the centre through link."""
        return HangzhouGjj(self, link)


def string_to_sign(params: dict[str, str]) -> str:
    """Every non-empty parameter but sign, sorted by name in ASCII order, joined as raw name=value pairs."""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if key != "sign" and value != "")


def sign(params: dict[str, str], secret: str) -> str:
    """Upper-case hex HMAC-SHA256 of the string to sign, keyed with the secret's text."""
    return hmac.new(secret.encode("utf-8"), string_to_sign(params).encode("utf-8"), hashlib.sha256).hexdigest().upper()


def fen_of(yuan: str) -> int:
    """A yuan string with two decimals as fen, exactly: "52345.67" → 5234567."""
    if not _YUAN.fullmatch(yuan):
        raise Unreadable("amount is not yuan with two decimals")
    return int(Decimal(yuan) * 100)


def day_of(value: str) -> date | None:
    """A YYYYMMDD date; "" is no date."""
    if value == "":
        return None
    if not _DAY.fullmatch(value):
        raise Unreadable("date is not YYYYMMDD")
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise Unreadable("date is not a calendar date") from None


def count_of(value: str) -> int:
    """A decimal count."""
    if not _COUNT.fullmatch(value):
        raise Unreadable("count is not a decimal number")
    return int(value)


class HangzhouGjj:
    """The centre's three operations: grzhxx (account), grywmx (records by page number), grdkxx (loan)."""

    name = NAME

    def __init__(self, params: Params, link: UpstreamLink) -> None:
        self.params = params
        self.link = link
        self.http = http_session(params.max_concurrent_calls)

    def account(self, person: port.Person) -> port.FundAccount:
        """grzhxx: 个人账户信息."""
        return self._ask("grzhxx", person, {}, read_account)

    def records(self, person: port.Person, cursor: str | None) -> port.RecordsPage:
        """grywmx: 个人业务明细; our cursor is the centre's page number."""
        if cursor is not None and not _PAGE.fullmatch(cursor):
            raise port.invalid_cursor()
        page = cursor or "1"
        return self._ask("grywmx", person, {"PAGENUM": page, "PAGESIZE": str(PAGE_SIZE)}, read_records)

    def loan(self, person: port.Person) -> port.Loan | None:
        """grdkxx: 个人住房贷款; the centre's "no loan" answer is None."""
        return self._ask("grdkxx", person, {}, read_loan, absent=lambda: None)

    def _ask(
        self,
        operation: str,
        person: port.Person,
        extra: dict[str, str],
        read: Callable[[dict[str, Any]], T],
        *,
        absent: Callable[[], T] | None = None,
    ) -> T:
        """One operation; absent gives the answer when the centre says the thing asked for does not exist."""

        def attempt() -> T:
            secret = self.link.secret(self.params.secret_env)
            form = {
                "appid": self.params.appid,
                "jgh": self.params.jgh,
                # The centre checks freshness against its own Beijing-time clock; a fresh nonce per attempt.
                "timestamp": datetime.now(UTC).astimezone(BEIJING).strftime("%Y%m%d%H%M%S"),
                "nonce": secrets.token_hex(12),
                "ZJHM": person.id_number,
                "XINGMING": person.name,
                **extra,
            }
            form["sign"] = sign(form, secret)
            url = f"{self.params.base_url.rstrip('/')}/api/{operation}"
            response = self.http.post(url, data=form, timeout=self.link.policy.timeout_seconds)
            response.raise_for_status()
            try:
                return self._read(operation, json_object(response), read, absent)
            except Unreadable as problem:
                raise unavailable(NAME, operation, str(problem)) from None

        return self.link.call(f"housing_fund.{operation}", attempt, safe=True)

    def _read(
        self,
        operation: str,
        body: dict[str, Any],
        read: Callable[[dict[str, Any]], T],
        absent: Callable[[], T] | None,
    ) -> T:
        recode = field(body, "recode", str)
        if recode == "000000":
            return read(field(body, "data", dict))
        if recode == NO_LOAN and absent is not None:
            return absent()
        if recode == BUSY:
            raise busy()
        rejection = REJECTIONS.get(recode)
        if rejection is not None:
            raise rejection()
        # Signing, clock, nonce, appid or institution: ours to fix, never the resident's.
        raise unavailable(NAME, operation, f"refused with recode {recode[:8]}")


def _text(data: dict[str, Any], name: str) -> str:
    value: str = field(data, name, str)
    return value


def read_account(data: dict[str, Any]) -> port.FundAccount:
    """个人账户信息 in our words."""
    status = STATES.get(_text(data, "GRZHZT"))
    opened = day_of(_text(data, "KHRQ"))
    if status is None or opened is None:
        raise Unreadable("GRZHZT or KHRQ not understood")
    return port.FundAccount(
        account_number=_text(data, "GRZH"),
        status=status,
        balance_fen=fen_of(_text(data, "GRZHYE")),
        monthly=port.MonthlyContribution(fen_of(_text(data, "GRYJCE")), fen_of(_text(data, "DWYJCE"))),
        contribution_base_fen=fen_of(_text(data, "GRJCJS")),
        opened_on=opened,
        last_deposit_on=day_of(_text(data, "JZRQ")),
        employer=_text(data, "DWMC"),
        has_loan=_text(data, "SFDK") == "1",
    )


def read_records(data: dict[str, Any]) -> port.RecordsPage:
    """个人业务明细: one page, and the next page's number while records remain."""
    total, page, size = (count_of(_text(data, name)) for name in ("TOTALCOUNT", "PAGENUM", "PAGESIZE"))
    items = field(data, "LIST", list)
    records = []
    for item in items:
        if not isinstance(item, dict):
            raise Unreadable("LIST item is not an object")
        kind = KINDS.get(_text(item, "GJHTQYWLX"))
        posted = day_of(_text(item, "JZRQ"))
        if kind is None or posted is None:
            raise Unreadable("GJHTQYWLX or JZRQ not understood")
        # FSE is never negative: the type says which way the money went.
        amount = abs(fen_of(_text(item, "FSE")))
        records.append(port.FundRecord(posted, kind[0], -amount if kind[1] else amount, _text(item, "ZY")))
    following = str(page + 1) if page * size < total and items else None
    return port.RecordsPage(tuple(records), following)


def read_loan(data: dict[str, Any]) -> port.Loan | None:
    """个人住房贷款账户 in our words."""
    issued = day_of(_text(data, "DKFFRQ"))
    rate = _text(data, "DKLL")
    if issued is None or not _RATE.fullmatch(rate):
        raise Unreadable("DKFFRQ or DKLL not understood")
    balance = fen_of(_text(data, "DKYE"))
    overdue_periods = count_of(_text(data, "LJYQQS"))
    if balance == 0:
        status = port.PAID_OFF
    else:
        status = port.OVERDUE if overdue_periods else port.REPAYING
    return port.Loan(
        loan_number=_text(data, "DKZH"),
        status=status,
        principal_fen=fen_of(_text(data, "DKFFE")),
        balance_fen=balance,
        issued_on=issued,
        term_months=count_of(_text(data, "DKQS")),
        remaining_months=count_of(_text(data, "SYQS")),
        annual_rate_bp=int(Decimal(rate) * 100),
        monthly_payment_fen=fen_of(_text(data, "DQJHHKJE")),
        next_payment_on=day_of(_text(data, "XCHKRQ")),
        overdue_periods=overdue_periods,
        overdue_fen=fen_of(_text(data, "YQBJZE")) + fen_of(_text(data, "YQLXZE")),
    )
