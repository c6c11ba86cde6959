"""Matching one merchant's daily bill against our payments and refunds, a chunk of lines at a time.

The bill is read once, as a stream: each chunk of lines is looked up in one query per kind, and
what was seen is kept as ids, never as lines, so a bill of a million lines needs little memory.
After the stream, what our books hold for the day and the bill left out is found by its id.

Amounts are signed as money moves through the channel (a payment in positive, a refund out
negative), so a run balances to the fen: the bill's flow less our books' flow is the sum of the
flow discrepancies' bill_fen less ledger_fen.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from functools import partial
from itertools import filterfalse
from itertools import islice
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import Connection
from sqlalchemy import String
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.bill_lines import BEIJING
from billing.bill_lines import PAYMENT
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import BillSummary
from billing.models import Payment
from billing.models import Refund
from billing.reconciliation import models as kinds
from billing.reconciliation.books import Ours
from billing.reconciliation.books import look_up
from billing.reconciliation.books import rows_among
from billing.reconciliation.expected import ExpectedPayments
from billing.wechat_blocks import PlainRun

# Lines looked up together: bigger chunks mean fewer round trips; memory holds one chunk's lines.
CHUNK = 10_000
# Ids per row when the day's payments are listed to find those the bill left out.
ID_BLOCK = 1 << 16
# Slices of the day its paid payments are read in by feed_runs: a million a day make a few megabytes of
# text a slice; each slice is a round trip.
DAY_SLICES = 8
# The first unreadable lines a run keeps, with their numbers; the count is kept whatever it is.
BAD_LINES_KEPT = 100
# Statuses of a payment the channel took money for.
WAS_PAID = (statuses.PAID, statuses.PARTIALLY_REFUNDED, statuses.REFUNDED)
PENDING_REFUND = (statuses.REQUESTED, statuses.PROCESSING)
# Both channels' standard rate for small merchants: 0.60% of each payment, rounded half up to the fen.
STANDARD_FEE_PER_TEN_THOUSAND = 60

# purpose -> which of these paid payments (id, purpose_ref) were not fulfilled (e.g. no confirmed appointment).
FulfilmentChecks = Mapping[str, Callable[[Session, list[tuple[int, str]]], set[int]]]


@dataclass(frozen=True)
class Found:
    """A difference, before it is stored as a Discrepancy."""

    kind: str
    key: str
    out_trade_no: str
    ledger_fen: int
    bill_fen: int
    at_stake_fen: int
    detail: str
    payment_id: int | None = None
    out_refund_no: str | None = None
    bill_line: int | None = None
    bill_record: dict[str, Any] | None = None


@dataclass
class Side:
    """Counts and totals of one side of a run."""

    payments: int = 0
    paid_fen: int = 0
    refunds: int = 0
    refunded_fen: int = 0

    def add(self, fen: int) -> None:
        """Count a signed movement: a payment in (positive) or a refund out (negative)."""
        if fen >= 0:
            self.payments += 1
            self.paid_fen += fen
        else:
            self.refunds += 1
            self.refunded_fen -= fen

    @property
    def net_fen(self) -> int:
        """What moved in, less what went back."""
        return self.paid_fen - self.refunded_fen


@dataclass
class Tally:
    """What a run counted on the way: both sides, fees, and the lines it could not read."""

    bill: Side = field(default_factory=Side)
    ledger: Side = field(default_factory=Side)
    fee_fen: int = 0
    expected_fee_fen: int = 0
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    bad_line_count: int = 0

    def summary(self, found: list[Found], bill_says: BillSummary | None) -> dict[str, Any]:
        """The run's summary: counts and totals per side, fees, net settlement and the differences."""
        flow = sum(item.bill_fen - item.ledger_fen for item in found if item.kind in kinds.FLOW_KINDS)
        fee_difference = sum(item.bill_fen - item.ledger_fen for item in found if item.kind == kinds.UNEXPECTED_FEE)
        return {
            "bill": {**asdict(self.bill), "net_fen": self.bill.net_fen, "fee_fen": self.fee_fen},
            "ledger": {**asdict(self.ledger), "net_fen": self.ledger.net_fen},
            "expected_fee_fen": self.expected_fee_fen,
            # What the channel pays out for the day: the bill's flow less its fees.
            "net_settlement_fen": self.bill.net_fen - self.fee_fen,
            "flow_difference_fen": flow,
            "fee_difference_fen": fee_difference,
            "balances": flow == self.bill.net_fen - self.ledger.net_fen
            and fee_difference == self.fee_fen - self.expected_fee_fen,
            "discrepancies": {kind: sum(1 for item in found if item.kind == kind) for kind in kinds.KINDS},
            "at_stake_fen": sum(item.at_stake_fen for item in found),
            "bad_lines": self.bad_line_count,
            "bill_says": asdict(bill_says) if bill_says is not None else None,
        }


