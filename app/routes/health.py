"""Liveness and readiness probes."""

from __future__ import annotations

import redis
from flask import Blueprint
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db_session import get_session
from app.operations import operation
from app.schemas.health import HealthSchema
from app.schemas.health import ReadinessSchema

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@operation(summary="Whether the process is alive", tag="health", response=HealthSchema())
def healthz() -> dict[str, str]:
    """Answer as long as the process can serve a request."""
    return {"status": "ok"}


@blueprint.get("/readyz")
@operation(
    summary="Whether this instance can serve traffic (database, and Redis when configured)",
    tag="health",
    response=ReadinessSchema(),
    other_statuses={503: "Not ready: `checks` names each dependency that is down."},
)
def readyz() -> tuple[dict[str, object], int]:
    """Check each dependency; 503 when any is down, naming which."""
    checks = {"database": _database_ok()}
    if current_app.extensions["settings"].redis_url:
        checks["redis"] = _redis_ok(current_app.extensions["settings"].redis_url)
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {k: "ok" if v else "down" for k, v in checks.items()},
    }
    return body, 200 if ready else 503


def _database_ok() -> bool:
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _redis_ok(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False
