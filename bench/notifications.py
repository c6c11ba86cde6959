"""Benchmark: verified WeChat Pay notifications applied per second through gunicorn, against a bare Flask hello.

    .venv/bin/python bench/notifications.py          # PostgreSQL at $TEST_DATABASE_URL, or the default
    .venv/bin/python bench/notifications.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The PostgreSQL database is emptied first: give it a scratch database. A sandbox (WeChat and WeChat
Pay) runs in this process; citytiles, the floor (bench/floor_app.py: the same writes with raw
psycopg) and the hello app run under gunicorn with the project's config. For each of 2 x N orders
placed at the sandbox through the real WeChat Pay adapter, the sandbox's payer pays with the
notification held back; then, in interleaved rounds (3 by default), a share of N signed
notifications is POSTed to citytiles' /callbacks/wechat-pay/<mch_id> by a pool of keep-alive
clients, a share of the other N to the floor, and a share of the first N bodies, eight times over,
to the hello app. It prints the rates, the ratios to the hello (the median of the rounds') and the
CPU per request, and checks that each server paid exactly N payments with exactly N ledger
entries: one effect per distinct notification.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tiles_http import BIN  # noqa: E402
from tiles_http import empty_postgres  # noqa: E402
from tiles_http import gunicorn  # noqa: E402

MINI, MERCHANT = "wx7c1b5d1e2f3a4b50", "1900000109"
HELLO_ROUNDS = 8
# Notifications applied before timing, on both servers: a fresh worker's first success loads the ORM
# mappers, the Celery client and compiled statements, which a long-running server has done long ago.
WARM_UP = 64
DEFAULT_POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def place_orders(settings: Any, sandbox: str, count: int, label: str) -> list[dict[str, Any]]:
    """N orders at the sandbox and in our database, each paid with its notification held back."""
    from app import create_app
    from billing.payments import Charge
    from billing.payments import open_payment
    from database import transaction
    from identity.models import Resident

    app = create_app(settings)
    gateway = app.extensions["channels"].payments[MINI]
    payer = requests.post(f"{sandbox}/_sandbox/wechat/login-code", json={"app_id": MINI}, timeout=10).json()["openid"]
    notifications = []
    with app.extensions["session_factory"]() as session:
        with transaction(session):
            resident = Resident(public_id=f"r_bench_{label}", created_at=datetime.now(UTC))
            session.add(resident)
        for index in range(count):
            charge = Charge(
                purpose="bench",
                purpose_ref=f"{label}-{index}",
                resident_id=resident.id,
                city_code="330100",
                service_code="outpatient",
                app_id=MINI,
                payer=payer,
                amount_fen=1000 + index,
                description="bench",
                expires_at=datetime.now(UTC) + timedelta(minutes=30),
                notify_url=f"{settings.public_url}/callbacks/wechat-pay/{MERCHANT}",
            )
            payment = open_payment(session, gateway, charge, lambda: datetime.now(UTC))
            paid = requests.post(
                f"{sandbox}/_sandbox/wechat-pay/pay",
                json={"out_trade_no": payment.out_trade_no, "deliver": False},
                timeout=10,
            )
            paid.raise_for_status()
            notifications.append(paid.json()["notification"])
    app.extensions["engine"].dispose()
    return notifications


def fire(base: str, path: str, deliveries: list[dict[str, Any]], clients: int) -> tuple[float, dict[int, int]]:
    """POST every delivery once over `clients` keep-alive connections; (requests per second, count by status)."""
    parts = urlsplit(base)
    queue = list(reversed(deliveries))
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                delivery = queue.pop()
            connection.request("POST", path, body=delivery["body"].encode(), headers=delivery["headers"])
            answer = connection.getresponse()
            answer.read()
            with lock:
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(deliveries) / (time.perf_counter() - started), statuses


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far (user + system) by citytiles' gunicorn, the hello's, PostgreSQL and this client."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(pid) == os.getpid():
            part = "client"
        elif "gunicorn" in command:
            part = "hello" if "hello_app" in command else "floor" if "floor_app" in command else "citytiles"
        elif command.startswith("postgres"):
            part = "postgres"
        else:
            continue
        used[part] = used.get(part, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_spent(before: dict[str, float]) -> dict[str, float]:
    """CPU seconds by part since `before`."""
    after = cpu_seconds()
    return {part: after[part] - before.get(part, 0.0) for part in after}


@dataclass
class Measured:
    """One server's rounds: rates, answers by status, CPU by part, requests."""

    rates: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    requests: int = 0

    def add(self, rate: float, statuses: dict[int, int], cpu: dict[str, float], requests: int) -> None:
        """Count one round in."""
        self.rates.append(rate)
        for status, count in statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        for part, seconds in cpu.items():
            self.cpu[part] = self.cpu.get(part, 0.0) + seconds
        self.requests += requests

    def cpu_per_request(self) -> str:
        """Milliseconds of CPU per request by part, over every round."""
        parts = {part: 1000 * seconds / self.requests for part, seconds in sorted(self.cpu.items())}
        return "  ".join(f"{part} {ms:.2f}" for part, ms in parts.items() if ms >= 0.005)


def effects(url: str, label: str) -> tuple[int, int]:
    """(payments paid, ledger entries posted) of one server's orders in the bench database."""
    from sqlalchemy import create_engine
    from sqlalchemy import text

    engine = create_engine(url)
    with engine.connect() as connection:
        mine = {"refs": f"{label}-%"}
        paid = connection.execute(
            text("SELECT count(*) FROM payments WHERE status = 'paid' AND purpose_ref LIKE :refs"), mine
        ).scalar_one()
        posted = connection.execute(
            text(
                "SELECT count(*) FROM ledger_entries JOIN payments ON payments.id = ledger_entries.payment_id"
                " WHERE ledger_entries.kind = 'payment' AND payments.purpose_ref LIKE :refs"
            ),
            mine,
        ).scalar_one()
    engine.dispose()
    return int(paid), int(posted)


