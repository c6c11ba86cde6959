"""Helpers that plant differences in the channels' daily bills (the ledger is left as it is).

* `POST /_sandbox/bills/discrepancies {channel: wechat_pay | alipay, kind, date?, out_trade_no?, amount_fen?}`
  -> 201 `{discrepancy}`: from now on that day's bill of the channel (default: today in Beijing) shows it.
  * `extra_payment`: a payment line for an order the merchant never placed (`out_trade_no` optional,
    generated when absent; `amount_fen` default 100), in the bill of the channel's first merchant
    (WeChat Pay: the first configured mch_id; Alipay: the first app's seller).
  * `missing_payment`: the order's payment line is left out.
  * `amount_differs`: the order's payment line shows `amount_fen` (and the fee on that amount).
  * `missing_refund`: the order's refund lines of that day are left out.
  * `fee`: the order's payment line shows a fee of `amount_fen` (0 allowed).
  Every kind but extra_payment names an order whose payment (missing_refund: a refund) is in that day's
  ledger for the channel, else 404 `sandbox.not_found`; extra_payment refuses the number of an order the
  channel knows (409 `sandbox.conflict`). The same kind for the same order and day again replaces it.
* `GET /_sandbox/bills/discrepancies` -> `{discrepancies: [...]}`, oldest first.
* `DELETE /_sandbox/bills/discrepancies` -> `{discrepancies: []}`: every bill says what the ledger says again.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify

from sandbox import alipay_trade
from sandbox import wechat_pay
from sandbox.bill_discrepancies import AMOUNT_DIFFERS
from sandbox.bill_discrepancies import EXTRA_PAYMENT
from sandbox.bill_discrepancies import FEE
from sandbox.bill_discrepancies import KINDS
from sandbox.bill_discrepancies import MISSING_PAYMENT
from sandbox.bill_discrepancies import MISSING_REFUND
from sandbox.bill_discrepancies import Discrepancy
from sandbox.bill_discrepancies import ExtraPayment
from sandbox.bills import bill_day
from sandbox.helper_blueprints import helper_blueprint
from sandbox.helper_input import HelperError
from sandbox.helper_input import json_object
from sandbox.helper_input import required_choice
from sandbox.helper_input import text
from sandbox.helper_input import whole_number
from sandbox.outbox import BEIJING
from sandbox.pay_ledger import PAYMENT
from sandbox.pay_ledger import REFUND
from sandbox.payments import ALIPAY
from sandbox.payments import CHANNELS
from sandbox.payments import WECHAT_PAY
from sandbox.world import World

NOT_FOUND = "sandbox.not_found"
CONFLICT = "sandbox.conflict"
_STATUSES = {NOT_FOUND: 404, CONFLICT: 409}
_FIELDS = ("channel", "kind", "date", "out_trade_no", "amount_fen")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_FEN = 10**10  # 100 million yuan, the most either channel takes in one payment
EXTRA_AMOUNT_FEN = 100
EXTRA_SUBJECT = "商户未下单的交易"


@dataclass(frozen=True)
class KindRule:
    """What a kind of discrepancy needs: the line it names (None: none), and its amount_fen."""

    line: str | None  # PAYMENT, REFUND or None
    amount: str  # "required", "optional" or "none"
    lowest_fen: int = 1


RULES: dict[str, KindRule] = {
    EXTRA_PAYMENT: KindRule(None, "optional"),
    MISSING_PAYMENT: KindRule(PAYMENT, "none"),
    AMOUNT_DIFFERS: KindRule(PAYMENT, "required"),
    MISSING_REFUND: KindRule(REFUND, "none"),
    FEE: KindRule(PAYMENT, "required", lowest_fen=0),
}
# channel -> the format of its out_trade_no
OUT_TRADE_NOS: dict[str, re.Pattern[str]] = {
    WECHAT_PAY: wechat_pay.OUT_TRADE_NO,
    ALIPAY: alipay_trade.OUT_TRADE_NO,
}


def create_bill_helpers_blueprint(world: World) -> Blueprint:
    """The bill helpers under /_sandbox/."""
    bp = helper_blueprint("bill_helpers", __name__, _STATUSES)

    @bp.post("/bills/discrepancies")
    def plant() -> tuple[Response, int]:
        discrepancy = read_discrepancy(world, json_object(_FIELDS))
        world.bill_discrepancies.plant(discrepancy)
        return jsonify({"discrepancy": discrepancy.describe()}), 201

    @bp.get("/bills/discrepancies")
    def planted() -> Response:
        return jsonify({"discrepancies": [d.describe() for d in world.bill_discrepancies.planted()]})

    @bp.delete("/bills/discrepancies")
    def clear() -> Response:
        world.bill_discrepancies.clear()
        return jsonify({"discrepancies": []})

    return bp


def read_discrepancy(world: World, body: dict[str, Any]) -> Discrepancy:
    """The discrepancy a helper body asks for, checked against that day's ledger."""
    channel = required_choice(body, "channel", CHANNELS)
    kind = required_choice(body, "kind", KINDS)
    rule = RULES[kind]
    day = _day(body)
    out_trade_no = text(body, "out_trade_no", pattern=OUT_TRADE_NOS[channel])
    amount = whole_number(body, "amount_fen", low=rule.lowest_fen, high=MAX_FEN)
    if rule.amount == "none" and amount is not None:
        raise HelperError(f"{kind} takes no amount_fen", {"amount_fen": f"not a field of {kind}"})
    if rule.amount == "required" and amount is None:
        raise HelperError(f"{kind} needs amount_fen", {"amount_fen": "required integer"})
    if rule.line is None:
        return _extra_payment(world, channel, day, out_trade_no, EXTRA_AMOUNT_FEN if amount is None else amount)
    if out_trade_no is None:
        raise HelperError(f"{kind} names an order", {"out_trade_no": "required string"})
    named = [
        entry
        for entry in world.payments.ledger.entries(day, channel)
        if entry.out_trade_no == out_trade_no and entry.kind == rule.line
    ]
    if not named:
        raise HelperError(
            f"no {rule.line} of order {out_trade_no} on {day.isoformat()} in the {channel} ledger",
            {"out_trade_no": f"no {rule.line} on that day"},
            NOT_FOUND,
        )
    if kind == AMOUNT_DIFFERS and amount == named[0].amount_fen:
        raise HelperError("amount_fen is what the ledger says", {"amount_fen": "must differ from the payment"})
    return Discrepancy(channel, kind, day, named[0].merchant, out_trade_no, amount, time.time())


