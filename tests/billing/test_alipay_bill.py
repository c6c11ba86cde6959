"""Reading Alipay trade bills: trades and refunds in fen, the summary from both files, bad lines by their number."""

from __future__ import annotations

from datetime import datetime

import pytest

from billing.alipay_bill import AlipayBill
from billing.bill_lines import BEIJING
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import BillSummary
from billing.bill_lines import UnreadableBill

APP = "2021004100000001"
START = "#" + "-" * 41 + "业务明细列表" + "-" * 40
END = "#" + "-" * 41 + "业务明细列表结束" + "-" * 36
HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
OPENING = [
    "#支付宝业务明细查询",
    "#账号：[20887210000000170156]",
    "#起始日期：[2024年01月01日 00:00:00]   终止日期：[...]",
]
SUMMARY_HEADER = (
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
    "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）"
)


def row(trade_no: str, number: str, kind: str, received: str, fee: str, refund_no: str = "", done: str = "") -> str:
    at = done or "2024-01-01 10:00:00"
    cells = [trade_no + "\t", number + "\t", kind + "\t", "挂号费", "2024-01-01 09:59:00", at, "\t", "\t", "\t", "\t"]
    cells += ["2088****1234\t", received, received, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00\t", "0.00"]
    return ",".join([*cells, refund_no + "\t", fee, "0.00", ""])


def footers(trades: int, paid: str, refunds: int, refunded: str) -> list[str]:
    return [
        f"#交易合计：{trades}笔，商家实收共{paid}元，商家优惠共0.00元",
        f"#退款合计：{refunds}笔，商家实收退款共{refunded}元，商家优惠退款共0.00元",
        "#导出时间：[2024年01月02日 06:27:10]",
    ]


def summary(trades: int, refunds: int, received: str, fee: str) -> list[str]:
    total = f"合计,,{trades},{refunds},{received},{received},0.00,0.00,0.00,{fee},0.00,0.00"
    start, end = "#" + "-" * 41 + "业务汇总列表" + "-" * 40, "#" + "-" * 41 + "业务汇总列表结束" + "-" * 36
    return [line + "\r\n" for line in ["#支付宝业务汇总查询", start, SUMMARY_HEADER, total, end]]


def bill(rows: list[str], tail: list[str], totals: list[str]) -> AlipayBill:
    lines = [line + "\r\n" for line in [*OPENING, START, HEADER, *rows, END, *tail]]
    return AlipayBill(lines, app_id=APP, merchant_id=APP, summary_lines=totals)


def read(rows: list[str], tail: list[str], totals: list[str]) -> tuple[list[BillLine | BadLine], BillSummary | None]:
    reader = bill(rows, tail, totals)
    entries = list(reader.entries())
    return entries, reader.summary


def test_trades_and_refunds_read_in_fen_with_the_fee_signed_as_bill_lines_have_it() -> None:
    rows = [
        row("2024010122001", "AT001", "交易", "25.00", "-0.15"),
        row("2024010122001", "AT001", "退款", "-10.00", "0.06", "RF001", "2024-01-01 11:30:05"),
    ]
    entries, totals = read(rows, footers(1, "25.00", 1, "-10.00"), summary(1, 1, "15.00", "-0.09"))
    assert entries == [
        BillLine(
            6, "payment", datetime(2024, 1, 1, 10, tzinfo=BEIJING), APP, APP, "AT001", "2024010122001", None, 2500, 15
        ),
        BillLine(
            7,
            "refund",
            datetime(2024, 1, 1, 11, 30, 5, tzinfo=BEIJING),
            APP,
            APP,
            "AT001",
            "2024010122001",
            "RF001",
            1000,
            -6,
        ),
    ]
    assert totals == BillSummary(count=2, paid_fen=2500, refunded_fen=1000, fee_fen=9)


def test_an_unsigned_fee_takes_its_sign_from_the_line() -> None:
    rows = [row("T1", "AT001", "交易", "25.00", "0.15"), row("T1", "AT001", "退款", "-10.00", "-0.06", "RF001")]
    entries, _ = read(rows, footers(1, "25.00", 1, "-10.00"), summary(1, 1, "15.00", "-0.09"))
    assert [(e.amount_fen, e.fee_fen) for e in entries if isinstance(e, BillLine)] == [(2500, 15), (1000, -6)]


def test_amounts_that_tempt_floats_stay_exact() -> None:
    rows = [row("T1", "AT1", "交易", "0.10", "0.00"), row("T2", "AT2", "交易", "0.20", "0.00")]
    rows += [row("T3", "AT3", "交易", "0.30", "0.00"), row("T4", "AT4", "交易", "1.15", "-0.01")]
    entries, totals = read(rows, footers(4, "1.75", 0, "0.00"), summary(4, 0, "1.75", "-0.01"))
    assert [e.amount_fen for e in entries if isinstance(e, BillLine)] == [10, 20, 30, 115]
    assert totals == BillSummary(count=4, paid_fen=175, refunded_fen=0, fee_fen=1)


def test_padding_comments_and_blank_lines_are_not_lines() -> None:
    padded = row("T1", "AT001", "交易", "25.00", "-0.15").replace("25.00", " 25.00\t ", 2)
    entries, totals = read(
        [padded, "#一行说明", "", row("T2", "AT002", "交易", "1.00", "-0.01")],
        ["", *footers(2, "26.00", 0, "0.00")],
        summary(2, 0, "26.00", "-0.16"),
    )
    assert [(e.line_no, e.out_trade_no, e.amount_fen) for e in entries if isinstance(e, BillLine)] == [
        (6, "AT001", 2500),
        (9, "AT002", 100),
    ]
    assert len(entries) == 2 and totals is not None and totals.count == 2


def test_bad_lines_are_reported_by_number_and_the_rest_is_read() -> None:
    rows = [
        row("T1", "AT1", "交易", "25.0", "-0.15"),
        row("T2", "AT2", "交易", "1.00", "-0.01", done="2024-13-01 10:00:00"),
        row("T3", "AT3", "转账", "1.00", "-0.01"),
        row("T4", "AT4", "退款", "1.00", "0.01", "RF4"),
        row("T5", "AT5", "退款", "-1.00", "0.01", ""),
        row("T6", "AT6", "交易", "1.00", "-0.01") + ",extra",
        row("T7", "AT7", "交易", "0.30", "a lot"),
        row("T8", "AT8", "交易", "2.00", "-0.01"),
    ]
    entries, totals = read(rows, footers(1, "2.00", 0, "0.00"), summary(1, 0, "2.00", "-0.01"))
    bad = [e for e in entries if isinstance(e, BadLine)]
    assert [e.line_no for e in bad] == [6, 7, 8, 9, 10, 11, 12]
    assert "商家实收" in bad[0].reason and "完成时间" in bad[1].reason and "业务类型" in bad[2].reason
    assert "sign" in bad[3].reason and "退款批次号" in bad[4].reason and "cells" in bad[5].reason
    assert "服务费" in bad[6].reason
    assert [e.out_trade_no for e in entries if isinstance(e, BillLine)] == ["AT8"]
    assert totals == BillSummary(count=1, paid_fen=200, refunded_fen=0, fee_fen=1)


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([*OPENING, HEADER, "#交易合计：0笔，商家实收共0.00元"], "no detail list header"),
        ([*OPENING, START, HEADER.replace("商家实收（元）", "实收")], "商家实收"),
        ([*OPENING, START, HEADER, row("T1", "AT1", "交易", "1.00", "-0.01")], "cut short"),
        ([*OPENING, START, HEADER, END, "#导出时间：[2024年01月02日 06:27:10]"], "合计"),
    ],
)
def test_a_file_without_its_markers_header_columns_or_footers_is_unreadable(lines: list[str], why: str) -> None:
    reader = AlipayBill(lines, app_id=APP, merchant_id=APP, summary_lines=summary(0, 0, "0.00", "0.00"))
    with pytest.raises(UnreadableBill, match=why):
        list(reader.entries())


@pytest.mark.parametrize(
    "totals",
    [
        summary(2, 0, "25.00", "-0.15"),  # another count
        summary(1, 0, "24.00", "-0.15"),  # other money
        summary(1, 0, "25.00", "-0.15")[:-2],  # no 合计 line
        [],
    ],
)
def test_a_summary_file_that_disagrees_or_has_no_total_is_unreadable(totals: list[str]) -> None:
    reader = bill([row("T1", "AT1", "交易", "25.00", "-0.15")], footers(1, "25.00", 0, "0.00"), totals)
    with pytest.raises(UnreadableBill):
        list(reader.entries())
