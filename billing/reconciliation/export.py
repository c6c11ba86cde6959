"""Runs and discrepancies as CSV the way finance teams open them in Excel: UTF-8 with BOM, Beijing times, yuan."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from billing.bill_lines import BEIJING
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun

BOM = "\ufeff"
RUN_COLUMNS = (
    "run",
    "date",
    "channel",
    "merchant",
    "status",
    "bill payments",
    "bill paid (yuan)",
    "bill refunds",
    "bill refunded (yuan)",
    "fees (yuan)",
    "net settlement (yuan)",
    "ledger payments",
    "ledger paid (yuan)",
    "ledger refunds",
    "ledger refunded (yuan)",
    "discrepancies",
    "at stake (yuan)",
    "unreadable lines",
    "reconciled at",
    "failure",
)
DISCREPANCY_COLUMNS = (
    "discrepancy",
    "run",
    "date",
    "kind",
    "state",
    "out_trade_no",
    "out_refund_no",
    "bill line",
    "ledger (yuan)",
    "bill (yuan)",
    "at stake (yuan)",
    "detail",
    "resolution",
    "refund (yuan)",
    "note",
    "resolved at",
    "approved at",
)
# A cell Excel would read as a formula (CSV injection): shown as text instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def yuan(fen: int | None) -> str:
    """Fen as yuan with two decimals, never through floats: -1 -> "-0.01"."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def beijing(moment: datetime | None) -> str:
    """An instant as Beijing wall time, as a finance team reads it."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def text(value: str | None) -> str:
    """Words someone typed, never run as a formula."""
    value = value or ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def runs_csv(runs: Iterable[ReconciliationRun]) -> Iterator[str]:
    """The runs, one row each, header first."""
    yield from _rows(RUN_COLUMNS, (_run_row(run) for run in runs))


def discrepancies_csv(run: ReconciliationRun, found: Iterable[Discrepancy]) -> Iterator[str]:
    """A run's discrepancies, one row each, header first."""
    yield from _rows(DISCREPANCY_COLUMNS, (_discrepancy_row(run, item) for item in found))


def _rows(header: tuple[str, ...], rows: Iterable[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield BOM + _take(buffer)
    for row in rows:
        writer.writerow(row)
        yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    written = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return written


def _run_row(run: ReconciliationRun) -> list[str]:
    summary: dict[str, Any] = run.summary or {}
    bill, ledger = summary.get("bill", {}), summary.get("ledger", {})
    return [
        run.public_id,
        run.day.isoformat(),
        run.channel,
        run.merchant_id,
        run.status,
        str(bill.get("payments", "")),
        yuan(bill.get("paid_fen")),
        str(bill.get("refunds", "")),
        yuan(bill.get("refunded_fen")),
        yuan(bill.get("fee_fen")),
        yuan(summary.get("net_settlement_fen")),
        str(ledger.get("payments", "")),
        yuan(ledger.get("paid_fen")),
        str(ledger.get("refunds", "")),
        yuan(ledger.get("refunded_fen")),
        str(sum(summary.get("discrepancies", {}).values())) if summary else "",
        yuan(summary.get("at_stake_fen")),
        str(summary.get("bad_lines", "")),
        beijing(run.reconciled_at),
        text(run.failure),
    ]


def _discrepancy_row(run: ReconciliationRun, item: Discrepancy) -> list[str]:
    return [
        item.public_id,
        run.public_id,
        run.day.isoformat(),
        item.kind,
        item.state,
        item.out_trade_no,
        item.out_refund_no or "",
        str(item.bill_line) if item.bill_line is not None else "",
        yuan(item.ledger_fen),
        yuan(item.bill_fen),
        yuan(item.at_stake_fen),
        text(item.detail),
        item.resolution or "",
        yuan(item.refund_fen),
        text(item.note),
        beijing(item.resolved_at),
        beijing(item.approved_at),
    ]
