"""Reading WeChat Pay trade bills: payments and refunds in fen, the summary, and each unreadable line by its number."""

from __future__ import annotations

from datetime import datetime

import pytest

from billing.bill_lines import BEIJING
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import BillSummary
from billing.bill_lines import UnreadableBill
from billing.bill_lines import UnreadableLine
from billing.bill_lines import fee_fen
from billing.bill_lines import fen
from billing.wechat_bill import PaymentLines
from billing.wechat_bill import WeChatBill
from billing.wechat_bill import read_carefully

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
APP, MERCHANT = "wx7c1b5d1e2f3a4b50", "1900000109"


def line(cells: list[str]) -> str:
    return ",".join("`" + cell for cell in cells) + "\r\n"


def paid(at: str, out_trade_no: str, yuan: str, fee: str, subject: str = "示范医院 内科 挂号费") -> str:
    return line(
        [at, APP, MERCHANT, "0", "", "42" + out_trade_no[-8:], out_trade_no, "o-payer", "JSAPI", "SUCCESS"]
        + ["OTHERS", "CNY", yuan, "0.00", "0", "0", "0.00", "0.00", "", "", subject, "", fee, "0.60%", yuan, "0.00", ""]
    )


def refunded(at: str, out_trade_no: str, out_refund_no: str, yuan: str, fee: str) -> str:
    return line(
        [at, APP, MERCHANT, "0", "", "42" + out_trade_no[-8:], out_trade_no, "o-payer", "JSAPI", "REFUND"]
        + ["OTHERS", "CNY", "0.00", "0.00", "50" + out_refund_no[-8:], out_refund_no, yuan, "0.00", "ORIGINAL"]
        + ["SUCCESS", "示范医院 挂号费", "", fee, "0.60%", "0.00", yuan, ""]
    )


def bill(*details: str, summary: list[str] | None = None) -> list[str]:
    totals = summary or ["2", "15.00", "5.00", "0.00", "0.06", "15.00", "5.00"]
    return ["\ufeff" + HEADER + "\r\n", *details, SUMMARY_HEADER + "\r\n", line(totals)]


def test_payments_and_refunds_are_read_in_fen_at_beijing_time_with_the_summary() -> None:
    read = WeChatBill(
        bill(
            paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09", subject="医院,内科 挂号费"),
            refunded("2026-11-23 10:00:00", "ct20261123000001", "rf20261123000009", "5.00", "-0.03"),
        )
    )
    entries = list(read.entries())
    assert entries == [
        BillLine(
            line_no=2,
            kind="payment",
            at=datetime(2026, 11, 23, 9, 15, 2, tzinfo=BEIJING),
            app_id=APP,
            merchant_id=MERCHANT,
            out_trade_no="ct20261123000001",
            channel_trade_no="4223000001",
            out_refund_no=None,
            amount_fen=1500,
            fee_fen=9,
        ),
        BillLine(
            line_no=3,
            kind="refund",
            at=datetime(2026, 11, 23, 10, 0, tzinfo=BEIJING),
            app_id=APP,
            merchant_id=MERCHANT,
            out_trade_no="ct20261123000001",
            channel_trade_no="4223000001",
            out_refund_no="rf20261123000009",
            amount_fen=500,
            fee_fen=-3,
        ),
    ]
    assert read.summary == BillSummary(count=2, paid_fen=1500, refunded_fen=500, fee_fen=6)


def test_a_line_that_cannot_be_read_is_reported_by_its_number_and_the_rest_is_read() -> None:
    good = paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09")
    entries = list(
        WeChatBill(
            bill(
                good.replace("15.00", "15.5", 1),  # one decimal: not how the channel writes yuan
                "`2026-11-23 09:16:00,`too few cells\r\n",
                good.replace("`SUCCESS", "`CLOSED"),
                good.replace("ct20261123000001", "ct 1"),
                good.replace("2026-11-23 09:15:02", "2026-02-30 09:15:02"),
                good,
            )
        ).entries()
    )
    assert entries[:5] == [
        BadLine(2, "amount is not yuan with two decimals"),
        BadLine(3, "2 cells where the header has 27"),
        BadLine(4, "交易状态 'CLOSED' is neither SUCCESS nor REFUND"),
        BadLine(5, "商户订单号 is not an order or merchant number"),
        BadLine(6, "交易时间 is not a time"),
    ]
    assert isinstance(entries[5], BillLine) and entries[5].line_no == 7


