"""Operators' view and changes of a city's upstream connections, each change audited like an offering's."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.administration import require_city
from city_services.catalogue import bump_revision
from city_services.connection_params import params_document
from city_services.models import UpstreamConnection
from city_services.upstreams import ConnectionSetting
from city_services.upstreams import read_connection_params
from database import transaction
from errors import Invalid
from errors import NotFound
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise


@dataclass(frozen=True)
class ConnectionChange:
    """What an operator changes on one city × service's connection; None leaves it as it is."""

    reason: str
    adapter: str | None = None
    # The whole set: parameters left out take their adapter's defaults, never the previous values.
    params: dict[str, Any] | None = None


def city_connections(session: Session, staff: StaffMember, city: str) -> Sequence[UpstreamConnection]:
    """Every upstream connection of a city, by service, for staff who may see its catalogue."""
    authorise(staff, "catalogue.view", city=city)
    require_city(session, city)
    query = select(UpstreamConnection).where(UpstreamConnection.city_code == city)
    return session.scalars(query.order_by(UpstreamConnection.service_code)).all()


def change_connection(
    session: Session,
    staff: StaffMember,
    *,
    city: str,
    service: str,
    change: ConnectionChange,
    now: datetime,
    production_environ: Mapping[str, str] | None = None,
) -> UpstreamConnection:
    """Point a city's service at another adapter or parameters, with its audit entry, atomically.

    :param production_environ: in production, the environment the adapters will read their secrets
        from; the new connection must then pass its Params' production_problems.
    """
    authorise(staff, "catalogue.change", city=city)
    problem = reason_problem(change.reason)
    if problem:
        raise Invalid("catalogue.reason_required", problem)
    with transaction(session):
        require_city(session, city)
        connection = session.scalar(
            select(UpstreamConnection)
            .where(UpstreamConnection.city_code == city, UpstreamConnection.service_code == service)
            .with_for_update()
        )
        if connection is None:
            raise NotFound(
                "catalogue.connection_not_found",
                f"City {city} has no upstream connection for {service}.",
                {"city": city, "service": service},
            )
        if change.adapter not in (None, connection.adapter) and change.params is None:
            # Another adapter's parameters would be meaningless, or worse, to the new one.
            raise Invalid("catalogue.upstream_params_required", "Give the new upstream adapter its parameters.")
        adapter = change.adapter if change.adapter is not None else connection.adapter
        params = read_connection_params(
            service, adapter, change.params if change.params is not None else connection.params
        )
        if production_environ is not None:
            refused = params.production_problems(production_environ)
            if refused:
                raise Invalid(
                    "catalogue.unsafe_upstream",
                    f"Production refuses this connection: {'; '.join(refused)}.",
                    {"problems": refused},
                )
        before = describe_connection(connection)
        connection.adapter = adapter
        connection.params = params_document(params)
        after = describe_connection(connection)
        if after != before:
            connection.updated_at = now
            record_staff_action(
                session,
                staff,
                action="catalogue.upstream_changed",
                target=f"{city}/{service}",
                reason=change.reason.strip(),
                at=now,
                before=before,
                after=after,
                city_code=city,
            )
            bump_revision(session)
    return connection


def describe_connection(connection: UpstreamConnection) -> dict[str, Any]:
    """A connection's settings as plain data, for the admin API and the audit log."""
    return {
        "city": connection.city_code,
        "service": connection.service_code,
        "adapter": connection.adapter,
        "params": dict(connection.params),
    }


def params_problems(connection: UpstreamConnection) -> list[str]:
    """Why stored parameters do not fit their adapter (e.g. carried over by a migration); [] when they do."""
    try:
        read_connection_params(connection.service_code, connection.adapter, connection.params)
    except Invalid as refused:
        fields: dict[str, list[str]] = refused.details.get("fields", {})
        return [f"{name}: {message}" for name, messages in fields.items() for message in messages] or [refused.message]
    return []


def stored_connections(session: Session) -> list[ConnectionSetting]:
    """Every stored connection, for the production safety check at start-up."""
    rows = session.scalars(
        select(UpstreamConnection).order_by(UpstreamConnection.city_code, UpstreamConnection.service_code)
    )
    return [ConnectionSetting(c.city_code, c.service_code, c.adapter, dict(c.params)) for c in rows]
