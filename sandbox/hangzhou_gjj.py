"""hangzhou_gjj: a provident fund centre speaking JGJ/T 320 field names over signed form posts.

`POST /upstreams/hangzhou-gjj/api/<operation>`, form-encoded; operations grzhxx (account),
grywmx (entries, paged by page number), grdkxx (loan). Every request carries appid, jgh,
timestamp (yyyyMMddHHmmss, Beijing time), nonce and sign = hex HMAC-SHA256 over the sorted
non-empty parameters. Answers are HTTP 200 JSON `{"recode", "msg", "data"}`; recode "000000" is
success. Amounts are yuan strings with two decimals, dates YYYYMMDD. sandbox/README.md has the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from sandbox.housing_fund import CLOSED
from sandbox.housing_fund import DEPOSIT
from sandbox.housing_fund import FROZEN
from sandbox.housing_fund import HANGZHOU_GJJ
from sandbox.housing_fund import INTEREST
from sandbox.housing_fund import NORMAL
from sandbox.housing_fund import SEALED
from sandbox.housing_fund import SUPPLEMENTARY
from sandbox.housing_fund import WITHDRAWAL
from sandbox.housing_fund import FundAccount
from sandbox.housing_fund import today
from sandbox.outbox import BEIJING
from sandbox.upstream_access import BUSY
from sandbox.upstream_access import act_out_fault
from sandbox.upstream_access import hmac_sha256_hex
from sandbox.upstream_access import same_signature
from sandbox.world import World

PREFIX = "/upstreams/hangzhou-gjj"
FAULT_TARGET = "housing_fund.hangzhou_gjj"
INSTITUTION_CODE = "330100"  # jgh (机构号) of 杭州住房公积金管理中心, the one institution this system serves

# recode -> msg
MESSAGES = {
    "000000": "成功",
    "100001": "参数错误",
    "100002": "签名验证失败",
    "100003": "请求已过期，请校准时间",
    "100004": "appid无效",
    "100005": "机构号不存在或未授权",
    "100006": "重复的请求（nonce已使用）",
    "100007": "接口不存在",
    "200001": "未查询到个人公积金账户",
    "200002": "姓名与证件号码不一致",
    "200003": "个人账户已销户",
    "200004": "未查询到个人住房公积金贷款信息",
    "999999": "系统繁忙，请稍后再试",
}
# JGJ/T 320 个人账户状态 and 归集和提取业务类型 codes with their names.
ACCOUNT_STATUS = {NORMAL: ("01", "正常"), SEALED: ("02", "封存"), FROZEN: ("06", "冻结")}
ENTRY_TYPES = {
    DEPOSIT: ("01", "汇缴"),
    SUPPLEMENTARY: ("02", "补缴"),
    INTEREST: ("09", "年终结息"),
    WITHDRAWAL: ("11", "部分提取"),
}

_COMMON = ("appid", "jgh", "timestamp", "nonce", "sign")
_TIMESTAMP = re.compile(r"[0-9]{14}")
_NONCE = re.compile(r"[A-Za-z0-9]{16,32}")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")
_COUNTING = re.compile(r"[1-9][0-9]{0,5}")
_MAX_VALUE = 256
_MAX_PAGE_SIZE = 50


class GjjError(Exception):
    """A refusal in the centre's own terms: a recode and its message."""

    def __init__(self, recode: str, detail: str = "") -> None:
        super().__init__(recode)
        self.recode = recode
        self.msg = MESSAGES[recode] + (f"：{detail}" if detail else "")


