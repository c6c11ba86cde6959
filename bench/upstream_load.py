"""Housing-fund lookups through gunicorn against a sandbox upstream with a fixed latency, and /healthz meanwhile.

Run: .venv/bin/python bench/upstream_load.py [--seconds 10] [--latency 0.2] [--clients 48]

It starts the sandbox and citytiles (gunicorn, the project's config: 2 workers x 8 threads) on a
scratch SQLite database, makes verified residents with housing-fund accounts at the Hangzhou
centre, turns that centre into a fixed-latency upstream (the sandbox's `slow` fault), and drives
account lookups from many client threads, each lookup a different resident's so none is served
from the short lookup cache. It reports lookups per second divided by the ceiling, the worker
slots that may call the centre at once (workers x min(threads, the connection's bulkhead))
divided by the latency, and /healthz's p99 latency sampled throughout. Then the same with
Shenzhen's centre hanging and a quarter of the clients asking it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from tiles_http import BIN
from tiles_http import ROOT
from tiles_http import free_port
from tiles_http import gunicorn
from tiles_http import wait_until_up

MINI = "wx7c1b5d1e2f3a4b50"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SURNAMES, GIVEN = "赵钱孙李周吴郑王冯陈", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


# The Hangzhou centre's connection as seeded: how many calls to it one worker makes at once.
BULKHEAD = """
from city_services.seeding import read_seed
from city_services.upstreams import read_connection_params
from config import Settings
import os
seed = read_seed(Settings.from_env(os.environ).catalogue_seed)
fund = next(c for c in seed.connections if (c.city, c.service) == ("330100", "housing_fund"))
print(read_connection_params(fund.service, fund.adapter, fund.params).max_concurrent_calls)
"""


def id_number(serial: int) -> str:
    """A well-formed mainland ID number (Hangzhou Xihu, born 1990) with its check character."""
    body = f"330106{19900101 + serial % 28:08d}{serial % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def person(serial: int) -> tuple[str, str]:
    """A distinct name and ID number per serial."""
    name = SURNAMES[serial % 10] + GIVEN[(serial // 10) % 20] + GIVEN[(serial // 200) % 20]
    return name, id_number(serial)


def start_sandbox(state: Path, citytiles_port: int) -> tuple[str, subprocess.Popen[bytes]]:
    """The sandbox on a free port, writing its keys into state."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "python"), "-m", "sandbox", "--port", str(port), "--state-dir", str(state),
         "--citytiles-url", f"http://127.0.0.1:{citytiles_port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/_sandbox/config", server)
    return base, server


