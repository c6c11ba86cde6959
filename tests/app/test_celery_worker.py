"""A real Celery worker against Redis carries out outbox tasks the web tier kicks, on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.background import CeleryTasks
from app.background import build_tasks
from billing.models import OutboxTask
from config import Settings
from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from tests.conftest import ROOT
from tests.conftest import require_service


@pytest.fixture
def broker() -> Iterator[str]:
    """A Redis db of its own for the broker, emptied before and after."""
    url = require_service("TEST_REDIS_URL")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def worker(empty_postgres_url: str, broker: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A worker worker` as CI and production run it, on the test database and broker."""
    environ = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": empty_postgres_url,
        "REDIS_URL": broker,
        "CHANNEL_APPS_FILE": str(tmp_path / "no-channel-apps.toml"),
    }
    command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool=solo", "--loglevel=WARNING"]
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_kicked_outbox_task_is_carried_out_by_the_worker(
    worker: subprocess.Popen[bytes], empty_postgres_url: str, broker: str
) -> None:
    engine = make_engine(empty_postgres_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with sessions() as session, transaction(session):
        # A paid order's fulfilment for a payment this database does not have: the handler finds nothing to do.
        session.add(OutboxTask(kind="fulfil", ref="ct" + "0" * 24, due_at=now, attempts=0, created_at=now))
    tasks = build_tasks(Settings(app_env="test", redis_url=broker), lambda: 0)
    assert isinstance(tasks, CeleryTasks)
    tasks.kick()
    deadline = time.monotonic() + 60
    done = None
    while done is None and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.2)
        with sessions() as session:
            done = session.scalar(select(OutboxTask.done_at))
    engine.dispose()
    output = b"" if worker.poll() is None else (worker.stdout.read() if worker.stdout else b"")
    assert done is not None, output.decode(errors="replace")[-2000:]