def create_hangzhou_gjj_blueprint(world: World) -> Blueprint:
    """The one route of the system, dispatching on the operation name."""
    bp = Blueprint("hangzhou_gjj", __name__, url_prefix=PREFIX)

    @bp.route("/api/<operation>", methods=["GET", "POST"])
    def call(operation: str) -> Response:
        outcome = act_out_fault(world.faults, FAULT_TARGET)
        if isinstance(outcome, Response):
            return outcome
        try:
            if outcome == BUSY:
                raise GjjError("999999")
            answer = OPERATIONS.get(operation)
            if answer is None:
                raise GjjError("100007", operation[:40])
            params = _admitted_params(world)
            account = _account_of(world, params)
            return _json({"recode": "000000", "msg": MESSAGES["000000"], "data": answer(account, params)})
        except GjjError as error:
            return _json({"recode": error.recode, "msg": error.msg, "data": None})

    return bp


def describe_account(account: FundAccount, params: dict[str, str]) -> dict[str, Any]:
    """grzhxx: 个人账户信息."""
    status_code, status_name = ACCOUNT_STATUS[account.status]
    last = account.last_deposit
    return {
        "GRZH": account.account_number,
        "XINGMING": account.name,
        "DWMC": account.employer,
        "GRZHZT": status_code,
        "GRZHZTMC": status_name,
        "GRZHYE": yuan(account.balance_fen),
        "GRJCJS": yuan(account.contribution_base_fen),
        "GRJCBL": "0.12",
        "DWJCBL": "0.12",
        "GRYJCE": yuan(account.personal_monthly_fen),
        "DWYJCE": yuan(account.employer_monthly_fen),
        "KHRQ": _day(account.opened_on),
        "JZRQ": _day(last.posted_on) if last else "",
        "JZNY": f"{last.posted_on:%Y%m}" if last else "",
        "SFDK": "1" if account.loan is not None else "0",
    }


def list_entries(account: FundAccount, params: dict[str, str]) -> dict[str, Any]:
    """grywmx: 个人业务明细, newest first, PAGENUM from 1, PAGESIZE up to 50."""
    page = _counting(params, "PAGENUM", 1)
    size = _counting(params, "PAGESIZE", 10)
    if size > _MAX_PAGE_SIZE:
        raise GjjError("100001", f"PAGESIZE不能大于{_MAX_PAGE_SIZE}")
    shown = account.entries[(page - 1) * size : page * size]
    return {
        "TOTALCOUNT": str(len(account.entries)),
        "PAGENUM": str(page),
        "PAGESIZE": str(size),
        "LIST": [
            {
                "YWLSH": entry.serial,
                "JZRQ": _day(entry.posted_on),
                "GJHTQYWLX": ENTRY_TYPES[entry.kind][0],
                "GJHTQYWLXMC": ENTRY_TYPES[entry.kind][1],
                "FSE": yuan(entry.amount_fen),
                "ZY": _summary(entry.kind, entry.posted_on),
            }
            for entry in shown
        ],
    }


def describe_loan(account: FundAccount, params: dict[str, str]) -> dict[str, Any]:
    """grdkxx: 个人住房贷款账户."""
    loan = account.loan
    if loan is None:
        raise GjjError("200004")
    on = today()
    next_due = loan.next_payment_on(on)
    principal_due = loan.monthly_payment_fen - loan.interest_due_fen
    return {
        "DKZH": loan.account_number,
        "JKHTBH": loan.contract_number,
        "DKFFE": yuan(loan.principal_fen),
        "DKFFRQ": _day(loan.issued_on),
        "DKYE": yuan(loan.balance_fen),
        "DKLL": f"{loan.rate_bp // 100}.{loan.rate_bp % 100:02d}",
        "DKQS": str(loan.term_months),
        "SYQS": str(loan.remaining_months(on)),
        "DQJHHKJE": yuan(loan.monthly_payment_fen if loan.balance_fen else 0),
        "XCHKRQ": _day(next_due) if next_due else "",
        "LJYQQS": str(loan.overdue_periods),
        "YQBJZE": yuan(loan.overdue_periods * principal_due),
        "YQLXZE": yuan(loan.overdue_periods * loan.interest_due_fen),
        "DKJQRQ": "" if loan.balance_fen else _day(on),
    }


