"""Real worker processes under gunicorn hear an operator's change through PostgreSQL NOTIFY or Redis pub/sub."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.app.test_gunicorn import BIN
from tests.app.test_gunicorn import car_move_states
from tests.app.test_gunicorn import free_port
from tests.conftest import ROOT
from tests.conftest import require_service

pytestmark = pytest.mark.slow
PASSWORD = "gunicorn news password"


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """citytiles under gunicorn with two workers on PostgreSQL, hearing by NOTIFY or (REDIS_URL set) by pub/sub.

    Not on SQLite: there every write shows in the file's stamp, which would hide a silent listener.
    """
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env["DATABASE_URL"] = request.getfixturevalue("empty_postgres_url")
    if request.param == "redis":
        env["REDIS_URL"] = require_service("TEST_REDIS_URL")
    port = free_port()
    env.update(FLASK_APP="wsgi", PORT=str(port), WEB_WORKERS="2", CITYTILES_ADMIN_PASSWORD=PASSWORD)
    for command in (["migrate"], ["seed-catalogue"], ["create-platform-admin", "--username", "admin"]):
        subprocess.run([BIN / "flask", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("gunicorn did not start")
    yield base
    server.terminate()
    server.wait(timeout=30)


def test_every_worker_shows_an_operator_change_within_a_second(served: str) -> None:
    # Warm both workers' caches and let their listeners subscribe.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert car_move_states(served, 10) == {"available"}
    token = requests.post(
        f"{served}/admin/api/sessions", json={"username": "admin", "password": PASSWORD}, timeout=5
    ).json()["token"]
    changed = requests.patch(
        f"{served}/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "gunicorn news check", "enabled": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert changed.status_code == 200
    time.sleep(1.0)
    assert car_move_states(served, 20) == {"unavailable"}
