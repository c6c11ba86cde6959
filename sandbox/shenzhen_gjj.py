"""shenzhen_gjj: a provident fund centre with an English camelCase JSON API behind bearer tokens.

`POST /upstreams/shenzhen-gjj/v2/auth/token {grantType, clientId, clientSecret}` issues a token
that expires; `POST .../v2/accounts/query`, `.../v2/accounts/records/query` (cursor-paged) and
`.../v2/accounts/loan/query` take `Authorization: Bearer <token>` and `{idNumber, name, ...}`.
Amounts are integer fen, dates ISO 8601. Errors are `{errorCode, errorMessage, requestId}` with a
meaningful HTTP status. sandbox/README.md has the rest.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.housing_fund import CLOSED
from sandbox.housing_fund import DEPOSIT
from sandbox.housing_fund import FROZEN
from sandbox.housing_fund import INTEREST
from sandbox.housing_fund import NORMAL
from sandbox.housing_fund import SEALED
from sandbox.housing_fund import SHENZHEN_GJJ
from sandbox.housing_fund import SUPPLEMENTARY
from sandbox.housing_fund import WITHDRAWAL
from sandbox.housing_fund import FundAccount
from sandbox.housing_fund import today
from sandbox.outbox import BEIJING
from sandbox.upstream_access import BUSY
from sandbox.upstream_access import EXPIRED
from sandbox.upstream_access import VALID
from sandbox.upstream_access import MalformedBody
from sandbox.upstream_access import act_out_fault
from sandbox.upstream_access import json_object_body
from sandbox.upstream_access import same_secret
from sandbox.world import World

PREFIX = "/upstreams/shenzhen-gjj"
FAULT_TARGET = "housing_fund.shenzhen_gjj"
RETRY_AFTER_SECONDS = 5

# errorCode -> (HTTP status, errorMessage)
ERRORS = {
    "INVALID_REQUEST": (400, "The request is malformed."),
    "UNSUPPORTED_GRANT_TYPE": (400, "grantType must be client_credentials."),
    "INVALID_CURSOR": (400, "The cursor is not one this API issued for this account."),
    "INVALID_CLIENT": (401, "Unknown clientId or wrong clientSecret."),
    "TOKEN_MISSING": (401, "Send Authorization: Bearer <accessToken>."),
    "TOKEN_INVALID": (401, "The access token is not valid."),
    "TOKEN_EXPIRED": (401, "The access token has expired; request a new one."),
    "ACCOUNT_NOT_FOUND": (404, "No provident fund account for this ID number."),
    "NAME_MISMATCH": (422, "The name does not match the account holder."),
    "SYSTEM_BUSY": (503, "The system is busy; retry later."),
}
STATUS = {NORMAL: "ACTIVE", SEALED: "SEALED", FROZEN: "FROZEN", CLOSED: "CLOSED"}
RECORD_TYPES = {
    DEPOSIT: ("DEPOSIT", "汇缴"),
    SUPPLEMENTARY: ("SUPPLEMENTARY_DEPOSIT", "补缴"),
    INTEREST: ("INTEREST", "年度结息"),
    WITHDRAWAL: ("WITHDRAWAL", "部分提取"),
}

_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")
_CURSOR = re.compile(r"v1:([0-9]{1,20}):(0|[1-9][0-9]{0,6})")
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 100


class SzGjjError(Exception):
    """An error answer: errorCode, its HTTP status, and the field to blame when there is one."""

    def __init__(self, code: str, message: str | None = None, field: str | None = None) -> None:
        super().__init__(code)
        self.code, self.status = code, ERRORS[code][0]
        self.message, self.field = message or ERRORS[code][1], field


def create_shenzhen_gjj_blueprint(world: World) -> Blueprint:
    """The token endpoint and the three account queries."""
    bp = Blueprint("shenzhen_gjj", __name__, url_prefix=PREFIX)

    @bp.errorhandler(SzGjjError)
    def refuse(error: SzGjjError) -> Response:
        body: dict[str, Any] = {"errorCode": error.code, "errorMessage": error.message}
        if error.field:
            body["field"] = error.field
        answer = _json(body, error.status)
        if error.code == "SYSTEM_BUSY":
            answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        if error.code.startswith("TOKEN_"):
            answer.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return answer

    @bp.post("/v2/auth/token")
    def issue_token() -> Response:
        body = _body()
        if body.get("grantType") != "client_credentials":
            raise SzGjjError("UNSUPPORTED_GRANT_TYPE", field="grantType")
        client_id, client_secret = body.get("clientId"), body.get("clientSecret")
        credential = world.housing_fund.credentials[SHENZHEN_GJJ]
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise SzGjjError("INVALID_REQUEST", "clientId and clientSecret are required strings.")
        known = same_secret(client_secret, credential.secret)
        if client_id != credential.client_id or not known:
            raise SzGjjError("INVALID_CLIENT")
        token = world.housing_fund.shenzhen_tokens.issue(client_id)
        ttl = world.housing_fund.shenzhen_tokens.ttl_seconds
        return _json({"accessToken": token, "tokenType": "Bearer", "expiresIn": ttl})

    def serve(answer: Callable[[World, FundAccount, dict[str, Any]], dict[str, Any]]) -> Callable[[], Response]:
        def endpoint() -> Response:
            outcome = act_out_fault(world.faults, FAULT_TARGET)
            if isinstance(outcome, Response):
                return outcome
            if outcome == BUSY:
                raise SzGjjError("SYSTEM_BUSY")
            _check_token(world)
            body = _body()
            return _json(answer(world, _account_of(world, body), body))

        return endpoint

    for path, name, answer in (
        ("/v2/accounts/query", "account", describe_account),
        ("/v2/accounts/records/query", "records", list_records),
        ("/v2/accounts/loan/query", "loan", describe_loan),
    ):
        bp.add_url_rule(path, name, serve(answer), methods=["POST"])
    return bp


def describe_account(world: World, account: FundAccount, body: dict[str, Any]) -> dict[str, Any]:
    """The account, its balance and its monthly contribution."""
    last = account.last_deposit
    return {
        "accountNumber": account.account_number,
        "name": account.name,
        "employerName": account.employer,
        "status": STATUS[account.status],
        "balance": account.balance_fen,
        "contributionBase": account.contribution_base_fen,
        "monthlyContribution": {
            "personal": account.personal_monthly_fen,
            "employer": account.employer_monthly_fen,
            "total": account.monthly_fen,
        },
        "openedOn": account.opened_on.isoformat(),
        "lastContributionOn": last.posted_on.isoformat() if last else None,
        "paidUpTo": f"{last.posted_on:%Y-%m}" if last else None,
        "closedOn": account.closed_on.isoformat() if account.closed_on else None,
        "hasLoan": account.loan is not None,
        "asOf": datetime.now(BEIJING).isoformat(timespec="seconds"),
    }


def list_records(world: World, account: FundAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Booked entries, newest first, `limit` at a time; nextCursor is null on the last page."""
    limit = body.get("limit", _DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
        raise SzGjjError("INVALID_REQUEST", f"limit must be an integer from 1 to {_MAX_LIMIT}.", "limit")
    offset = _offset(world, body.get("cursor"), account)
    shown = account.entries[offset : offset + limit]
    following = offset + limit
    return {
        "items": [
            {
                "id": entry.serial,
                "postedOn": entry.posted_on.isoformat(),
                "type": RECORD_TYPES[entry.kind][0],
                "amount": entry.signed_fen,
                "description": f"{RECORD_TYPES[entry.kind][1]} {entry.posted_on:%Y-%m}",
            }
            for entry in shown
        ],
        "nextCursor": _cursor(world, account, following) if following < len(account.entries) else None,
    }


def describe_loan(world: World, account: FundAccount, body: dict[str, Any]) -> dict[str, Any]:
    """The housing loan, or {"loan": null} when there is none."""
    loan = account.loan
    if loan is None:
        return {"loan": None}
    on = today()
    next_due = loan.next_payment_on(on)
    if loan.balance_fen == 0:
        status = "PAID_OFF"
    else:
        status = "OVERDUE" if loan.overdue_periods else "REPAYING"
    return {
        "loan": {
            "loanAccountNumber": loan.account_number,
            "contractNumber": loan.contract_number,
            "principal": loan.principal_fen,
            "balance": loan.balance_fen,
            "issuedOn": loan.issued_on.isoformat(),
            "termMonths": loan.term_months,
            "remainingMonths": loan.remaining_months(on),
            "annualRateBasisPoints": loan.rate_bp,
            "monthlyPayment": loan.monthly_payment_fen if loan.balance_fen else 0,
            "nextPaymentOn": next_due.isoformat() if next_due else None,
            "overduePeriods": loan.overdue_periods,
            "overdueAmount": loan.overdue_periods * loan.monthly_payment_fen,
            "status": status,
        }
    }


def _check_token(world: World) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SzGjjError("TOKEN_MISSING")
    status = world.housing_fund.shenzhen_tokens.check(token.strip())
    if status == EXPIRED:
        raise SzGjjError("TOKEN_EXPIRED")
    if status != VALID:
        raise SzGjjError("TOKEN_INVALID")


def _body() -> dict[str, Any]:
    try:
        return json_object_body()
    except MalformedBody as malformed:
        raise SzGjjError("INVALID_REQUEST", str(malformed).capitalize() + ".") from None


def _account_of(world: World, body: dict[str, Any]) -> FundAccount:
    id_number, name = body.get("idNumber"), body.get("name")
    if not isinstance(id_number, str) or not _ID_NUMBER.fullmatch(id_number):
        raise SzGjjError("INVALID_REQUEST", "idNumber must be an 18-character ID number.", "idNumber")
    if not isinstance(name, str) or not name or len(name) > 30 or not name.isprintable():
        raise SzGjjError("INVALID_REQUEST", "name must be a non-empty string of up to 30 characters.", "name")
    account = world.housing_fund.accounts.find(SHENZHEN_GJJ, id_number.upper())
    if account is None:
        raise SzGjjError("ACCOUNT_NOT_FOUND")
    if account.name != name:
        raise SzGjjError("NAME_MISMATCH")
    return account


def _cursor(world: World, account: FundAccount, offset: int) -> str:
    payload = base64.urlsafe_b64encode(f"v1:{account.account_number}:{offset}".encode("ascii")).decode("ascii")
    return payload.rstrip("=") + "." + _cursor_tag(world, payload.rstrip("="))


def _cursor_tag(world: World, payload: str) -> str:
    # The tag makes cursors opaque and tamper-evident; the key lives as long as the sandbox process.
    return hmac.new(world.housing_fund.cursor_key, payload.encode("ascii"), "sha256").hexdigest()[:16]


def _offset(world: World, cursor: object, account: FundAccount) -> int:
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 200 or not cursor.isascii():
        raise SzGjjError("INVALID_CURSOR", field="cursor")
    payload, _, tag = cursor.partition(".")
    if not hmac.compare_digest(_cursor_tag(world, payload), tag):
        raise SzGjjError("INVALID_CURSOR", field="cursor")
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise SzGjjError("INVALID_CURSOR", field="cursor") from None
    matched = _CURSOR.fullmatch(decoded)
    if matched is None or matched.group(1) != account.account_number:
        raise SzGjjError("INVALID_CURSOR", field="cursor")
    return int(matched.group(2))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    request_id = secrets.token_hex(8)
    text = json.dumps({**body, "requestId": request_id} if status >= 400 else body, ensure_ascii=False)
    answer = Response(text, status=status, content_type="application/json; charset=utf-8")
    answer.headers["X-Request-Id"] = request_id
    return answer