OPERATIONS: dict[str, Callable[[FundAccount, dict[str, str]], dict[str, Any]]] = {
    "grzhxx": describe_account,
    "grywmx": list_entries,
    "grdkxx": describe_loan,
}


def string_to_sign(params: dict[str, str]) -> str:
    """Every non-empty parameter except sign, sorted by key (ASCII order), joined as k=v&k=v."""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if key != "sign" and value != "")


def yuan(fen: int) -> str:
    """Integer fen as a yuan string with two decimals: 1234567 -> "12345.67"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _admitted_params(world: World) -> dict[str, str]:
    """The form parameters of a well-formed, correctly signed, fresh request for our institution."""
    if request.method != "POST" or request.args:
        raise GjjError("100001", "仅接受POST，参数放在请求体中")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise GjjError("100001", "Content-Type应为application/x-www-form-urlencoded")
    try:
        form = request.form
    except RequestEntityTooLarge:
        raise GjjError("100001", "请求体过大") from None
    params: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) > 1:
            raise GjjError("100001", f"参数{key[:40]}重复")
        if len(values[0]) > _MAX_VALUE or len(key) > 64:
            raise GjjError("100001", f"参数{key[:40]}过长")
        params[key] = values[0]
    missing = [key for key in _COMMON if not params.get(key)]
    if missing:
        raise GjjError("100001", f"缺少{','.join(missing)}")
    credential = world.housing_fund.credentials[HANGZHOU_GJJ]
    if params["appid"] != credential.client_id:
        raise GjjError("100004")
    if not _TIMESTAMP.fullmatch(params["timestamp"]) or not _NONCE.fullmatch(params["nonce"]):
        raise GjjError("100001", "timestamp应为yyyyMMddHHmmss，nonce应为16-32位字母或数字")
    if not same_signature(hmac_sha256_hex(credential.secret, string_to_sign(params)), params["sign"]):
        raise GjjError("100002")
    try:
        sent_at = datetime.strptime(params["timestamp"], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        raise GjjError("100001", "timestamp不是有效时间") from None
    if abs((datetime.now(BEIJING) - sent_at).total_seconds()) > world.config.upstream_clock_skew_seconds:
        raise GjjError("100003")
    if not world.housing_fund.hangzhou_nonces.first_use(params["nonce"]):
        raise GjjError("100006")
    if params["jgh"] != INSTITUTION_CODE:
        raise GjjError("100005")
    return params


def _account_of(world: World, params: dict[str, str]) -> FundAccount:
    id_number, name = params.get("ZJHM", ""), params.get("XINGMING", "")
    if not _ID_NUMBER.fullmatch(id_number):
        raise GjjError("100001", "ZJHM应为18位身份证号码")
    if not name or len(name) > 30 or not name.isprintable():
        raise GjjError("100001", "XINGMING")
    account = world.housing_fund.accounts.find(HANGZHOU_GJJ, id_number.upper())
    if account is None:
        raise GjjError("200001")
    if account.name != name:
        raise GjjError("200002")
    if account.status == CLOSED:
        raise GjjError("200003")
    return account


def _counting(params: dict[str, str], key: str, default: int) -> int:
    value = params.get(key, "")
    if value == "":
        return default
    if not _COUNTING.fullmatch(value):
        raise GjjError("100001", f"{key}应为正整数")
    return int(value)


def _summary(kind: str, posted_on: date) -> str:
    if kind == DEPOSIT:
        return f"{posted_on:%Y}年{posted_on:%m}月汇缴"
    if kind == SUPPLEMENTARY:
        return f"{posted_on:%Y}年{posted_on:%m}月补缴"
    if kind == INTEREST:
        return f"{posted_on:%Y}年度结息"
    return "部分提取"


def _day(day: date) -> str:
    return f"{day:%Y%m%d}"


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=UTF-8")
