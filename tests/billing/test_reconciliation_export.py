"""CSV for finance teams' Excel: UTF-8 with BOM, CRLF, Beijing times, yuan with two decimals, no formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from datetime import date
from datetime import datetime

import pytest

from billing.reconciliation.export import DISCREPANCY_COLUMNS
from billing.reconciliation.export import RUN_COLUMNS
from billing.reconciliation.export import beijing
from billing.reconciliation.export import discrepancies_csv
from billing.reconciliation.export import runs_csv
from billing.reconciliation.export import text
from billing.reconciliation.export import yuan
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun

SUMMARY = {
    "bill": {"payments": 4, "paid_fen": 880000, "refunds": 1, "refunded_fen": 1000, "net_fen": 879000, "fee_fen": 5274},
    "ledger": {"payments": 3, "paid_fen": 870000, "refunds": 2, "refunded_fen": 1500, "net_fen": 868500},
    "net_settlement_fen": 873726,
    "discrepancies": {"missing_in_ledger": 1, "amount_mismatch": 2, "unexpected_fee": 0},
    "at_stake_fen": 10501,
    "bad_lines": 7,
}


def a_run(**changes: object) -> ReconciliationRun:
    run = ReconciliationRun(
        public_id="rc0123456789abcdef0123",
        channel="wechat",
        merchant_id="1900000109",
        day=date(2026, 11, 18),
        status="reconciled",
        failure=None,
        summary=SUMMARY,
        reconciled_at=datetime(2026, 11, 19, 2, 5, 9, tzinfo=UTC),
    )
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def read(chunks: list[str]) -> list[list[str]]:
    whole = "".join(chunks)
    assert whole.startswith("\ufeff") and whole.count("\ufeff") == 1
    assert whole.endswith("\r\n") and "\n" not in whole.replace("\r\n", "")
    return list(csv.reader(io.StringIO(whole[1:], newline="")))


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "0.00"), (5, "0.05"), (10, "0.10"), (99, "0.99"), (100, "1.00"), (123456, "1234.56"), (-1, "-0.01"),
     (-123456, "-1234.56"), (None, "")],
)  # fmt: skip
def test_fen_are_shown_as_yuan_with_two_decimals(fen: int | None, shown: str) -> None:
    assert yuan(fen) == shown


def test_times_are_beijing_wall_time() -> None:
    assert beijing(datetime(2026, 11, 18, 16, 30, 5, tzinfo=UTC)) == "2026-11-19 00:30:05"
    assert beijing(None) == ""


@pytest.mark.parametrize("typed", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_typed_words_are_never_a_formula(typed: str) -> None:
    assert text(typed) == "'" + typed


@pytest.mark.parametrize(("typed", "shown"), [("fine", "fine"), ("a=b", "a=b"), ("", ""), (None, "")])
def test_other_words_are_as_typed(typed: str | None, shown: str) -> None:
    assert text(typed) == shown


def test_a_run_is_one_row_under_its_header() -> None:
    header, row = read(list(runs_csv([a_run()])))
    assert tuple(header) == RUN_COLUMNS
    assert row == [
        "rc0123456789abcdef0123",
        "2026-11-18",
        "wechat",
        "1900000109",
        "reconciled",
        "4",
        "8800.00",
        "1",
        "10.00",
        "52.74",
        "8737.26",
        "3",
        "8700.00",
        "2",
        "15.00",
        "3",
        "105.01",
        "7",
        "2026-11-19 10:05:09",
        "",
    ]


def test_a_run_not_reconciled_has_blank_figures_and_its_reason() -> None:
    header, row = read(list(runs_csv([a_run(status="failed", summary=None, reconciled_at=None, failure="-hash")])))
    assert row == ["rc0123456789abcdef0123", "2026-11-18", "wechat", "1900000109", "failed", *[""] * 14, "'-hash"]
    assert read(list(runs_csv([]))) == [list(RUN_COLUMNS)]


def test_a_discrepancy_is_one_row_with_its_review() -> None:
    found = Discrepancy(
        public_id="dc0123456789abcdef0123",
        kind="amount_mismatch",
        state="resolved",
        out_trade_no="ct0001",
        out_refund_no="rf0001",
        bill_line=12,
        ledger_fen=-2500,
        bill_fen=-2600,
        at_stake_fen=100,
        detail="the bill's refund is not ours",
        resolution="refunded",
        refund_fen=100,
        note="=cmd",
        resolved_at=datetime(2026, 11, 19, 3, 0, tzinfo=UTC),
        approved_at=datetime(2026, 11, 19, 4, 0, 1, tzinfo=UTC),
    )
    header, row = read(list(discrepancies_csv(a_run(), [found])))
    assert tuple(header) == DISCREPANCY_COLUMNS
    assert row == [
        "dc0123456789abcdef0123",
        "rc0123456789abcdef0123",
        "2026-11-18",
        "amount_mismatch",
        "resolved",
        "ct0001",
        "rf0001",
        "12",
        "-25.00",
        "-26.00",
        "1.00",
        "the bill's refund is not ours",
        "refunded",
        "1.00",
        "'=cmd",
        "2026-11-19 11:00:00",
        "2026-11-19 12:00:01",
    ]
    unreviewed = Discrepancy(
        public_id="dc1",
        kind="missing_in_bill",
        state="open",
        out_trade_no="ct2",
        out_refund_no=None,
        bill_line=None,
        ledger_fen=0,
        bill_fen=0,
        at_stake_fen=0,
        detail="x",
        resolution=None,
        refund_fen=None,
        note=None,
        resolved_at=None,
        approved_at=None,
    )
    _, row = read(list(discrepancies_csv(a_run(), [unreviewed])))
    assert row[6:8] == ["", ""] and row[12:] == ["", "", "", "", ""]
