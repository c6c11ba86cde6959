"""WeChat Pay API v3 trade bills (申请交易账单 and 下载账单), made from the sandbox's ledger.

* GET /v3/bill/tradebill?bill_date=YYYY-MM-DD[&bill_type=ALL|SUCCESS|REFUND][&tar_type=GZIP] (signed, like
  every v3 call) -> 200 {download_url, hash_type: "SHA1", hash_value}: the bill of the signing merchant for
  that Beijing day (today included, so far), hash_value the SHA1 hex of the file before compression.
  bill_date malformed or after today, another bill_type or tar_type, an unknown or repeated parameter:
  400 PARAM_ERROR. A day without a line of that type: 400 NO_STATEMENT_EXIST 请求的账单文件不存在.
  Fault target wechat_pay.bill, mode error: 400 STATEMENT_CREATING 账单生成中 (ask again later).
* GET /v3/billdownload/file?token=...[&tartype=gzip] (signed by the merchant, as wechatpayv3's download_bill
  does) -> 200 the file, application/octet-stream, gzip when tar_type=GZIP was asked; the answer is NOT
  signed (WeChat does not sign it: check hash_value instead). The URL works for
  SandboxConfig.wechat_bill_url_seconds (5 minutes) and for that merchant only; otherwise 400
  INVALID_REQUEST. Error answers are JSON and signed, like every other v3 error.

The file (UTF-8, lines ending CRLF): the detail header, one line per payment (交易状态 SUCCESS) and refund
(REFUND) with every cell prefixed by a backtick, then the summary header and one backtick-prefixed
summary line whose totals add up the detail lines. Amounts are yuan with two decimals; 手续费 as
sandbox/bills.py charges it (negative on a refund: the fee given back); times are Beijing time.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable
from datetime import date

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.bill_downloads import BillFile
from sandbox.bills import FEE_RATE
from sandbox.bills import BillLine
from sandbox.bills import beijing_time
from sandbox.bills import bill_day
from sandbox.bills import lines_of_day
from sandbox.bills import yuan
from sandbox.outage import answer_down
from sandbox.pay_keys import WeChatPayKeys
from sandbox.pay_ledger import PAYMENT
from sandbox.pay_ledger import REFUND
from sandbox.payments import WECHAT_PAY
from sandbox.wechat_pay_wire import WeChatPayError
from sandbox.wechat_pay_wire import authenticate
from sandbox.wechat_pay_wire import param_error
from sandbox.wechat_pay_wire import serve
from sandbox.wechat_pay_wire import signed_answer
from sandbox.wechat_pay_wire import signing_keys
from sandbox.world import World

NOT_MADE_YET = WeChatPayError(400, "STATEMENT_CREATING", "账单生成中")
_QUERY = ("bill_date", "bill_type", "tar_type")
_DOWNLOAD_QUERY = ("token", "tartype")
_NEWLINE = "\r\n"

Cell = Callable[[BillLine], str]


def _both(payment: Cell, refund: Cell) -> Cell:
    return lambda line: payment(line) if line.kind == PAYMENT else refund(line)


def _fixed(text: str) -> Cell:
    return lambda line: text


def _paid(line: BillLine) -> int:
    return line.amount_fen if line.kind == PAYMENT else 0


def _refunded(line: BillLine) -> int:
    return line.amount_fen if line.kind == REFUND else 0


# Every detail column -> its cell. A refund line's 交易时间 is when the refund was asked for.
_CELLS: dict[str, Cell] = {
    "交易时间": _both(lambda line: beijing_time(line.at), lambda line: beijing_time(line.asked_at)),
    "公众账号ID": lambda line: line.app_id,
    "商户号": lambda line: line.merchant,
    "特约商户号": _fixed("0"),  # a direct merchant
    "设备号": _fixed(""),
    "微信订单号": lambda line: line.trade_no,
    "商户订单号": lambda line: line.out_trade_no,
    "用户标识": lambda line: line.payer,
    "交易类型": _fixed("JSAPI"),
    "交易状态": _both(_fixed("SUCCESS"), _fixed("REFUND")),
    "付款银行": _fixed("OTHERS"),
    "货币种类": _fixed("CNY"),
    "应结订单金额": lambda line: yuan(_paid(line)),
    "代金券金额": _fixed("0.00"),
    "退款申请时间": _both(_fixed(""), lambda line: beijing_time(line.asked_at)),
    "退款成功时间": _both(_fixed(""), lambda line: beijing_time(line.at)),
    "微信退款单号": _both(_fixed("0"), lambda line: line.refund_id or ""),
    "商户退款单号": _both(_fixed("0"), lambda line: line.out_refund_no or ""),
    "退款金额": lambda line: yuan(_refunded(line)),
    "充值券退款金额": _fixed("0.00"),
    "退款类型": _both(_fixed(""), _fixed("ORIGINAL")),
    "退款状态": _both(_fixed(""), _fixed("SUCCESS")),
    "商品名称": lambda line: line.subject,
    "商户数据包": _fixed(""),
    "手续费": lambda line: yuan(line.fee_fen),
    "费率": _fixed(FEE_RATE),
    "订单金额": lambda line: yuan(_paid(line)),
    "申请退款金额": lambda line: yuan(_refunded(line)),
    "费率备注": _fixed(""),
}
# Every summary column -> its total over the detail lines.
_TOTALS: dict[str, Callable[[list[BillLine]], str]] = {
    "总交易单数": lambda lines: str(len(lines)),
    "应结订单总金额": lambda lines: yuan(sum(_paid(line) for line in lines)),
    "退款总金额": lambda lines: yuan(sum(_refunded(line) for line in lines)),
    "充值券退款总金额": lambda lines: "0.00",
    "手续费总金额": lambda lines: yuan(sum(line.fee_fen for line in lines)),
    "订单总金额": lambda lines: yuan(sum(_paid(line) for line in lines)),
    "申请退款总金额": lambda lines: yuan(sum(_refunded(line) for line in lines)),
}
# The columns of each bill type, as WeChat lists them (pay.weixin.qq.com, 交易账单格式).
_ALL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
).split(",")
_SUCCESS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
).split(",")
_REFUND = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,"
    "退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
).split(",")
_ALL_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".split(",")
_SUCCESS_SUMMARY = "总交易单数,应结订单总金额,手续费总金额,订单总金额".split(",")
# bill_type -> (which lines, detail columns, summary columns)
BILL_TYPES: dict[str, tuple[Callable[[BillLine], bool], list[str], list[str]]] = {
    "ALL": (lambda line: True, _ALL, _ALL_SUMMARY),
    "SUCCESS": (lambda line: line.kind == PAYMENT, _SUCCESS, _SUCCESS_SUMMARY),
    "REFUND": (lambda line: line.kind == REFUND, _REFUND, _ALL_SUMMARY),
}


def create_wechat_bill_blueprint(world: World) -> Blueprint:
    """The /v3/ routes of WeChat Pay's trade bill."""
    bp = Blueprint("wechat_bill", __name__, url_prefix="/v3")

    @bp.get("/bill/tradebill")
    def trade_bill() -> Response:
        return serve(world, "wechat_pay.bill", lambda keys: apply_for_bill(world, keys), busy=NOT_MADE_YET)

    @bp.get("/billdownload/file")
    def download() -> Response:
        return download_bill(world)

    return bp


