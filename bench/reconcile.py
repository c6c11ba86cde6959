"""Benchmark: reconciling a day's WeChat Pay bill of a million lines, against a plain csv.reader pass over it.

    .venv/bin/python bench/reconcile.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_reconcile
    .venv/bin/python bench/reconcile.py --lines 100000      # a quicker look

The PostgreSQL database is emptied first: give it a scratch database. The script writes N paid
payments of one merchant and day into it (COPY) and a WeChat-format bill of the same N payments
(every cell after its backtick, CRLF, the summary at the end), with a few differences planted.
Then, each in a fresh child process so the peak memory is the work's own:

* the baseline: `csv.reader` over the file, touching every row (what reading it at all costs);
* the reconciliation: the real use-case (`billing.reconciliation.runs.carry_out`) reading the bill
  with the WeChat reader, matching every line against the payments table, storing the run.

Each part times its own work with a clock inside its process, so interpreter start and imports
count for neither; the baseline is the best of three runs, after one that warms the page cache.
It prints both times, their ratio (aim: at most 2.0), the reconciliation's peak RSS (aim: at most
300 MB), and checks the run found exactly the planted differences.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MERCHANT, APP = "1900000109", "wx7c1b5d1e2f3a4b50"
DAY = date(2026, 11, 18)
# Lines whose bill amount differs from ours, and payments of ours the bill leaves out.
PLANTED_AMOUNTS, PLANTED_MISSING = 3, 2


def fee(amount_fen: int) -> int:
    """0.60%, half up."""
    return (amount_fen * 60 * 2 + 10_000) // 20_000


def yuan(fen: int) -> str:
    """Fen as yuan."""
    return f"{fen // 100}.{fen % 100:02d}"


def amount_of(index: int) -> int:
    """Payments of 1 to 500 yuan, never all alike."""
    return 100 + (index * 7919) % 49_900


def prepare(url: str, lines: int, bill_path: Path) -> None:
    """The payments table and the bill file: the same payments, with the planted differences."""
    from sqlalchemy import create_engine
    from tiles_http import empty_postgres

    from migrations import upgrade_to_head

    empty_postgres(url)
    upgrade_to_head(url)
    start = datetime(2026, 11, 18, 0, 0, tzinfo=UTC) - timedelta(hours=8)  # 00:00 in Beijing
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = (
            "public_id, out_trade_no, purpose, purpose_ref, city_code, service_code, channel, app_id, merchant_id, "
            "gateway, amount_fen, currency, description, status, channel_trade_no, refunded_fen, expires_at, paid_at, "
            "created_at, updated_at"
        )
        with cursor.copy(f"COPY payments ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for index in range(lines):
                at = start + timedelta(seconds=index * 86_399 // lines)
                copy.write_row(
                    (
                        f"py{index:020x}",
                        f"ct{index:024d}",
                        "bench",
                        f"b{index}",
                        "330100",
                        "outpatient",
                        "wechat",
                        APP,
                        MERCHANT,
                        "wechat_pay",
                        amount_of(index),
                        "CNY",
                        "挂号费",
                        "paid",
                        f"42{index:026d}",
                        0,
                        at + timedelta(minutes=10),
                        at,
                        at,
                        at,
                    )
                )
        raw.commit()
    finally:
        raw.close()
    # The table as autovacuum keeps it: with statistics (without, the planner takes it for nearly
    # empty), and vacuumed now rather than by autovacuum in the middle of the measurement.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE payments")
    engine.dispose()
    from billing.fake_bill import COLUMNS
    from billing.fake_bill import SUMMARY_COLUMNS

    total_paid = total_fee = count = 0
    with bill_path.open("w", encoding="utf-8", newline="") as bill:
        bill.write(COLUMNS + "\r\n")
        for index in range(lines):
            if index < PLANTED_MISSING:
                continue
            amount = amount_of(index) + (1 if PLANTED_MISSING <= index < PLANTED_MISSING + PLANTED_AMOUNTS else 0)
            at = (start + timedelta(seconds=index * 86_399 // lines, hours=8)).strftime("%Y-%m-%d %H:%M:%S")
            cells = [
                at, APP, MERCHANT, "0", "", f"42{index:026d}", f"ct{index:024d}", "oPayer", "JSAPI", "SUCCESS",
                "OTHERS", "CNY", yuan(amount), "0.00", "0", "0", "0.00", "0.00", "", "", "挂号费", "",
                yuan(fee(amount)), "0.60%", yuan(amount), "0.00", "",
            ]  # fmt: skip
            bill.write(",".join("`" + cell for cell in cells) + "\r\n")
            total_paid, total_fee, count = total_paid + amount, total_fee + fee(amount), count + 1
        bill.write(SUMMARY_COLUMNS + "\r\n")
        totals = [str(count), yuan(total_paid), "0.00", "0.00", yuan(total_fee), yuan(total_paid), "0.00"]
        bill.write(",".join("`" + cell for cell in totals) + "\r\n")


def baseline(bill_path: Path) -> None:
    """csv.reader over every row, each row touched; prints the time it took and the cells it saw."""
    started = time.perf_counter()
    cells = 0
    with bill_path.open(encoding="utf-8", newline="") as bill:
        for row in csv.reader(bill):
            cells += len(row)
    print(f"{time.perf_counter() - started:.3f} {cells}")


def reconcile(url: str, bill_path: Path) -> None:
    """The real use-case over the prepared bill; prints the run's status and what it found."""
    import hashlib

    from sqlalchemy.orm import Session

    from billing.gateway import DayBill
    from billing.reconciliation.runs import Reconciler
    from billing.reconciliation.runs import ask_for_run
    from billing.reconciliation.runs import carry_out
    from database.engine import make_engine

    digest = hashlib.sha1()
    with bill_path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)

    class PreparedBill:
        """The channel, as far as the bill goes: the file already downloaded."""

        channel, merchant_id = "wechat", MERCHANT

        def bill(self, day: date, folder: Path) -> DayBill:
            return DayBill("wechat", MERCHANT, day, bill_path, digest.hexdigest())

    clock = lambda: datetime(2026, 11, 19, 3, 0, tzinfo=UTC)  # noqa: E731 - the day after, 11:00 in Beijing
    reconciler = Reconciler(
        gateway_for=lambda channel, merchant: PreparedBill(),  # type: ignore[arg-type,return-value]
        merchants=lambda: [("wechat", MERCHANT)],
        clock=clock,
    )
    engine = make_engine(url)
    with Session(engine) as session:
        run = ask_for_run(session, "wechat", MERCHANT, DAY, "bench", clock())
        started = time.perf_counter()
        done = carry_out(session, reconciler, run.public_id)
        elapsed = time.perf_counter() - started
        assert done is not None and done.summary is not None
        print(f"{done.status} {elapsed:.3f} {done.summary['discrepancies']['amount_mismatch']} "
              f"{done.summary['discrepancies']['missing_in_bill']} {done.summary['bill']['payments']}")  # fmt: skip
    engine.dispose()


