"""Many worker processes share one WeChat access token through Redis, fetched from stable_token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT
from tests.conftest import Sandbox
from tests.conftest import require_service

MINI = "wx7c1b5d1e2f3a4b50"
WORKER = """
import hashlib, json, sys
from dataclasses import replace
from pathlib import Path
from app.wiring import build_channel_adapters
from config import Settings
from config.settings import ChannelSettings
args = json.loads(sys.argv[1])
settings = replace(
    Settings.from_env({}),
    redis_url=args["redis_url"],
    channel_apps_file=Path(args["apps"]),
    channels=ChannelSettings(args["base"], args["base"] + "/gateway.do"),
)
login = build_channel_adapters(settings).logins[args["app_id"]]
user = login.exchange_code(args["code"])
token = hashlib.sha256(login.client.access_token.encode()).hexdigest()
print(json.dumps({"openid_seen": bool(user.external_id), "token": token}))
"""


def run_worker(sandbox: Sandbox, apps: Path, redis_url: str | None) -> dict[str, object]:
    """One separate Python process, as one gunicorn worker would be, logging a resident in."""
    code = sandbox.wechat_code()["code"]
    args = json.dumps({"redis_url": redis_url, "apps": str(apps), "base": sandbox.base, "app_id": MINI, "code": code})
    done = subprocess.run([sys.executable, "-c", WORKER, args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def stable_token_calls(sandbox: Sandbox) -> int:
    return int(sandbox.helper("GET", f"wechat/token-stats?app_id={MINI}")["stable_token_calls"])


@pytest.fixture
def apps_file(clean_sandbox: Sandbox, tmp_path: Path) -> Path:
    clean_sandbox.helper("DELETE", f"wechat/token-stats?app_id={MINI}")
    return clean_sandbox.channel_settings(tmp_path).channel_apps_file


@pytest.mark.redis
def test_two_worker_processes_share_one_stable_token_through_redis(clean_sandbox: Sandbox, apps_file: Path) -> None:
    redis_url = require_service("TEST_REDIS_URL")
    store = redis.Redis.from_url(redis_url)
    store.delete(*store.keys("citytiles:wechat:*") or ["-"])
    first = run_worker(clean_sandbox, apps_file, redis_url)
    second = run_worker(clean_sandbox, apps_file, redis_url)
    assert first["openid_seen"] and second["openid_seen"]
    assert first["token"] == second["token"]
    assert stable_token_calls(clean_sandbox) == 1
    assert store.ttl(f"citytiles:wechat:{MINI}_access_token") > 0


def test_without_shared_storage_each_worker_fetches_its_own(clean_sandbox: Sandbox, apps_file: Path) -> None:
    run_worker(clean_sandbox, apps_file, None)
    run_worker(clean_sandbox, apps_file, None)
    assert stable_token_calls(clean_sandbox) == 2


def test_an_expired_token_is_fetched_again_and_the_call_retried(clean_sandbox: Sandbox, apps_file: Path) -> None:
    from dataclasses import replace

    from app.wiring import build_channel_adapters
    from config import Settings
    from config.settings import ChannelSettings

    settings = replace(
        Settings.from_env({}),
        channel_apps_file=apps_file,
        channels=ChannelSettings(clean_sandbox.base, clean_sandbox.base + "/gateway.do"),
    )
    adapters = build_channel_adapters(settings)
    issued = clean_sandbox.wechat_code(openid="o-expiry", phone="13900001111")
    user = adapters.logins[MINI].exchange_code(issued["code"])
    assert stable_token_calls(clean_sandbox) == 1
    clean_sandbox.helper("POST", "wechat/expire-tokens", json={"app_id": MINI})
    # getuserphonenumber needs the token: WeChat answers 42001, the client fetches anew and retries.
    assert adapters.phones[MINI].phone_number(issued["phone_code"], user.external_id) == "13900001111"
    assert stable_token_calls(clean_sandbox) == 2
