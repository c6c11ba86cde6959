"""Benchmark over HTTP: the tiles through gunicorn against a bare Flask hello under the same config, with wrk.

    .venv/bin/python bench/tiles_http.py                      # SQLite, then PostgreSQL ($TEST_DATABASE_URL)
    .venv/bin/python bench/tiles_http.py --databases sqlite   # SQLite only
    .venv/bin/python bench/tiles_http.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The PostgreSQL database is emptied first: give it a scratch database. Both servers run at once; wrk
measures them in turn, alternating which goes first in each round, so background load on the
machine falls on both alike. It prints requests per second and the ratio tiles / hello: the median
of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
TILES = "/api/v1/cities/330100/services?channel=wechat"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's package when missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)")
    return found


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def empty_postgres(url: str) -> None:
    """Drop and recreate the public schema of a scratch PostgreSQL database."""
    from sqlalchemy import create_engine
    from sqlalchemy import text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    """Poll until the URL answers 200, or give up when the server died or 30 s passed."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"server for {url} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not come up within 30 s")


@contextmanager
def gunicorn(app: str, env: dict[str, str], log: Path, probe: str, *extra: str) -> Iterator[str]:
    """One gunicorn with the project's config on a free port; yields its base URL."""
    port = free_port()
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py"), *extra, app],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=sink,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + probe, server)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(wrk: str, url: str, seconds: int, connections: int) -> float:
    """Requests per second wrk reaches on one URL; refuses a run with any non-2xx answer."""
    run = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", url], check=True, capture_output=True, text=True
    )
    failures = _NON_2XX.search(run.stdout)
    if failures:
        sys.exit(f"{url}: {failures.group(1)} answers were not 2xx\n{run.stdout}")
    rate = _RATE.search(run.stdout)
    if rate is None:
        sys.exit(f"cannot read wrk's output:\n{run.stdout}")
    return float(rate.group(1))


def bench(database: str, url: str, args: argparse.Namespace, wrk: str, scratch: Path) -> float:
    """Migrate, seed, serve both apps and measure them in alternating rounds; returns tiles / hello."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=url, FLASK_APP="wsgi")
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    if database == "postgresql":
        empty_postgres(url)
    for command in (["migrate"], ["seed-catalogue"]):
        subprocess.run([str(BIN / "flask"), *command], cwd=ROOT, env=env, check=True, capture_output=True)
    log = scratch / f"{database}.log"
    hello_env = {key: value for key, value in env.items() if key != "DATABASE_URL"}
    with (
        gunicorn("wsgi:app", env, log, TILES) as citytiles,
        gunicorn("hello_app:app", hello_env, log, "/", "--pythonpath", str(ROOT / "bench")) as hello,
    ):
        targets = {"hello": hello + "/", "tiles": citytiles + TILES}
        for target in targets.values():  # warm both: imports, pools, the catalogue cache
            measure(wrk, target, 1, args.connections)
        rates: dict[str, list[float]] = {"hello": [], "tiles": []}
        for round_number in range(args.rounds):
            order = ("hello", "tiles") if round_number % 2 == 0 else ("tiles", "hello")
            for name in order:
                rates[name].append(measure(wrk, targets[name], args.seconds, args.connections))
    # Each round's ratio compares two runs seconds apart; their median shrugs off a burst of outside load.
    ratios = [tiles / hello for hello, tiles in zip(rates["hello"], rates["tiles"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"{database}: {args.rounds} rounds of {args.seconds} s each, {args.connections} connections")
    for name, label in (("hello", "hello (bare Flask)"), ("tiles", "tiles (citytiles)")):
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"  {label:19s} {statistics.mean(rates[name]):6.0f} req/s   rounds: {runs}")
    print(f"  tiles / hello        {ratio:6.2f}      rounds: {', '.join(f'{r:.2f}' for r in ratios)}", flush=True)
    return ratio


def main() -> None:
    """Parse the options, run the bench on each database asked for, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES,
        help="scratch PostgreSQL database, emptied first (default $BENCH_DATABASE_URL, $TEST_DATABASE_URL)",
    )
    parser.add_argument("--redis-url", default=None, help="serve with REDIS_URL set (pub/sub invalidation)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per database")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    wrk = ensure_wrk()
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="tiles-bench-") as scratch:
        for database in args.databases.split(","):
            url = {"sqlite": f"sqlite:///{Path(scratch) / 'bench.db'}", "postgresql": args.postgres_url}[database]
            ratios[database] = bench(database, url, args, wrk, Path(scratch))
    print("ratio tiles / hello: " + ", ".join(f"{db} {ratio:.2f}" for db, ratio in ratios.items()))


if __name__ == "__main__":
    main()