def test_columns_are_found_by_name_whatever_their_order() -> None:
    names = HEADER.split(",")
    order = list(reversed(range(len(names))))
    reordered = ",".join(names[i] for i in order) + "\r\n"
    detail = paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09").rstrip("\r\n")[1:].split(",`")
    lines = [
        reordered,
        line([detail[i] for i in order]),
        SUMMARY_HEADER,
        line(["1", "15.00", "0.00", "0", "0.09", "0", "0"]),
    ]
    read = WeChatBill(lines)
    [entry] = read.entries()
    assert isinstance(entry, BillLine) and (entry.out_trade_no, entry.amount_fen) == ("ct20261123000001", 1500)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([], "no detail header"),
        ([HEADER.replace("商户订单号", "订单号")], "the bill has no column 商户订单号"),
        ([HEADER, paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09")], "no summary line"),
    ],
)
def test_a_file_that_is_not_a_whole_bill_is_refused(lines: list[str], reason: str) -> None:
    with pytest.raises(UnreadableBill, match=reason):
        list(WeChatBill(lines).entries())


def test_a_summary_that_cannot_be_read_is_reported() -> None:
    entries = list(WeChatBill(bill(summary=["two", "15.00", "5.00", "0.00", "0.06", "15.00", "5.00"])).entries())
    assert entries == [BadLine(3, "summary: 总交易单数 is not a count")]


@pytest.mark.parametrize(
    ("text", "fen_"),
    [("0.00", 0), ("0.01", 1), ("12.30", 1230), ("-12.30", -1230), ("9999999999999.99", 999999999999999)],
)
def test_yuan_become_fen_exactly(text: str, fen_: int) -> None:
    assert fen(text, "amount") == fen_


@pytest.mark.parametrize("text", ["1", "1.0", "1.005", "1e2", "١.٠٠", " 1.00", "1.00\n", "+1.00", "", "NaN"])
def test_anything_but_yuan_with_two_decimals_is_refused(text: str) -> None:
    with pytest.raises(UnreadableLine):
        fen(text, "amount")


@pytest.mark.parametrize(
    ("text", "fen_"),
    [("0.09", 9), ("0.00499", 0), ("0.00500", 1), ("0.01500", 2), ("-0.00500", -1), ("-0.03", -3), ("1.23456", 123)],
)
def test_fees_with_up_to_five_decimals_round_half_away_from_zero(text: str, fen_: int) -> None:
    assert fee_fen(text) == fen_


@pytest.mark.parametrize("text", ["0.1", "0.000001", "0,09", "-", "0.09 "])
def test_a_fee_that_is_not_yuan_is_refused(text: str) -> None:
    with pytest.raises(UnreadableLine):
        fee_fen(text)


def test_text_before_the_header_and_blank_lines_are_passed_over() -> None:
    lines = bill(paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09"), "\r\n")
    read = WeChatBill(["微信支付账单\r\n", *lines])
    entries = list(read.entries())
    assert entries[0] == BadLine(1, "text before the detail header")
    assert [entry.out_trade_no for entry in entries[1:] if isinstance(entry, BillLine)] == ["ct20261123000001"]
    assert read.summary is not None and read.summary.count == 2


def test_the_summary_is_known_only_once_the_bill_is_read() -> None:
    read = WeChatBill(bill())
    assert read.summary is None
    assert list(read.entries()) == []
    assert read.summary is not None


def test_a_payment_of_nothing_is_read_and_a_negative_one_refused() -> None:
    free = paid("2026-11-23 09:15:02", "ct20261123000001", "0.00", "0.00")
    negative = paid("2026-11-23 09:15:02", "ct20261123000002", "-1.00", "0.00")
    entries = list(WeChatBill(bill(free, negative)).entries())
    assert isinstance(entries[0], BillLine) and entries[0].amount_fen == 0
    assert entries[1] == BadLine(3, "a negative amount")


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (1, "公众账号ID is not an order or merchant number"),
        (2, "商户号 is not an order or merchant number"),
        (5, "微信订单号 is not an order or merchant number"),
        (15, "商户退款单号 is not an order or merchant number"),
        (9, "交易状态 'REFUND-SOMETHING' is neither SUCCESS nor REFUND"),
    ],
)
def test_a_bad_cell_is_named_by_its_column(column: int, reason: str) -> None:
    cells = refunded("2026-11-23 10:00:00", "ct20261123000001", "rf20261123000009", "5.00", "-0.03")
    split = cells.rstrip("\r\n")[1:].split(",`")
    split[column] = "REFUND-SOMETHING-ELSE-ENTIRELY" if column == 9 else "no such number"
    assert list(WeChatBill(bill(line(split))).entries()) == [BadLine(2, reason)]


