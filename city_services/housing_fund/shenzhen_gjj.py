"""Shenzhen Housing Provident Fund Management Centre (深圳市住房公积金管理中心): camelCase JSON behind bearer tokens.

The centre's open platform issues a client id and secret; calls carry a token obtained with both,
which expires. Amounts are integer fen, dates ISO 8601, records are cursor-paged.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from typing import TypeVar

import requests

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
NAME = "shenzhen_gjj"
PAGE_SIZE = 20
# A token is renewed this long before the centre says it expires, so a call never carries a dying one.
TOKEN_MARGIN_SECONDS = 60.0
STATES = {"ACTIVE": port.NORMAL, "SEALED": port.SEALED, "FROZEN": port.FROZEN, "CLOSED": port.CLOSED}
KINDS = {
    "DEPOSIT": port.DEPOSIT,
    "SUPPLEMENTARY_DEPOSIT": port.SUPPLEMENTARY,
    "INTEREST": port.INTEREST,
    "WITHDRAWAL": port.WITHDRAWAL,
}
LOAN_STATES = {"REPAYING": port.REPAYING, "OVERDUE": port.OVERDUE, "PAID_OFF": port.PAID_OFF}
REJECTIONS = {
    "ACCOUNT_NOT_FOUND": port.account_not_found,
    "NAME_MISMATCH": port.name_mismatch,
    "INVALID_CURSOR": port.invalid_cursor,
}
TOKEN_REFUSALS = ("TOKEN_MISSING", "TOKEN_INVALID", "TOKEN_EXPIRED")
_SECONDS = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the open platform is, our client id, and the variable holding the client secret."""

    client_id: str = text(r"[A-Za-z0-9_.-]{1,64}", example="citytiles-szgjj")
    client_secret_env: str = secret_variable(example="SHENZHEN_GJJ_CLIENT_SECRET")

    def connect(self, link: UpstreamLink) -> ShenzhenGjj:
        """The adapter speaking to the open platform through link."""
        return ShenzhenGjj(self, link)


class _TokenRefused(Exception):
    """The platform no longer takes the token we sent (expired or forgotten)."""


class ShenzhenGjj:
    """The three account queries, with a token per adapter kept until it expires or is refused."""

    name = NAME

    def __init__(self, params: Params, link: UpstreamLink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.params = params
        self.link = link
        self.clock = clock
        self.http = http_session(params.max_concurrent_calls)
        self._token_lock = threading.Lock()
        self._token: tuple[str, float] | None = None

    def account(self, person: port.Person) -> port.FundAccount:
        """POST v2/accounts/query."""
        return self._ask("accounts/query", person, {}, read_account)

    def records(self, person: port.Person, cursor: str | None) -> port.RecordsPage:
        """POST v2/accounts/records/query, the centre's cursor passed through."""
        extra: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor is not None:
            extra["cursor"] = cursor
        return self._ask("accounts/records/query", person, extra, read_records)

    def loan(self, person: port.Person) -> port.Loan | None:
        """POST v2/accounts/loan/query; {"loan": null} is None."""
        return self._ask("accounts/loan/query", person, {}, read_loan)

    def _ask(self, path: str, person: port.Person, extra: dict[str, Any], read: Callable[[dict[str, Any]], T]) -> T:
        operation = path.replace("/", ".")

        def attempt() -> T:
            body = {"idNumber": person.id_number, "name": person.name, **extra}
            try:
                response = self._post(path, body, self._current_token())
            except _TokenRefused:
                # Expired early or forgotten by a restarted platform: one fresh token, one more try.
                try:
                    response = self._post(path, body, self._current_token(renew=True))
                except _TokenRefused:
                    raise unavailable(NAME, operation, "a fresh token was refused") from None
            try:
                return self._read(operation, response, read)
            except Unreadable as problem:
                raise unavailable(NAME, operation, str(problem)) from None

        return self.link.call(f"housing_fund.{operation}", attempt, safe=True)

    def _post(self, path: str, body: dict[str, Any], token: str) -> requests.Response:
        response = self.http.post(
            f"{self.params.base_url.rstrip('/')}/v2/{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.link.policy.timeout_seconds,
        )
        if response.status_code == 401 and _error_code(response) in TOKEN_REFUSALS:
            raise _TokenRefused
        return response

    def _read(self, operation: str, response: requests.Response, read: Callable[[dict[str, Any]], T]) -> T:
        if response.status_code == 200:
            return read(json_object(response))
        code = _error_code(response)
        if code is None:
            # Not the platform's own answer (a proxy's 502 page, a 503 from its front end): transport.
            response.raise_for_status()
            raise Unreadable(f"HTTP {response.status_code} without an error code")
        if code == "SYSTEM_BUSY":
            raise busy(_retry_after(response))
        rejection = REJECTIONS.get(code)
        if rejection is not None:
            raise rejection()
        # INVALID_REQUEST, INVALID_CLIENT and the like: ours to fix, never the resident's.
        raise unavailable(NAME, operation, f"refused with {code[:40]}")

    def _current_token(self, *, renew: bool = False) -> str:
        """The cached token, or a new one when there is none, it is about to expire, or renew is asked."""
        with self._token_lock:
            now = self.clock()
            if not renew and self._token is not None and now < self._token[1]:
                return self._token[0]
            token, lifetime = self._fetch_token()
            self._token = (token, now + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2))
            return token

    def _fetch_token(self) -> tuple[str, float]:
        response = self.http.post(
            f"{self.params.base_url.rstrip('/')}/v2/auth/token",
            json={
                "grantType": "client_credentials",
                "clientId": self.params.client_id,
                "clientSecret": self.link.secret(self.params.client_secret_env),
            },
            timeout=self.link.policy.timeout_seconds,
        )
        if response.status_code != 200:
            code = _error_code(response)
            if code is None:
                response.raise_for_status()
            raise unavailable(NAME, "auth.token", f"token refused with {str(code)[:40]}")
        try:
            body = json_object(response)
            token, lifetime = field(body, "accessToken", str), field(body, "expiresIn", int)
        except Unreadable as problem:
            raise unavailable(NAME, "auth.token", str(problem)) from None
        if not token or lifetime <= 0:
            raise unavailable(NAME, "auth.token", "empty token or lifetime")
        return token, float(lifetime)