def citytiles_env(scratch: Path, sandbox: str, state: Path) -> dict[str, str]:
    """citytiles pointed at this sandbox: channels, the seed's upstream URLs and the upstream secrets."""
    seed = (ROOT / "config" / "cities.toml").read_text(encoding="utf-8").replace("http://127.0.0.1:8700", sandbox)
    (scratch / "cities.toml").write_text(seed, encoding="utf-8")
    for name in ("channels.toml", "upstream_secrets.toml"):
        text = (ROOT / "config" / name).read_text(encoding="utf-8").replace("var/sandbox", str(state))
        (scratch / name).write_text(text, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{scratch / 'bench.db'}",
        FLASK_APP="wsgi",
        CATALOGUE_SEED=str(scratch / "cities.toml"),
        CHANNEL_APPS_FILE=str(scratch / "channels.toml"),
        UPSTREAM_SECRET_FILES=str(scratch / "upstream_secrets.toml"),
        WECHAT_API_BASE_URL=sandbox,
        ALIPAY_GATEWAY_URL=f"{sandbox}/gateway.do",
        WECHAT_PAY_BASE_URL=sandbox,
        # Each lookup must reach the centre: the cache would make this a benchmark of the cache.
        HOUSING_FUND_CACHE_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    return env


def verified_residents(citytiles: str, sandbox: str, count: int) -> list[str]:
    """Residents who logged in through WeChat, bound their real name, and hold an account at the centre."""
    http = requests.Session()
    consent = http.get(f"{citytiles}/api/v1/consent-texts/real_name_verification", timeout=10).json()["version"]
    tokens = []
    for serial in range(count):
        name, number = person(serial)
        issued = http.post(
            f"{sandbox}/_sandbox/wechat/login-code",
            json={"app_id": MINI, "real_name": name, "id_number": number},
            timeout=10,
        ).json()
        login = {"channel": "wechat", "app_id": MINI, "code": issued["code"]}
        token = http.post(f"{citytiles}/api/v1/sessions", json=login, timeout=10).json()["token"]
        bound = http.post(
            f"{citytiles}/api/v1/me/real-name",
            json={"name": name, "id_number": number, "consent_version": consent},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        bound.raise_for_status()
        account = {"system": "hangzhou_gjj", "id_number": number, "name": name, "balance_fen": 1_000_00 + serial}
        http.post(f"{sandbox}/_sandbox/housing-fund/accounts", json=account, timeout=10).raise_for_status()
        tokens.append(token)
    return tokens


def drive(citytiles: str, tokens: list[str], seconds: float, clients: int, hanging: int) -> dict[str, float]:
    """Lookups from many threads for a while (`hanging` more asking Shenzhen), /healthz sampled every 20 ms."""
    stop_at = time.monotonic() + seconds
    counts = {"ok": 0, "other": 0, "hanging": 0}
    health: list[float] = []
    lock = threading.Lock()
    turns = itertools.count()

    def client(index: int) -> None:
        http = requests.Session()
        city = "440300" if index >= clients else "330100"
        while time.monotonic() < stop_at:
            token = tokens[next(turns) % len(tokens)]
            answer = http.get(
                f"{citytiles}/api/v1/cities/{city}/housing-fund/account",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            kind = "hanging" if city == "440300" else ("ok" if answer.status_code == 200 else "other")
            with lock:
                counts[kind] += 1

    def probe() -> None:
        http = requests.Session()
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            http.get(f"{citytiles}/healthz", timeout=30)
            health.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients + hanging)]
    threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(health)
    return {
        "lookups_per_second": counts["ok"] / seconds,
        "refused": counts["other"],
        "hanging_answers": counts["hanging"],
        "healthz_p50_ms": statistics.median(ordered),
        "healthz_p99_ms": ordered[max(0, round(0.99 * len(ordered)) - 1)],
    }


def fault(sandbox: str, target: str, delay: float) -> None:
    """Make one of the sandbox's systems answer after a fixed delay, every call, until cleared."""
    body = {"target": target, "mode": "slow", "delay_seconds": delay, "persistent": True}
    requests.post(f"{sandbox}/_sandbox/faults", json=body, timeout=10).raise_for_status()


def main() -> int:
    """Both scenarios; prints the figures and the ratio to the ceiling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--residents", type=int, default=64)
    args = parser.parse_args()
    workers, threads = int(os.environ.get("WEB_WORKERS", "2")), int(os.environ.get("WEB_THREADS", "16"))
    with tempfile.TemporaryDirectory(prefix="citytiles-upstream-bench-") as directory:
        scratch = Path(directory)
        port = free_port()
        sandbox, sandbox_server = start_sandbox(scratch / "sandbox", port)
        try:
            env = citytiles_env(scratch, sandbox, scratch / "sandbox")
            for command in (["migrate"], ["seed-catalogue"]):
                subprocess.run([str(BIN / "flask"), *command], cwd=ROOT, env=env, check=True, capture_output=True)
            bulkhead = json.loads(
                subprocess.run(
                    [str(BIN / "python"), "-c", BULKHEAD],
                    cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                ).stdout
            )  # fmt: skip
            slots = workers * min(threads, bulkhead)
            ceiling = slots / args.latency
            # One client more per worker than may call the centre at once keeps every place busy (the
            # spare one waits at the bulkhead), plus two per worker asking the hanging centre later.
            clients = workers * (bulkhead + 1)
            hanging = workers * 2
            # gthread workers accept greedily: bound each worker's connections to its share of the
            # clients (and the /healthz probe) so the load is spread as a load balancer would.
            env["WEB_WORKER_CONNECTIONS"] = str(bulkhead + 1 + 2 + 1)
            with gunicorn("wsgi:app", {**env, "PORT": str(port)}, scratch / "citytiles.log", "/readyz") as citytiles:
                tokens = verified_residents(citytiles, sandbox, args.residents)
                fault(sandbox, "housing_fund.hangzhou_gjj", args.latency)
                print(f"ceiling: {slots} slots / {args.latency} s = {ceiling:.0f} lookups/s", flush=True)
                for title, extra in (("one upstream at fixed latency", 0), ("and another upstream hanging", hanging)):
                    if extra:
                        fault(sandbox, "housing_fund.shenzhen_gjj", 120)
                    figures = drive(citytiles, tokens, args.seconds, clients, extra)
                    print(
                        f"{title}: {figures['lookups_per_second']:.1f} lookups/s = "
                        f"{figures['lookups_per_second'] / ceiling:.2f} of the ceiling; refused {figures['refused']}; "
                        f"/healthz p50 {figures['healthz_p50_ms']:.1f} ms, p99 {figures['healthz_p99_ms']:.1f} ms"
                        + (f"; answers from the hanging one: {figures['hanging_answers']}" if extra else ""),
                        flush=True,
                    )
        finally:
            sandbox_server.terminate()
            sandbox_server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
