"""Operators read a city's figures per service × channel over a period of days."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.figures import FiguresQuerySchema
from app.schemas.figures import FiguresSchema
from city_services.availability import CITY_TIME
from city_services.figures.report import FigureRow
from city_services.figures.report import figures
from city_services.figures.report import period_of
from identity.models import StaffMember

blueprint = Blueprint("admin_figures", __name__, url_prefix="/admin/api")


@blueprint.get("/cities/<city>/figures")
@operation(
    summary="A city's figures per service × channel over whole days in China time (the last 7 by default, at most 92)",
    tag="admin",
    query=FiguresQuerySchema,
    response=FiguresSchema(),
    auth="staff",
    errors=(
        "auth.forbidden",
        "auth.city_out_of_scope",
        "catalogue.city_not_found",
        "figures.invalid_period",
    ),
)
def city_figures(city: str, staff: StaffMember, params: dict[str, date]) -> dict[str, Any]:
    """A city operator sees their cities; a channel admin their channels; a platform admin everything."""
    period = period_of(params.get("first"), params.get("last"), today())
    rows = figures(get_session(), staff, city, period.since, period.until)
    return {"city": city, "first": period.first, "last": period.last, "rows": [figure_view(row) for row in rows]}


def today() -> date:
    """Today in China time, by the app's clock."""
    now = current_app.extensions["clock"]()
    day: date = now.astimezone(CITY_TIME).date()
    return day


def figure_view(row: FigureRow) -> dict[str, Any]:
    """A row as the API shows it: refunds as a count and a sum in fen together."""
    return {
        "service": row.service,
        "channel": row.channel,
        "tile_visits": row.tile_visits,
        "requests": row.requests,
        "succeeded": row.succeeded,
        "success_rate": row.success_rate,
        "median_latency_ms": row.median_latency_ms,
        "refunds": {"count": row.refunds, "fen": row.refunded_fen},
        "car_move_complaints": row.car_move_complaints,
    }