def _error_code(response: requests.Response) -> str | None:
    """The platform's errorCode, when the answer is its own JSON error."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("errorCode") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: requests.Response) -> int:
    value = response.headers.get("Retry-After", "")
    return int(value) if _SECONDS.fullmatch(value) and 0 < int(value) <= 3600 else 30


def _day(data: dict[str, Any], name: str, *, optional: bool = False) -> date | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise Unreadable(f"{name} missing")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Unreadable(f"{name} is not an ISO date") from None


def _fen(data: dict[str, Any], name: str) -> int:
    value: int = field(data, name, int)
    return value


def read_account(data: dict[str, Any]) -> port.FundAccount:
    """The account in our words."""
    status = STATES.get(field(data, "status", str))
    opened = _day(data, "openedOn")
    monthly = field(data, "monthlyContribution", dict)
    if status is None or opened is None:
        raise Unreadable("status not understood")
    return port.FundAccount(
        account_number=field(data, "accountNumber", str),
        status=status,
        balance_fen=_fen(data, "balance"),
        monthly=port.MonthlyContribution(_fen(monthly, "personal"), _fen(monthly, "employer")),
        contribution_base_fen=_fen(data, "contributionBase"),
        opened_on=opened,
        last_deposit_on=_day(data, "lastContributionOn", optional=True),
        employer=field(data, "employerName", str),
        has_loan=field(data, "hasLoan", bool),
    )


def read_records(data: dict[str, Any]) -> port.RecordsPage:
    """A page of records and the centre's cursor of the next."""
    records = []
    for item in field(data, "items", list):
        if not isinstance(item, dict):
            raise Unreadable("items entry is not an object")
        kind = KINDS.get(field(item, "type", str))
        posted = _day(item, "postedOn")
        if kind is None or posted is None:
            raise Unreadable("type not understood")
        records.append(port.FundRecord(posted, kind, _fen(item, "amount"), field(item, "description", str)))
    following = data.get("nextCursor")
    if following is not None and not (isinstance(following, str) and following):
        raise Unreadable("nextCursor is not text")
    return port.RecordsPage(tuple(records), following)


def read_loan(data: dict[str, Any]) -> port.Loan | None:
    """The loan in our words, or None."""
    if "loan" not in data:
        raise Unreadable("loan missing")
    loan = data["loan"]
    if loan is None:
        return None
    if not isinstance(loan, dict):
        raise Unreadable("loan is not an object")
    status = LOAN_STATES.get(field(loan, "status", str))
    issued = _day(loan, "issuedOn")
    if status is None or issued is None:
        raise Unreadable("loan status not understood")
    return port.Loan(
        loan_number=field(loan, "loanAccountNumber", str),
        status=status,
        principal_fen=_fen(loan, "principal"),
        balance_fen=_fen(loan, "balance"),
        issued_on=issued,
        term_months=_fen(loan, "termMonths"),
        remaining_months=_fen(loan, "remainingMonths"),
        annual_rate_bp=_fen(loan, "annualRateBasisPoints"),
        monthly_payment_fen=_fen(loan, "monthlyPayment"),
        next_payment_on=_day(loan, "nextPaymentOn", optional=True),
        overdue_periods=_fen(loan, "overduePeriods"),
        overdue_fen=_fen(loan, "overdueAmount"),
    )
