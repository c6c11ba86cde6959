"""The demo's way of serving: gunicorn with threaded workers, one cache per worker, all kept current."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """citytiles migrated, seeded and served by gunicorn with two workers, as `make demo` does."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "FLASK_APP": "wsgi",
        "PORT": str(port),
        "WEB_WORKERS": "2",
        "CITYTILES_ADMIN_PASSWORD": "gunicorn test password",
    }
    for command in (["migrate"], ["seed-catalogue"], ["create-platform-admin", "--username", "admin"]):
        subprocess.run([BIN / "flask", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
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
        pytest.fail(f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}")
    yield base
    server.terminate()
    server.wait(timeout=30)


def car_move_states(base: str, times: int) -> set[str]:
    """Ask on fresh connections, so the requests spread over both workers."""
    states = set()
    for _ in range(times):
        tiles = requests.get(f"{base}/api/v1/cities/330100/services?channel=wechat", timeout=5).json()["tiles"]
        states.add(next(t["state"] for t in tiles if t["code"] == "car_move"))
    return states


def test_every_worker_sees_an_operator_change_on_its_next_request(served: str) -> None:
    assert car_move_states(served, 20) == {"available"}
    token = requests.post(
        f"{served}/admin/api/sessions", json={"username": "admin", "password": "gunicorn test password"}, timeout=5
    ).json()["token"]
    changed = requests.patch(
        f"{served}/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "gunicorn check", "enabled": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert changed.status_code == 200
    assert car_move_states(served, 20) == {"unavailable"}


def test_errors_from_gunicorn_are_still_json(served: str) -> None:
    response = requests.get(f"{served}/no/such/page", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["code"] == "request.route_not_found"
