"""Liveness and readiness probes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app import create_app
from config import Settings
from tests.conftest import Api
from tests.conftest import require_service


def test_healthz(api: Api) -> None:
    assert api.get("/healthz") == {"status": "ok"}


def test_readyz_checks_the_database(api: Api) -> None:
    assert api.get("/readyz") == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    settings = replace(Settings.from_env({}), database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    body = Api(create_app(settings).test_client()).get("/readyz", expected=503)
    assert body == {"status": "not_ready", "checks": {"database": "down"}}


@pytest.mark.redis
def test_readyz_checks_redis_when_configured(settings: Settings) -> None:
    ready = create_app(replace(settings, redis_url=require_service("TEST_REDIS_URL")))
    assert Api(ready.test_client()).get("/readyz")["checks"] == {"database": "ok", "redis": "ok"}
    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    assert Api(down.test_client()).get("/readyz", expected=503)["checks"] == {"database": "ok", "redis": "down"}