def child(*args: str) -> tuple[float, str]:
    """Run one part in a fresh interpreter: (its peak RSS in MB, its output)."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{args[1]} failed:\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return float(lines[-1]), "\n".join(lines[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--part", choices=["baseline", "reconcile"], help=argparse.SUPPRESS)
    parser.add_argument("--bill", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.part is not None:
        {
            "baseline": lambda: baseline(options.bill),
            "reconcile": lambda: reconcile(options.postgres_url, options.bill),
        }[options.part]()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    with tempfile.TemporaryDirectory(prefix="citytiles-bench-") as folder:
        bill_path = Path(folder) / "bill.csv"
        print(f"preparing {options.lines} payments and their bill ...", flush=True)
        prepare(options.postgres_url, options.lines, bill_path)
        size = bill_path.stat().st_size / 1e6
        read_part = ["--part", "baseline", "--bill", str(bill_path)]
        child(*read_part)  # warms the page cache for both parts
        # Each part times its own work inside its process (interpreter start and imports left out of
        # both); the baseline's best of three, so a busy machine cannot flatter the ratio.
        base_runs = [child(*read_part) for _ in range(3)]
        base_work = min(float(output.split()[0]) for _, output in base_runs)
        base_rss = max(rss for rss, _ in base_runs)
        rss, output = child("--part", "reconcile", "--bill", str(bill_path), "--postgres-url", options.postgres_url)
        status, seconds, amounts, missing, payments = output.split()
        print(f"bill: {options.lines} lines, {size:.0f} MB")
        print(f"csv.reader pass:   {base_work:.2f} s (peak RSS {base_rss:.0f} MB)")
        print(f"reconciliation:    {float(seconds):.2f} s (peak RSS {rss:.0f} MB; aim <= 300 MB)")
        print(f"ratio reconciliation / csv.reader: {float(seconds) / base_work:.2f} (aim <= 2.0)")
        print(f"run {status}: {payments} bill payments, {amounts} amount mismatches, {missing} missing in the bill")
        expected = (status, int(amounts), int(missing), int(payments))
        wanted = ("reconciled", PLANTED_AMOUNTS, PLANTED_MISSING, options.lines - PLANTED_MISSING)
        if expected != wanted:
            sys.exit(f"the run found {expected}, not the planted {wanted}")


if __name__ == "__main__":
    main()
