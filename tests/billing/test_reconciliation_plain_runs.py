"""Plain payment lines passed in bulk find exactly what matching each line finds, whatever the bill holds.

Seeded bills with every kind of line (differences, repeats near and far, refunds, each kind of
unreadable line, blank lines, a byte-order mark, CRLF and LF, text before the header, lines after
the summary, a last line without its line end), reconciled both ways against the same books.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bills import read_bill
from billing.fake_bill import COLUMNS
from billing.fake_bill import SUMMARY_COLUMNS
from billing.gateway import DayBill
from billing.models import Payment
from billing.models import Refund
from billing.reconciliation.matching import Matching
from billing.reconciliation.matching import payment_fee
from billing.reconciliation.runs import Reconciler
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import carry_out
from billing.wechat_blocks import PlainRun
from billing.wechat_blocks import WeChatBlocks
from database import transaction
from tests.billing.world import MERCHANT

DAY = date(2026, 11, 18)
DAY_STARTS = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # 00:00 in Beijing
NOW = datetime(2026, 11, 19, 3, 0, tzinfo=UTC)
APP, OTHER_MERCHANT = "wx7c1b5d1e2f3a4b50", "1900000200"
# Enough lines for several of the reader's blocks, so repeats and odd lines fall across them.
PAYMENTS = 3000


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def write_books(session: Session, rng: random.Random) -> list[dict[str, Any]]:
    """The merchant's payments of the day (most paid, some never), another merchant's, the days around."""
    rows = []
    for index in range(PAYMENTS):
        status = rng.choices(["paid", "refunded", "partially_refunded", "created"], [90, 3, 3, 4])[0]
        merchant = OTHER_MERCHANT if index % 97 == 5 else MERCHANT
        at = DAY_STARTS + timedelta(seconds=rng.randrange(-3600, 86_400 + 3600))  # some the day before or after
        amount = rng.choice([1, 83, 84, 250, 2500, 100_000, rng.randrange(1, 60_000)])
        refunded = {"refunded": amount, "partially_refunded": amount // 2}.get(status, 0)
        rows.append(
            {
                "public_id": f"py{index:020x}",
                "out_trade_no": f"eq{index:08d}",
                "purpose": "test",
                "purpose_ref": f"t{index}",
                "city_code": "330100",
                "service_code": "outpatient",
                "channel": "wechat",
                "app_id": APP,
                "merchant_id": merchant,
                "gateway": "wechat_pay",
                "amount_fen": amount,
                "currency": "CNY",
                "description": "挂号费",
                "status": status,
                "channel_trade_no": f"42{index:026d}",
                "refunded_fen": refunded,
                "expires_at": at + timedelta(minutes=10),
                "paid_at": None if status == "created" else at,
                "created_at": at,
                "updated_at": at,
            }
        )
    with transaction(session):
        session.execute(insert(Payment.__table__), rows)
        ids = {number: id_ for number, id_ in session.execute(select(Payment.out_trade_no, Payment.id))}
        refunds = [
            {
                "out_refund_no": f"rf{row['out_trade_no']}",
                "payment_id": ids[row["out_trade_no"]],
                "amount_fen": row["refunded_fen"],
                "reason": "test",
                "requested_by": "test",
                "status": "succeeded",
                "created_at": row["paid_at"],
                "updated_at": row["paid_at"],
                "settled_at": row["paid_at"],
            }
            for row in rows
            if row["refunded_fen"]
        ]
        if refunds:
            session.execute(insert(Refund.__table__), refunds)
    return rows


def cells(row: dict[str, Any], **changes: str) -> dict[str, str]:
    at = (row["paid_at"] or row["created_at"]).astimezone(UTC) + timedelta(hours=8)
    amount = row["amount_fen"]
    line = {
        "交易时间": at.strftime("%Y-%m-%d %H:%M:%S"),
        "公众账号ID": APP,
        "商户号": row["merchant_id"],
        "微信订单号": row["channel_trade_no"],
        "商户订单号": row["out_trade_no"],
        "交易状态": "SUCCESS",
        "应结订单金额": yuan(amount),
        "商户退款单号": "0",
        "退款金额": "0.00",
        "商品名称": "挂号费",
        "手续费": yuan(payment_fee(amount, 60)),
    }
    return {**line, **changes}


def written(line: dict[str, str], end: str) -> str:
    names = COLUMNS.split(",")
    return ",".join("`" + line.get(name, "") for name in names) + end


def write_bill(path: Path, rows: list[dict[str, Any]], rng: random.Random) -> None:
    """The day's bill of those books, with every kind of difference and line a bill may hold."""
    end = lambda: rng.choice(["\r\n", "\n"])  # noqa: E731 - one line end or the other, line by line
    lines: list[str] = []
    for row in rows:
        draw = rng.random()
        if draw < 0.05:
            continue  # left out
        plain = written(cells(row), end())
        if draw < 0.08:
            plain = written(cells(row, 应结订单金额=yuan(row["amount_fen"] + 1)), end())
        elif draw < 0.10:
            plain = written(cells(row, 手续费=yuan(payment_fee(row["amount_fen"], 60) + 1)), end())
        elif draw < 0.12:  # the same fee and amount written otherwise
            fee = payment_fee(row["amount_fen"], 60)
            plain = written(cells(row, 手续费=yuan(fee) + "000", 应结订单金额="0" + yuan(row["amount_fen"])), end())
        elif draw < 0.13:
            plain = written(cells(row, 手续费="-" + yuan(payment_fee(row["amount_fen"], 60))), end())
        elif draw < 0.14:
            plain = written(cells(row, 商品名称="医院`内科"), end())  # a backtick: read cell by cell, still a payment
        elif draw < 0.15:
            plain = written(cells(row, 商品名称="内科\r挂号"), end())  # a lone carriage return ends a line
        elif draw < 0.16:
            plain = written(cells(row), "\r\r\n")
        lines.append(plain)
        if row["refunded_fen"] and rng.random() < 0.8:
            refund = cells(
                row,
                交易状态="REFUND",
                商户退款单号=f"rf{row['out_trade_no']}",
                退款金额=yuan(row["refunded_fen"]),
                手续费="-" + yuan(rng.choice([0, 1, 5])),
            )
            lines.append(written(refund, end()))
        if rng.random() < 0.03:  # the same line again, next to it or far from it
            lines.insert(rng.choice([len(lines), rng.randrange(len(lines))]), plain)
        if rng.random() < 0.02:  # a second line for the payment, stated otherwise
            lines.append(written(cells(row, 应结订单金额=yuan(row["amount_fen"] + 7)), end()))
    strangers = [
        cells(rows[0], 商户订单号="stranger00001"),
        cells(rows[1], 交易状态="REFUND", 商户退款单号="rfstranger", 退款金额="1.00", 手续费="0.00"),
        cells(rows[2], 交易时间="2026-13-18 10:00:00"),
        cells(rows[3], 交易时间="2026-02-30 10:00:00"),
        cells(rows[4], 交易时间="2026-11-18 24:00:00"),
        cells(rows[10], 交易时间="2026-11-18 10:00:60"),
        cells(rows[11], 交易时间="2028-02-29 10:00:00"),
        cells(rows[12], 交易时间="2100-02-29 10:00:00"),
        cells(rows[5], 应结订单金额="1.5"),
        cells(rows[6], 应结订单金额="-1.00"),
        cells(rows[7], 交易状态="CLOSED"),
        cells(rows[8], 商户订单号="ab#c"),
        cells(rows[9], 手续费="0.001234"),
    ]
    for stranger in strangers:
        lines.insert(rng.randrange(len(lines)), written(stranger, end()))
    for odd in ["\r\n", "\n", "`too,`few,`cells\r\n", "no backtick at all\n", " \r\n"]:
        lines.insert(rng.randrange(len(lines)), odd)
    summary = ",".join(["`1", "`1.00", "`0.00", "`0.00", "`0.01", "`1.00", "`0.00"])
    after = [written(cells(row), end()) for row in rows[:3]]
    head = ["\ufeff" if rng.random() < 0.5 else "", "微信支付账单 text before the header\r\n", COLUMNS + end()]
    tail = [SUMMARY_COLUMNS + end(), summary + end(), *after]
    text = "".join(head + lines + tail)
    path.write_text(text.rstrip("\r\n") if rng.random() < 0.5 else text, encoding="utf-8", newline="")