def apply_for_bill(world: World, keys: WeChatPayKeys) -> tuple[int, dict[str, str]]:
    """GET /v3/bill/tradebill: make the merchant's bill of that day; where to download it and its SHA1."""
    _strict_query(_QUERY)
    day = _bill_date()
    bill_type = request.args.get("bill_type", "ALL")
    if bill_type not in BILL_TYPES:
        raise param_error("/bill_type", "应为ALL、SUCCESS或REFUND", "query")
    tar_type = request.args.get("tar_type")
    if tar_type not in (None, "GZIP"):
        raise param_error("/tar_type", "仅支持GZIP", "query")
    chosen, columns, summary = BILL_TYPES[bill_type]
    lines = [line for line in lines_of_day(world, WECHAT_PAY, keys.mch_id, day) if chosen(line)]
    if not lines:
        raise WeChatPayError(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
    raw = bill_text(lines, columns, summary).encode("utf-8")
    packed = tar_type == "GZIP"
    token = world.bill_downloads.issue(
        BillFile(
            channel=WECHAT_PAY,
            merchant=keys.mch_id,
            content=gzip.compress(raw, mtime=0) if packed else raw,
            media_type="application/octet-stream",
            file_name=f"{keys.mch_id}{bill_type}{day.isoformat()}.csv" + (".gz" if packed else ""),
            expires_at=time.time() + world.config.wechat_bill_url_seconds,
        )
    )
    url = f"{request.root_url.rstrip('/')}/v3/billdownload/file?token={token}" + ("&tartype=gzip" if packed else "")
    return 200, {"download_url": url, "hash_type": "SHA1", "hash_value": hashlib.sha1(raw).hexdigest()}


def download_bill(world: World) -> Response:
    """GET /v3/billdownload/file: the file as made, unsigned; errors are signed JSON."""
    effect = world.faults.take("wechat_pay.bill_download")
    if effect is not None and effect.mode == "down":
        return answer_down(effect)
    if effect is not None and effect.mode == "slow":
        time.sleep(effect.delay_seconds)
    try:
        keys = authenticate(world)
        _strict_query(_DOWNLOAD_QUERY)
        token = request.args.get("token")
        if not token:
            raise param_error("/token", "此字段为必填项", "query")
        found = world.bill_downloads.fetch(token, WECHAT_PAY)
        if found is None or found.merchant != keys.mch_id:
            raise WeChatPayError(400, "INVALID_REQUEST", "下载链接无效或已过期，请重新申请账单")
    except WeChatPayError as error:
        return signed_answer(signing_keys(world), error.status, error.body)
    damaged = effect is not None and effect.mode != "slow"
    return Response(without_last_line(found) if damaged else found.content, content_type=found.media_type)


def without_last_line(file: BillFile) -> bytes:
    """The file as served with its last line lost on the way (gzipped again if it was)."""
    packed = file.file_name.endswith(".gz")
    raw = gzip.decompress(file.content) if packed else file.content
    cut = raw[: raw.rindex(_NEWLINE.encode(), 0, len(raw) - len(_NEWLINE)) + len(_NEWLINE)]
    return gzip.compress(cut, mtime=0) if packed else cut


def bill_text(lines: list[BillLine], columns: list[str], summary: list[str]) -> str:
    """The bill as WeChat writes it: headers plain, every other cell after a backtick, CRLF line ends."""
    rows = [",".join(columns)]
    rows += [",".join("`" + _CELLS[name](line) for name in columns) for line in lines]
    rows.append(",".join(summary))
    rows.append(",".join("`" + _TOTALS[name](lines) for name in summary))
    return _NEWLINE.join(rows) + _NEWLINE


def _bill_date() -> date:
    text = request.args.get("bill_date")
    if text is None:
        raise param_error("/bill_date", "此字段为必填项", "query")
    try:
        return bill_day(text)
    except ValueError as wrong:
        raise param_error("/bill_date", str(wrong), "query") from None


def _strict_query(allowed: tuple[str, ...]) -> None:
    for name in request.args:
        if name not in allowed:
            raise param_error(f"/{name}", "不支持的参数", "query")
        if len(request.args.getlist(name)) > 1:
            raise param_error(f"/{name}", "参数重复", "query")