def _extra_payment(world: World, channel: str, day: date, out_trade_no: str | None, amount: int) -> Discrepancy:
    number = out_trade_no or "SBX" + secrets.token_hex(8).upper()
    if world.payments.find_by_number(number, channel):
        raise HelperError(
            f"the merchant did place order {number}", {"out_trade_no": "an order the channel knows"}, CONFLICT
        )
    merchant, app_id = _FIRST_MERCHANTS[channel](world)
    now = time.time()
    # The line belongs to that day: now for today, noon for a day gone by.
    at = (
        now
        if day == datetime.now(BEIJING).date()
        else datetime(day.year, day.month, day.day, 12, tzinfo=BEIJING).timestamp()
    )
    extra = ExtraPayment(
        trade_no=_TRADE_NUMBERS[channel](day), app_id=app_id, payer=_PAYERS[channel](), subject=EXTRA_SUBJECT, at=at
    )
    return Discrepancy(channel, EXTRA_PAYMENT, day, merchant, number, amount, now, extra)


def _day(body: dict[str, Any]) -> date:
    written = text(body, "date", pattern=_ISO_DATE)
    if written is None:
        return datetime.now(BEIJING).date()
    try:
        return bill_day(written)
    except ValueError:
        raise HelperError("date is not a bill date", {"date": "a calendar day YYYY-MM-DD, not after today"}) from None


def _digits(count: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(count))


# channel -> (merchant, app_id) an extra payment is billed to: the first configured merchant or app
_FIRST_MERCHANTS: dict[str, Callable[[World], tuple[str, str]]] = {
    WECHAT_PAY: lambda world: (
        world.config.wechat_pay_merchants[0].mch_id,
        world.config.wechat_pay_merchants[0].app_ids[0],
    ),
    ALIPAY: lambda world: (world.config.alipay_apps[0].seller_id, world.config.alipay_apps[0].app_id),
}
# channel -> a trade number in its format, and a payer who never logged in anywhere
_TRADE_NUMBERS: dict[str, Callable[[date], str]] = {
    WECHAT_PAY: lambda day: "4200" + _digits(6) + day.strftime("%Y%m%d") + _digits(10),
    ALIPAY: lambda day: day.strftime("%Y%m%d") + "22001" + _digits(15),
}
_PAYERS: dict[str, Callable[[], str]] = {
    WECHAT_PAY: lambda: "o" + secrets.token_urlsafe(21)[:27],
    ALIPAY: lambda: "2088" + _digits(12),
}