def read_both(path: Path) -> tuple[list[BillLine | BadLine], list[BillLine | BadLine]]:
    def opened() -> Any:
        return read_bill(DayBill("wechat", MERCHANT, DAY, path, "0" * 40))

    with opened() as reader:
        one_by_one = list(reader.entries())
    with opened() as reader:
        assert isinstance(reader, WeChatBlocks)
        in_runs = [line for item in reader.runs() for line in lines_of(item)]
    return one_by_one, in_runs


def lines_of(item: BillLine | BadLine | PlainRun) -> Iterator[BillLine | BadLine]:
    if isinstance(item, PlainRun):
        yield from (item.line(index) for index in range(len(item)))
    else:
        yield item


def matched(session: Session, path: Path, *, in_runs: bool) -> tuple[Matching, dict[str, Any]]:
    session.rollback()
    matching = Matching(session, "wechat", MERCHANT, DAY, now=NOW)
    with read_bill(DayBill("wechat", MERCHANT, DAY, path, "0" * 40)) as reader:
        assert isinstance(reader, WeChatBlocks)
        if in_runs:
            matching.feed_runs(reader.runs())
        else:
            matching.feed(reader.entries())
        summary = matching.finish(reader.summary)
    session.rollback()
    return matching, summary


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_block_reader_reads_every_line_as_the_line_reader_does(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rows = [
        {
            "out_trade_no": f"eq{index:08d}",
            "merchant_id": MERCHANT,
            "channel_trade_no": f"42{index:026d}",
            "amount_fen": rng.randrange(1, 90_000),
            "refunded_fen": rng.choice([0] * 9 + [100]),
            "paid_at": DAY_STARTS + timedelta(seconds=rng.randrange(86_400)),
            "created_at": DAY_STARTS,
        }
        for index in range(PAYMENTS)
    ]
    write_bill(tmp_path / "bill.csv", rows, rng)
    one_by_one, in_runs = read_both(tmp_path / "bill.csv")
    assert in_runs == one_by_one
    assert any(isinstance(line, BadLine) for line in one_by_one)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plain_lines_passed_in_bulk_find_what_matching_each_line_finds(
    session: Session, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    rows = write_books(session, rng)
    write_bill(tmp_path / "bill.csv", rows, rng)
    one_by_one, one_by_one_summary = matched(session, tmp_path / "bill.csv", in_runs=False)
    in_runs, in_runs_summary = matched(session, tmp_path / "bill.csv", in_runs=True)
    assert in_runs.found == one_by_one.found
    assert in_runs_summary == one_by_one_summary
    assert in_runs.tally.bad_lines == one_by_one.tally.bad_lines
    # Every kind of difference was there to be found, and most lines passed in bulk.
    assert {item.kind for item in one_by_one.found} >= {
        "missing_in_ledger",
        "missing_in_bill",
        "amount_mismatch",
        "status_mismatch",
        "unexpected_fee",
    }
    assert in_runs.passed_lines > PAYMENTS * 0.6


class Reconciled(logging.Handler):
    """The reconciliation log's records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def reconciled() -> Iterator[Reconciled]:
    logger = logging.getLogger("citytiles.reconciliation")
    handler, level = Reconciled(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_wechat_run_passes_its_plain_lines_in_bulk(session: Session, tmp_path: Path, reconciled: Reconciled) -> None:
    rng = random.Random(7)
    rows = write_books(session, rng)
    write_bill(tmp_path / "bill.csv", rows, rng)
    _, one_by_one_summary = matched(session, tmp_path / "bill.csv", in_runs=False)
    session.rollback()

    class Prepared:
        channel, merchant_id = "wechat", MERCHANT

        def bill(self, day: date, folder: Path) -> DayBill:
            return DayBill("wechat", MERCHANT, day, tmp_path / "bill.csv", "1" * 40)

    reconciler = Reconciler(
        gateway_for=lambda channel, merchant: Prepared(),  # type: ignore[arg-type,return-value]
        merchants=lambda: [("wechat", MERCHANT)],
        clock=lambda: NOW,
    )
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "test", NOW)
    done = carry_out(session, reconciler, run.public_id)
    assert done is not None and done.summary == one_by_one_summary
    [record] = [record for record in reconciled.records if record.getMessage() == "a bill was reconciled"]
    assert record.passed_in_bulk > PAYMENTS * 0.6  # type: ignore[attr-defined]
