"""What our books hold of a chunk of bill lines: their payments and refunds, one query per kind.

On PostgreSQL a chunk's numbers go as one parameter (= ANY): an IN list of thousands of parameters
cost more to build and send than the lookup itself. Order and refund numbers hold no comma (the bill
readers check them), so they travel as one comma-joined text that PostgreSQL splits: sent as an
array, each number was quoted by the driver in Python. SQLite has no arrays and gets IN lists, a
few thousand values at a time. Rows come back as plain tuples through the connection, not the ORM.

The lookups take a Connection, not the Session: the matching runs them on a thread of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

from sqlalchemy import Connection
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import ARRAY

from billing import statuses
from billing.bill_lines import BillLine
from billing.models import Payment
from billing.models import Refund

# The most values one IN list holds (SQLite allows far more parameters; a query this size stays cheap).
IN_LIST = 2000


class Ours(NamedTuple):
    """What our books hold of a chunk's lines."""

    # out_trade_no -> (id, amount_fen, status) of the merchant's payments the lines name.
    payments: dict[str, tuple[int, int, str]]
    # out_refund_no -> the merchant's refund the lines name, with its payment's amount (payment_fen).
    refunds: dict[str, Any]
    # payment id -> its succeeded refunds (id, amount): a refund's fee share depends on those before it.
    refunded_before: dict[int, list[tuple[int, int]]]


def look_up(
    connection: Connection, channel: str, merchant_id: str, payments: list[BillLine], refunds: list[BillLine]
) -> Ours:
    """Our payments and refunds of the merchant named by these payment and refund lines."""
    paid = select(Payment.out_trade_no, Payment.id, Payment.amount_fen, Payment.status).where(
        Payment.channel == channel, Payment.merchant_id == merchant_id
    )
    numbers = [line.out_trade_no for line in payments]
    found = {
        number: (id_, fen, status)
        for number, id_, fen, status in rows_among(connection, paid, Payment.out_trade_no, numbers)
    }
    refunded = (
        select(
            Refund.out_refund_no,
            Refund.id,
            Refund.amount_fen,
            Refund.status,
            Refund.payment_id,
            Payment.amount_fen.label("payment_fen"),
        )
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.channel == channel, Payment.merchant_id == merchant_id)
    )
    refund_numbers = list({line.out_refund_no for line in refunds if line.out_refund_no})
    found_refunds = {
        row.out_refund_no: row for row in rows_among(connection, refunded, Refund.out_refund_no, refund_numbers)
    }
    succeeded = select(Refund.payment_id, Refund.id, Refund.amount_fen).where(Refund.status == statuses.SUCCEEDED)
    earlier: dict[int, list[tuple[int, int]]] = {}
    payment_ids = list({row.payment_id for row in found_refunds.values()})
    for payment_id, refund_id, amount in rows_among(connection, succeeded, Refund.payment_id, payment_ids):
        earlier.setdefault(payment_id, []).append((refund_id, amount))
    return Ours(found, found_refunds, earlier)


def rows_among(
    connection: Connection, query: Any, column: InstrumentedAttribute[Any], values: Sequence[Any]
) -> Iterator[Any]:
    """The query's rows whose column holds one of the values (order or refund numbers, or ids)."""
    if not values:
        return
    if connection.dialect.name != "postgresql":
        for start in range(0, len(values), IN_LIST):
            yield from connection.execute(query.where(column.in_(values[start : start + IN_LIST]))).all()
        return
    if isinstance(values[0], str):
        joined = ",".join(values)
        if joined.count(",") == len(values) - 1:  # else a number holds a comma after all: sent as an array
            numbers = func.string_to_array(bindparam("numbers", joined, String), ",")
            yield from connection.execute(query.where(column == any_(numbers))).all()
            return
    kind = Integer if isinstance(values[0], int) else String
    yield from connection.execute(query.where(column == any_(bindparam("values", list(values), ARRAY(kind))))).all()
