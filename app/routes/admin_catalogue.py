"""Operators list and change a city's catalogue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.administration import CityCatalogueSchema
from app.schemas.administration import OfferingChangeSchema
from app.schemas.administration import OfferingSchema
from city_services.administration import OfferingChange
from city_services.administration import change_offering
from city_services.administration import city_catalogue
from city_services.administration import describe_offering
from city_services.availability import Window
from city_services.availability import availability
from city_services.catalogue import readable_hours
from city_services.models import Offering
from identity.models import StaffMember

blueprint = Blueprint("admin_catalogue", __name__, url_prefix="/admin/api")


@blueprint.get("/cities/<city>/catalogue")
@operation(
    summary="Every offering of a city, with settings and current state",
    tag="admin",
    response=CityCatalogueSchema(),
    auth="staff",
    errors=("auth.forbidden", "auth.city_out_of_scope", "catalogue.city_not_found"),
)
def list_city_catalogue(city: str, staff: StaffMember) -> dict[str, Any]:
    """A city operator sees their cities; a channel admin sees their channels, read-only."""
    offerings = city_catalogue(get_session(), staff, city)
    return {"city": city, "offerings": [offering_view(o) for o in offerings]}


@blueprint.patch("/cities/<city>/services/<service>/channels/<channel>")
@operation(
    summary="Change one city × service × channel (enable, hours, maintenance); reason required",
    tag="admin",
    body=OfferingChangeSchema,
    response=OfferingSchema(),
    auth="staff",
    errors=(
        "auth.forbidden",
        "auth.city_out_of_scope",
        "auth.channel_out_of_scope",
        "catalogue.city_not_found",
        "catalogue.offering_not_found",
        "catalogue.unknown_channel",
        "catalogue.invalid_hours",
        "catalogue.invalid_maintenance_window",
        "catalogue.too_many_windows",
        "catalogue.reason_required",
    ),
)
def update_offering(
    city: str, service: str, channel: str, staff: StaffMember, payload: OfferingChange
) -> dict[str, Any]:
    """Apply the change and its audit entry together; residents see it on their next request."""
    offering = change_offering(
        get_session(),
        staff,
        city=city,
        service=service,
        channel=channel,
        change=payload,
        now=current_app.extensions["clock"](),
    )
    return offering_view(offering)


def offering_view(offering: Offering) -> dict[str, Any]:
    """An offering's settings plus the state residents see at this moment."""
    windows = tuple(Window(w.starts_at, w.ends_at, w.message_zh, w.message_en) for w in offering.maintenance_windows)
    hours = readable_hours(offering)
    # Settings stored around the rules are shown as they are, so an operator can see and fix them.
    state = (
        availability(offering.enabled, hours, windows, current_app.extensions["clock"]()).state
        if hours is not None
        else "unavailable"
    )
    return {**describe_offering(offering), "state": state, "updated_at": offering.updated_at}
