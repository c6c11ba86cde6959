"""Operators list and change a city's upstream connections: one per service, whatever the channel."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.connections import CityConnectionsSchema
from app.schemas.connections import ConnectionChangeSchema
from app.schemas.connections import ConnectionSchema
from city_services.connections import ConnectionChange
from city_services.connections import change_connection
from city_services.connections import city_connections
from city_services.connections import params_problems
from city_services.models import UpstreamConnection
from city_services.upstream_link import connection_key
from identity.models import StaffMember

log = logging.getLogger("citytiles.upstreams")
blueprint = Blueprint("admin_upstreams", __name__, url_prefix="/admin/api")


@blueprint.get("/cities/<city>/upstreams")
@operation(
    summary="Every upstream connection of a city: adapter, parameters, and what does not fit",
    tag="admin",
    response=CityConnectionsSchema(),
    auth="staff",
    errors=("auth.forbidden", "auth.city_out_of_scope", "catalogue.city_not_found"),
)
def list_city_upstreams(city: str, staff: StaffMember) -> dict[str, Any]:
    """Whoever may see a city's catalogue sees its connections (secrets are only ever named)."""
    connections = city_connections(get_session(), staff, city)
    return {"city": city, "connections": [connection_view(c) for c in connections]}


@blueprint.patch("/cities/<city>/upstreams/<service>")
@operation(
    summary="Change the adapter or parameters a city's service goes through, on every channel; reason required",
    tag="admin",
    body=ConnectionChangeSchema,
    response=ConnectionSchema(),
    auth="staff",
    errors=(
        "auth.forbidden",
        "auth.city_out_of_scope",
        "catalogue.city_not_found",
        "catalogue.connection_not_found",
        "catalogue.unknown_upstream",
        "catalogue.invalid_upstream_params",
        "catalogue.upstream_params_required",
        "catalogue.unsafe_upstream",
        "catalogue.reason_required",
    ),
)
def update_upstream(city: str, service: str, staff: StaffMember, payload: ConnectionChange) -> dict[str, Any]:
    """Apply the change and its audit entry together; in production the connection must be fit for it."""
    production = current_app.extensions["settings"].is_production
    connection = change_connection(
        get_session(),
        staff,
        city=city,
        service=service,
        change=payload,
        now=current_app.extensions["clock"](),
        production_environ=current_app.extensions["environ"] if production else None,
    )
    return connection_view(connection)


def connection_view(connection: UpstreamConnection) -> dict[str, Any]:
    """A connection as operators see it."""
    return {
        "service": connection.service_code,
        "adapter": connection.adapter,
        "params": dict(connection.params),
        "updated_at": connection.updated_at,
        "problems": params_problems(connection),
        "health": health_view(connection_key(connection.city_code, connection.service_code)),
    }


def health_view(key: str) -> dict[str, Any]:
    """The connection's breaker and its last hour of calls, across workers when Redis is configured."""
    try:
        health = current_app.extensions["outbound"].health(key)
    except Exception:  # noqa: BLE001 - the figures' store being down must not hide the connections
        log.warning("connection health unreadable", extra={"connection": key}, exc_info=True)
        return {"breaker": None, "last_hour": None}
    breaker, figures = health.breaker, health.figures
    return {
        "breaker": {
            "state": breaker.state,
            "failures": breaker.failures,
            "opened_at": _moment(breaker.opened_at),
        },
        "last_hour": {
            "calls": figures.calls,
            "success_rate": figures.success_rate,
            "p50_ms": figures.p50_ms,
            "p95_ms": figures.p95_ms,
            "last_error": figures.last_error,
            "last_error_at": _moment(figures.last_error_at),
        },
    }


def _moment(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None