def main() -> int:
    """Place, pay, fire, compare, check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the ratio is their median")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TEST_REDIS_URL"),
        help="serve with REDIS_URL (production's shape: follow-up work goes to Celery, not this process's thread)",
    )
    args = parser.parse_args()

    from config import Settings
    from config.settings import ChannelSettings
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    scratch = Path(tempfile.mkdtemp(prefix="citytiles-bench-"))
    sandbox, stop_sandbox = serve_in_thread(SandboxConfig(state_dir=scratch / "sandbox"))
    apps = (ROOT / "config" / "channels.toml").read_text(encoding="utf-8")
    (scratch / "channels.toml").write_text(apps.replace("var/sandbox", str(scratch / "sandbox")), encoding="utf-8")
    empty_postgres(args.postgres_url)
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=args.postgres_url,
        FLASK_APP="wsgi",
        CHANNEL_APPS_FILE=str(scratch / "channels.toml"),
        WECHAT_API_BASE_URL=sandbox,
        WECHAT_PAY_BASE_URL=sandbox,
        ALIPAY_GATEWAY_URL=f"{sandbox}/gateway.do",
    )
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    subprocess.run([str(BIN / "flask"), "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    settings = replace(
        Settings.from_env(env),
        channels=ChannelSettings(sandbox, f"{sandbox}/gateway.do", wechat_pay_base_url=sandbox),
    )
    print(f"placing {args.orders} orders twice at the sandbox and paying them (notifications held back)", flush=True)
    ours = place_orders(settings, sandbox, args.orders + WARM_UP, "citytiles")
    floors = place_orders(settings, sandbox, args.orders + WARM_UP, "floor")
    log = scratch / "servers.log"
    hello_env = {key: value for key, value in env.items() if key != "DATABASE_URL"}
    keys = scratch / "sandbox"
    floor_env = {
        **hello_env,
        "FLOOR_DSN": args.postgres_url.replace("postgresql+psycopg://", "postgresql://"),
        "FLOOR_PUBLIC_KEY_FILE": str(keys / "public" / "wechat_pay" / MERCHANT / "pub_key.pem"),
        "FLOOR_APIV3_KEY_FILE": str(keys / "wechat_pay" / MERCHANT / "apiv3_key"),
    }
    served = ("--pythonpath", f"{ROOT / 'bench'},{ROOT}")
    try:
        with (
            gunicorn("wsgi:app", env, log, "/healthz") as citytiles,
            gunicorn("floor_app:app", floor_env, log, "/", *served) as floor_server,
            gunicorn("hello_app:app", hello_env, log, "/", *served) as hello,
        ):
            fire(hello, "/", ours[:WARM_UP], args.clients)
            fire(citytiles, f"/callbacks/wechat-pay/{MERCHANT}", ours[:WARM_UP], args.clients)
            fire(floor_server, "/notify", floors[:WARM_UP], args.clients)
            targets = {
                "notifications": (citytiles, f"/callbacks/wechat-pay/{MERCHANT}", ours[WARM_UP:], 1),
                "floor": (floor_server, "/notify", floors[WARM_UP:], 1),
                # The hello answers in a fraction of the time: sent several times over, so it is timed as long.
                "hello": (hello, "/", ours[WARM_UP:], HELLO_ROUNDS),
            }
            measured = {name: Measured() for name in targets}
            for round_ in range(args.rounds):
                # Each round opens its connections afresh (gunicorn's workers share them out anew) and
                # alternates the order, so background load and a lopsided share fall on every server alike.
                order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
                for name in order:
                    base, path, deliveries, times = targets[name]
                    share = deliveries[round_ :: args.rounds] * times
                    before = cpu_seconds()
                    rate, statuses = fire(base, path, share, args.clients)
                    measured[name].add(rate, statuses, cpu_spent(before), len(share))
    finally:
        stop_sandbox()
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()  # the kicks no worker took
    hello_rates = measured["hello"].rates
    for name in ("notifications", "floor", "hello"):
        rates = measured[name].rates
        print(f"{name + ':':15}{median(rates):8.1f} per second (rounds: {', '.join(f'{r:.0f}' for r in rates)})")
    for name in ("notifications", "floor"):
        ratios = [rate / hello for rate, hello in zip(measured[name].rates, hello_rates, strict=True)]
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"ratio {name} / hello: {median(ratios):.2f}, the median of rounds {shown}")
    print(
        "(aim: notifications / hello >= 0.3; the floor does the same writes with Flask, psycopg and cryptography only)"
    )
    for name in ("notifications", "floor", "hello"):
        print(f"CPU ms per {name + ':':15}{measured[name].cpu_per_request()}")
    answers, floor_answers = measured["notifications"].statuses, measured["floor"].statuses
    print(f"answers: citytiles {answers}, floor {floor_answers}, hello {measured['hello'].statuses}")
    wrong = False
    for label, statuses in (("citytiles", answers), ("floor", floor_answers)):
        paid, posted = (count - WARM_UP for count in effects(args.postgres_url, label))  # the warm-up's too
        print(f"effects ({label}): {paid} payments paid, {posted} ledger entries, for {args.orders} notifications")
        wrong = wrong or statuses.get(204, 0) != args.orders or paid != posted or paid != args.orders
    if wrong:
        print("MISMATCH: every notification must be acknowledged and applied exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