def payment_fee(amount_fen: int, per_ten_thousand: int) -> int:
    """The channel's fee on a payment, rounded half up to the fen, in integers."""
    return (amount_fen * per_ten_thousand * 2 + 10_000) // 20_000


def refund_fee(payment_fen: int, before_fen: int, refund_fen: int, per_ten_thousand: int) -> int:
    """The part of the payment's fee a refund gives back (negative): its share, less what earlier refunds got."""
    fee = payment_fee(payment_fen, per_ten_thousand)

    def share(refunded: int) -> int:
        return (2 * fee * refunded + payment_fen) // (2 * payment_fen)

    return -(share(before_fen + refund_fen) - share(before_fen))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing calendar day as the instants it starts and ends at."""
    start = datetime.combine(day, time(), BEIJING)
    return start, start + timedelta(days=1)


class Matching:
    """One merchant's bill for one day, matched against our books; feed() the lines, then finish()."""

    def __init__(
        self,
        session: Session,
        channel: str,
        merchant_id: str,
        day: date,
        *,
        fee_per_ten_thousand: int = STANDARD_FEE_PER_TEN_THOUSAND,
        unfulfilled: frozenset[int] = frozenset(),
        now: datetime,
    ) -> None:
        self.session, self.channel, self.merchant_id, self.day = session, channel, merchant_id, day
        self.rate, self.unfulfilled, self.now = fee_per_ten_thousand, unfulfilled, now
        self.tally = Tally()
        self.found: list[Found] = []
        self._found_keys: dict[str, int] = {}
        # Ids of our payments and refunds the bill named: what is left of the day's is missing in the bill.
        self._seen_payments: set[int] = set()
        self._seen_refunds: set[int] = set()
        # With feed_runs: the day's payments as the bill should state them, and the numbers of the lines
        # whose payment a plain line may have passed before (a second line for one payment).
        self._expected: ExpectedPayments | None = None
        self._maybe_passed: set[int] = set()
        # How many plain lines passed in bulk, once finished.
        self.passed_lines = 0

    def feed(self, entries: Iterable[BillLine | BadLine]) -> None:
        """Match every line; unreadable ones are counted with their numbers and the rest goes on."""
        stream = iter(entries)
        connection = self.session.connection()
        # Each chunk is looked up on a thread of its own, which waits for the database without holding
        # the GIL, while the next chunk is read from the bill: the reading hides most of the waiting.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation-lookups") as lookups:
            before: tuple[list[BillLine], list[BillLine], Future[tuple[Ours, list[int]]]] | None = None
            while chunk := list(islice(stream, CHUNK)):
                payments, refunds = self._by_kind(chunk)
                ours = lookups.submit(self._look_up, connection, payments, refunds)
                if before is not None:
                    self._match(*before)
                before = (payments, refunds, ours)
            if before is not None:
                self._match(*before)

    def feed_runs(self, items: Iterable[BillLine | BadLine | PlainRun]) -> None:
        """As feed(), for a reader that hands plain payment lines over in runs: those that agree pass in bulk.

        A plain line that is the first to name one of the day's paid payments, with its amount and the
        agreed fee, is one feed() would find nothing wrong with: it is counted, not matched. Every other
        line is matched by feed(), in the bill's order.
        """
        expected = self._expected = self._expected_payments()

        def lines() -> Iterator[BillLine | BadLine]:
            for item in items:
                if isinstance(item, PlainRun):
                    for index, maybe_passed in expected.pass_run(item):
                        line = item.line(index)
                        if maybe_passed:
                            self._maybe_passed.add(line.line_no)
                        yield line
                    continue
                if isinstance(item, BillLine) and item.kind == PAYMENT and expected.name(item.out_trade_no):
                    self._maybe_passed.add(item.line_no)
                yield item

        self.feed(lines())

    def _expected_payments(self) -> ExpectedPayments:
        """The day's paid payments, read a slice of the day at a time, each slice as comma-joined text."""
        expected = ExpectedPayments(partial(payment_fee, per_ten_thousand=self.rate))
        connection = self.session.connection()
        start, end = day_bounds(self.day)
        step = (end - start) / DAY_SLICES
        bounds = [(start + number * step, start + (number + 1) * step) for number in range(DAY_SLICES - 1)]
        bounds.append((start + (DAY_SLICES - 1) * step, end))
        # Each slice is fetched on a thread while the one before is taken apart here: the database's
        # work hides behind Python's. The connection is only ever used by one thread at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation-day") as fetcher:
            coming = fetcher.submit(self._day_slice, connection, *bounds[0])
            for following in range(1, len(bounds) + 1):
                joined, rows = coming.result()
                if following < len(bounds):
                    coming = fetcher.submit(self._day_slice, connection, *bounds[following])
                if joined is not None:
                    expected.add_joined(*joined)
                else:
                    expected.add(rows)
        return expected

    def _day_slice(self, connection: Connection, since: datetime, until: datetime) -> tuple[Any, list[Any]]:
        """A slice of the day's paid payments: comma-joined out_trade_nos, amounts and their totals, else as rows."""
        day_slice = self._day_payments().where(Payment.paid_at >= since, Payment.paid_at < until)
        amount = cast(Payment.amount_fen, BigInteger)
        joined = day_slice.with_only_columns(
            func.aggregate_strings(Payment.out_trade_no, ","),
            func.aggregate_strings(cast(Payment.amount_fen, String), ","),
            func.count(),
            func.coalesce(func.sum(amount), 0),
            # payment_fee, summed by the database: the same integers, rounded the same way
            func.coalesce(func.sum((amount * (self.rate * 2) + 10_000) // 20_000), 0),
        )
        numbers, amounts, count, paid_fen, fee_fen = connection.execute(joined).one()
        if not count:
            return None, []
        if numbers.count(",") == count - 1:
            return (numbers, amounts, (count, int(paid_fen), int(fee_fen))), []
        # An out_trade_no with a comma in it: this slice row by row.
        return None, list(connection.execute(day_slice.with_only_columns(Payment.out_trade_no, Payment.amount_fen)))

    def _by_kind(self, chunk: list[BillLine | BadLine]) -> tuple[list[BillLine], list[BillLine]]:
        """The chunk's payment lines and refund lines; its unreadable lines are counted on the way."""
        payments, refunds = [], []
        for entry in chunk:
            if isinstance(entry, BadLine):
                self._bad(entry)
            elif entry.kind == PAYMENT:
                payments.append(entry)
            else:
                refunds.append(entry)
        return payments, refunds

    def _look_up(
        self, connection: Connection, payments: list[BillLine], refunds: list[BillLine]
    ) -> tuple[Ours, list[int]]:
        """Our books' side of a chunk's lines, on the lookups' thread; and the ids of those a plain line passed.

        A payment a plain line may have passed (feed_runs) did pass if it is one of the day's paid
        ones: it is gone from the expected only by a line that passed or one that named it, and the
        lines that named one are known.
        """
        ours = look_up(connection, self.channel, self.merchant_id, payments, refunds)
        maybe = [line.out_trade_no for line in payments if line.line_no in self._maybe_passed]
        passed = rows_among(connection, self._day_payments(), Payment.out_trade_no, maybe)
        return ours, [row.id for row in passed]

    def _match(self, payments: list[BillLine], refunds: list[BillLine], ours: Future[tuple[Ours, list[int]]]) -> None:
        found, passed = ours.result()
        # Seen already, by a plain line that passed: a line after it for the same payment is a second one.
        self._seen_payments.update(passed)
        self._match_payments(payments, found.payments)
        self._match_refunds(refunds, found.refunds, found.refunded_before)

    def finish(self, bill_says: BillSummary | None) -> dict[str, Any]:
        """Find what the bill left out and what was paid for nothing; the run's summary."""
        self._missing_payments()
        self._missing_refunds()
        self._unsettled_refunds()
        self._unfulfilled()
        # In the bill's order, then what the day holds: the same whatever order the lines were matched in.
        self.found.sort(key=lambda item: (item.bill_line is None, item.bill_line or 0))
        return self.tally.summary(self.found, bill_says)

    def _bad(self, entry: BadLine) -> None:
        self.tally.bad_line_count += 1
        if len(self.tally.bad_lines) < BAD_LINES_KEPT:
            self.tally.bad_lines.append({"line": entry.line_no, "reason": entry.reason})

    def _match_payments(self, lines: list[BillLine], known: dict[str, tuple[int, int, str]]) -> None:
        seen, rate, tally = self._seen_payments, self.rate, self.tally
        # A payment line's amount is never negative: the bill side counts them all as payments in.
        paid_fen = fee_fen = expected_fen = 0
        for line in lines:
            paid_fen += line.amount_fen
            fee_fen += line.fee_fen
            expected_fee = payment_fee(line.amount_fen, rate)
            expected_fen += expected_fee
            payment = known.get(line.out_trade_no)
            if payment is None:
                self._add(line, kinds.MISSING_IN_LEDGER, 0, "the bill has a payment our books do not")
                if line.fee_fen != expected_fee:
                    self._fee(line, expected_fee, None)
                continue
            payment_id, amount_fen, status = payment
            if payment_id in seen:
                self._add(line, kinds.MISSING_IN_LEDGER, 0, "the bill has a payment our books do not")
            elif status not in WAS_PAID:
                self._add(line, kinds.STATUS_MISMATCH, 0, f"the bill says paid, our books say {status}", payment_id)
            else:
                tally.ledger.add(amount_fen)
                if amount_fen != line.amount_fen:
                    self._add(line, kinds.AMOUNT_MISMATCH, amount_fen, "the bill's amount is not ours", payment_id)
            seen.add(payment_id)
            if line.fee_fen != expected_fee:
                self._fee(line, expected_fee, payment_id)
        tally.bill.payments += len(lines)
        tally.bill.paid_fen += paid_fen
        tally.fee_fen += fee_fen
        tally.expected_fee_fen += expected_fen

    def _match_refunds(
        self, lines: list[BillLine], known: dict[str, Any], earlier: dict[int, list[tuple[int, int]]]
    ) -> None:
        for line in lines:
            self.tally.bill.add(-line.amount_fen)
            self.tally.fee_fen += line.fee_fen
            refund = known.get(line.out_refund_no or "")
            if refund is None or refund.id in self._seen_refunds:
                self._add(line, kinds.MISSING_IN_LEDGER, 0, "the bill has a refund our books do not")
                self.tally.expected_fee_fen += line.fee_fen  # a fee we cannot check: taken as the bill says
                continue
            self._seen_refunds.add(refund.id)
            before = sum(amount for refund_id, amount in earlier.get(refund.payment_id, []) if refund_id < refund.id)
            expected_fee = refund_fee(refund.payment_fen, before, refund.amount_fen, self.rate)
            self.tally.expected_fee_fen += expected_fee
            if refund.status != statuses.SUCCEEDED:
                self._add(
                    line,
                    kinds.STATUS_MISMATCH,
                    0,
                    f"the bill says refunded, our books say {refund.status}",
                    refund.payment_id,
                )
            else:
                self.tally.ledger.add(-refund.amount_fen)
                if refund.amount_fen != line.amount_fen:
                    self._add(
                        line,
                        kinds.AMOUNT_MISMATCH,
                        -refund.amount_fen,
                        "the bill's refund is not ours",
                        refund.payment_id,
                    )
            if line.fee_fen != expected_fee:
                self._fee(line, expected_fee, refund.payment_id)

    def _key(self, base: str) -> str:
        """A difference's key: what it is about, and which time it is found (a line twice in a bill is two).

        Never the line's number: a bill that changes shifts its lines, and a difference found again
        must keep its key (and so its id and its review).
        """
        count = self._found_keys[base] = self._found_keys.get(base, 0) + 1
        return base if count == 1 else f"{base}#{count}"

    def _add(self, line: BillLine, kind: str, ledger_fen: int, detail: str, payment_id: int | None = None) -> None:
        bill_fen = line.amount_fen if line.kind == PAYMENT else -line.amount_fen
        number = line.out_trade_no if line.kind == PAYMENT else line.out_refund_no
        self.found.append(
            Found(
                kind=kind,
                key=self._key(f"{line.kind}:{number}"),
                out_trade_no=line.out_trade_no,
                out_refund_no=line.out_refund_no,
                payment_id=payment_id,
                bill_line=line.line_no,
                bill_record=_record(line),
                ledger_fen=ledger_fen,
                bill_fen=bill_fen,
                at_stake_fen=abs(bill_fen - ledger_fen),
                detail=detail,
            )
        )

    def _fee(self, line: BillLine, expected_fen: int, payment_id: int | None) -> None:
        self.found.append(
            Found(
                kind=kinds.UNEXPECTED_FEE,
                key=self._key(f"fee:{line.kind}:{line.out_refund_no or line.out_trade_no}"),
                out_trade_no=line.out_trade_no,
                out_refund_no=line.out_refund_no,
                payment_id=payment_id,
                bill_line=line.line_no,
                bill_record=_record(line),
                ledger_fen=expected_fen,
                bill_fen=line.fee_fen,
                at_stake_fen=abs(line.fee_fen - expected_fen),
                detail=f"the fee is not the agreed {self.rate / 100:.2f}%",
            )
        )

    def _day_payments(self) -> Any:
        start, end = day_bounds(self.day)
        return select(Payment.id, Payment.out_trade_no, Payment.amount_fen, Payment.refunded_fen).where(
            Payment.channel == self.channel,
            Payment.merchant_id == self.merchant_id,
            Payment.paid_at >= start,
            Payment.paid_at < end,
            Payment.status.in_(WAS_PAID),
        )

    def _streamed(self, query: Any) -> Any:
        """The query's rows, fetched a chunk at a time (a server-side cursor on PostgreSQL)."""
        return self.session.connection().execute(query, execution_options={"yield_per": CHUNK})

    def _missing_payments(self) -> None:
        connection = self.session.connection()
        if self._expected is not None:
            self._count_passed(self._expected)
            rows = list(rows_among(connection, self._day_payments(), Payment.out_trade_no, self._expected.unnamed()))
        else:
            rows = list(rows_among(connection, self._day_payments(), Payment.id, self._unseen_payment_ids()))
        for row in sorted(rows, key=lambda row: row.id):
            self.tally.ledger.add(row.amount_fen)
            self.found.append(
                Found(
                    kind=kinds.MISSING_IN_BILL,
                    key=self._key(f"payment:{row.out_trade_no}"),
                    out_trade_no=row.out_trade_no,
                    payment_id=row.id,
                    ledger_fen=row.amount_fen,
                    bill_fen=0,
                    at_stake_fen=row.amount_fen,
                    detail="our books have a payment the bill does not",
                )
            )

    def _unseen_payment_ids(self) -> list[int]:
        # Only the day's ids travel, as text, one row per block of ids: a row per payment cost more in
        # Python than the whole comparison, and a million rows are never held at once.
        day = (
            self._day_payments()
            .with_only_columns(func.aggregate_strings(cast(Payment.id, String), ","))
            .group_by(Payment.id // ID_BLOCK)
        )
        missing: list[int] = []
        for (ids,) in self._streamed(day):
            missing.extend(filterfalse(self._seen_payments.__contains__, map(int, ids.split(","))))
        return missing

    def _count_passed(self, expected: ExpectedPayments) -> None:
        """The lines passed in bulk, counted as _match_payments counts a payment line that agrees."""
        count, paid_fen, fee_fen = expected.passed()
        self.passed_lines = count
        for side in (self.tally.bill, self.tally.ledger):
            side.payments += count
            side.paid_fen += paid_fen
        self.tally.fee_fen += fee_fen
        self.tally.expected_fee_fen += fee_fen

    def _day_refunds(self, *, settled: bool) -> Any:
        start, end = day_bounds(self.day)
        when = Refund.settled_at if settled else Refund.created_at
        return (
            select(Refund.id, Refund.out_refund_no, Refund.amount_fen, Refund.payment_id, Payment.out_trade_no)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Payment.channel == self.channel,
                Payment.merchant_id == self.merchant_id,
                when >= start,
                when < end,
                Refund.status.in_((statuses.SUCCEEDED,) if settled else PENDING_REFUND),
            )
        )

    def _missing_refunds(self) -> None:
        for row in self._streamed(self._day_refunds(settled=True)):
            if row.id not in self._seen_refunds:
                self.tally.ledger.add(-row.amount_fen)
                self.found.append(
                    self._refund_found(kinds.MISSING_IN_BILL, row, -row.amount_fen, 0, "the bill lacks our refund")
                )

    def _unsettled_refunds(self) -> None:
        for row in self._streamed(self._day_refunds(settled=False)):
            if row.id not in self._seen_refunds:
                found = self._refund_found(
                    kinds.REFUND_NOT_SETTLED, row, 0, 0, "the refund was asked for that day and is not settled yet"
                )
                self.found.append(Found(**{**asdict(found), "at_stake_fen": row.amount_fen}))

    def _refund_found(self, kind: str, row: Any, ledger_fen: int, bill_fen: int, detail: str) -> Found:
        return Found(
            kind=kind,
            key=self._key(f"refund:{row.out_refund_no}"),
            out_trade_no=row.out_trade_no,
            out_refund_no=row.out_refund_no,
            payment_id=row.payment_id,
            ledger_fen=ledger_fen,
            bill_fen=bill_fen,
            at_stake_fen=abs(ledger_fen - bill_fen),
            detail=detail,
        )

    def _unfulfilled(self) -> None:
        """Paid and kept, yet the purpose was not delivered (the hospital has no confirmed appointment)."""
        for row in rows_among(self.session.connection(), self._day_payments(), Payment.id, sorted(self.unfulfilled)):
            kept = row.amount_fen - row.refunded_fen
            self.found.append(
                Found(
                    kind=kinds.PAID_NOT_FULFILLED,
                    key=self._key(f"fulfilment:{row.out_trade_no}"),
                    out_trade_no=row.out_trade_no,
                    payment_id=row.id,
                    ledger_fen=kept,
                    bill_fen=kept,
                    at_stake_fen=kept,
                    detail="paid, and the service was not delivered",
                )
            )


def unfulfilled_payments(
    session: Session, channel: str, merchant_id: str, day: date, checks: FulfilmentChecks
) -> frozenset[int]:
    """The day's paid and kept payments whose purpose was not delivered, by each purpose's check.

    Run before the matching's transaction: a check may ask a hospital, and no transaction stays
    open across a network call.
    """
    start, end = day_bounds(day)
    unfulfilled: set[int] = set()
    for purpose, check in checks.items():
        query = select(Payment.id, Payment.purpose_ref).where(
            Payment.channel == channel,
            Payment.merchant_id == merchant_id,
            Payment.paid_at >= start,
            Payment.paid_at < end,
            # A payment partly refunded was settled by someone (a cancel's retained fee): not asked again.
            Payment.status == statuses.PAID,
            Payment.purpose == purpose,
        )
        for batch in _batches(session.execute(query).all(), 200):
            unfulfilled |= check(session, [(row.id, row.purpose_ref) for row in batch])
    return frozenset(unfulfilled)


def _record(line: BillLine) -> dict[str, Any]:
    """What the bill says of a line, for the admin reading the discrepancy."""
    return {
        "line": line.line_no,
        "kind": line.kind,
        "at": line.at.isoformat(),
        "app_id": line.app_id,
        "channel_trade_no": line.channel_trade_no,
        "out_refund_no": line.out_refund_no,
        "amount_fen": line.amount_fen,
        "fee_fen": line.fee_fen,
    }


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    stream = iter(rows)
    while batch := list(islice(stream, size)):
        yield batch