@pytest.mark.parametrize(("column", "name"), [(1, "应结订单总金额"), (2, "退款总金额")])
def test_a_bad_total_is_named_by_its_column(column: int, name: str) -> None:
    totals = ["2", "15.00", "5.00", "0.00", "0.06", "15.00", "5.00"]
    totals[column] = "15"
    assert list(WeChatBill(bill(summary=totals)).entries()) == [
        BadLine(3, f"summary: {name} is not yuan with two decimals")
    ]


def test_a_cell_with_trailing_space_is_refused_even_at_the_end_of_a_line() -> None:
    names = HEADER.split(",")
    order = list(reversed(range(len(names))))  # 交易时间 last
    detail = paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09").rstrip("\r\n")[1:].split(",`")
    padded = line([detail[i] for i in order]).replace("\r\n", "\t\r\n")
    lines = [
        ",".join(names[i] for i in order),
        padded,
        SUMMARY_HEADER,
        line(["1", "15.00", "0.00", "0", "0.09", "0", "0"]),
    ]
    assert list(WeChatBill(lines).entries()) == [BadLine(2, "交易时间 is not a time")]


GOOD = paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09")


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        paid("2024-02-29 23:59:59", "ct20261123000001", "9999999999999.99", "1.23456"),
        paid("2026-11-23 00:00:00", "A_|*@-z" * 9, "0.00", "-0.00500"),
        refunded("2026-11-23 10:00:00", "ct20261123000001", "rf20261123000009", "5.00", "-0.03"),
        GOOD.replace("15.00", "15.5", 1),
        GOOD.replace("15.00", "-15.00", 1),
        GOOD.replace("15.00", "1,500.00", 1),
        GOOD.replace("0.09", "0.000001"),
        GOOD.replace("0.09", "0,09"),
        GOOD.replace("`SUCCESS", "`CLOSED"),
        GOOD.replace("`SUCCESS", "`SUCCESS,REFUND"),
        GOOD.replace("ct20261123000001", "ct 1"),
        GOOD.replace("ct20261123000001", "ct,1"),
        GOOD.replace("ct20261123000001", "c" * 65),
        GOOD.replace("ct20261123000001", ""),
        GOOD.replace(APP, "wx7c1b5d1e2f3a4b50,`x"),
        GOOD.replace("2026-11-23 09:15:02", "2026-02-30 09:15:02"),
        GOOD.replace("2026-11-23 09:15:02", "2026-11-23 23:59:60"),
        GOOD.replace("2026-11-23 09:15:02", "2026-11-23T09:15:02"),
        GOOD.replace("2026-11-23 09:15:02", "2026-11-23 09:15:02.5"),
        GOOD[1:],
        GOOD.replace("\r\n", "\t\r\n"),
        "`2026-11-23 09:16:00,`too few cells\r\n",
        paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09", subject="医院,内科 挂号费"),
        paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09", subject="医院`内科,`挂号费"),
        paid("2026-11-23 09:15:02", "ct20261123000001", "15.00", "0.09", subject="医院`内科"),
    ],
)
def test_plain_payments_read_at_once_read_as_the_careful_checks_read_them(text: str) -> None:
    columns = {name: index for index, name in enumerate(HEADER.split(","))}
    at_once = PaymentLines(columns).read(7, text.rstrip("\r\n"))
    carefully = read_carefully(7, text.rstrip("\r\n"), columns)
    assert at_once is None or at_once == carefully
    if text == GOOD:
        assert at_once is not None, "a plain payment takes the quick way"


def test_a_layout_naming_a_column_twice_is_read_as_carefully() -> None:
    names = [*HEADER.split(","), "手续费"]
    columns = {name: index for index, name in enumerate(names)}
    text = GOOD.rstrip("\r\n") + ",`0.09"
    assert PaymentLines(columns).read(2, text) is None
    assert read_carefully(2, text, columns) == BadLine(2, "28 cells where the header has 27")


def test_a_time_seen_before_is_the_same_time() -> None:
    lines = PaymentLines({name: index for index, name in enumerate(HEADER.split(","))})
    first, again = lines.read(2, GOOD.rstrip("\r\n")), lines.read(3, GOOD.rstrip("\r\n"))
    assert first is not None and again is not None
    assert again.at == first.at == datetime(2026, 11, 23, 9, 15, 2, tzinfo=BEIJING) and again.at.tzinfo is BEIJING
