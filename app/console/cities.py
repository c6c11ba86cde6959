"""City operators' pages: their cities' catalogue, changing one offering (reason required), upstream health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for

from app.console.forms import local_moment
from app.console.forms import optional_day
from app.console.forms import optional_text
from app.console.forms import text
from app.console.frame import page
from app.console.frame import refusal
from app.console.frame import signed_in
from app.console.texts import translate
from app.db_session import get_session
from app.routes.admin_catalogue import offering_view
from app.routes.admin_figures import today
from app.routes.admin_upstreams import connection_view
from city_services.administration import HoursChange
from city_services.administration import OfferingChange
from city_services.administration import WindowChange
from city_services.administration import change_offering
from city_services.administration import city_catalogue
from city_services.administration import visible_cities
from city_services.availability import CITY_TIME
from city_services.connections import city_connections
from city_services.figures.models import ALL_SERVICES
from city_services.figures.report import FigureRow
from city_services.figures.report import figures as city_figures
from city_services.figures.report import period_of
from city_services.models import Offering
from errors import Invalid
from errors import NotFound

blueprint = Blueprint("cities", __name__, url_prefix="/cities")


@blueprint.get("/")
def list_cities() -> Response:
    """The cities the staff member may see: a city operator's own, every city for the others."""
    return page("console/cities.html", cities=visible_cities(get_session(), signed_in()))


@blueprint.get("/<city>")
def city(city: str) -> Response:
    """Every offering of the city, with its settings and the state residents see now."""
    offerings = city_catalogue(get_session(), signed_in(), city)
    return page("console/city.html", city=city, rows=[_row(o) for o in offerings])


@blueprint.get("/<city>/upstreams")
def upstreams(city: str) -> Response:
    """The city's upstream connections, their breakers and their last hour of calls."""
    connections = city_connections(get_session(), signed_in(), city)
    return page("console/upstreams.html", city=city, connections=[connection_view(c) for c in connections])


@blueprint.get("/<city>/figures")
def figures(city: str) -> Response:
    """The city's figures per service × channel over the days chosen (the last seven by default)."""
    wanted = {name: request.args.get(name, "").strip() for name in ("from", "to")}
    try:
        period = period_of(optional_day(wanted["from"], "From"), optional_day(wanted["to"], "To"), today())
    except Invalid as error:
        city_catalogue(get_session(), signed_in(), city)  # who may not see the city learns nothing of its figures
        return page("console/figures.html", status=422, city=city, wanted=wanted, rows=[], error=refusal(error))
    rows = city_figures(get_session(), signed_in(), city, period.since, period.until)
    wanted = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    names = {
        o.service_code: (o.service.name_zh, o.service.name_en) for o in city_catalogue(get_session(), signed_in(), city)
    }
    return page("console/figures.html", city=city, wanted=wanted, rows=[_figure_row(r, names) for r in rows])


def _figure_row(row: FigureRow, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A row of figures as the page shows it: a percent with one decimal, the median's bucket, yuan from fen."""
    name_zh, name_en = names.get(row.service, (row.service, row.service))
    latency = row.median_latency_ms
    return {
        "service": row.service,
        "tile_list": row.service == ALL_SERVICES,
        "name_zh": name_zh,
        "name_en": name_en,
        "channel": row.channel,
        "tile_visits": row.tile_visits,
        "requests": row.requests,
        "success_rate": f"{row.success_rate * 100:.1f}%" if row.success_rate is not None else None,
        "median_latency": None if latency is None else (f"≤ {latency}" if latency <= 5000 else "> 5000"),
        "refunds": row.refunds,
        "refunded_fen": row.refunded_fen,
        "car_move_complaints": row.car_move_complaints,
    }


@blueprint.route("/<city>/services/<service>/channels/<channel>", methods=["GET", "POST"])
def offering(city: str, service: str, channel: str) -> Response:
    """Change whether a service is offered on a channel, its hours and maintenance windows, saying why."""
    session = get_session()
    found = _offering(city_catalogue(session, signed_in(), city), service, channel)
    if request.method == "GET":
        return page("console/offering.html", row=_row(found), form={})
    try:
        change = _change_from_form(found)
        change_offering(
            session,
            signed_in(),
            city=city,
            service=service,
            channel=channel,
            change=change,
            now=current_app.extensions["clock"](),
        )
    except Invalid as error:
        session.rollback()
        found = _offering(city_catalogue(session, signed_in(), city), service, channel)
        return page("console/offering.html", status=422, row=_row(found), form=request.form, error=refusal(error))
    flash(translate("saved", g.language))
    return redirect(url_for("console.cities.city", city=city))  # type: ignore[return-value]


def _offering(offerings: Any, service: str, channel: str) -> Offering:
    """The one offering of a city's catalogue, or NotFound."""
    for candidate in offerings:
        if candidate.service_code == service and candidate.channel == channel:
            found: Offering = candidate
            return found
    raise NotFound("catalogue.offering_not_found", "The city has no such offering.")


def _row(offering: Offering) -> dict[str, Any]:
    """An offering as the pages show it: the admin API's view plus names and local window times."""
    return {
        **offering_view(offering),
        "city": offering.city_code,
        "name_zh": offering.service.name_zh,
        "name_en": offering.service.name_en,
        "windows": [
            {
                "starts_at": w.starts_at.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M"),
                "ends_at": w.ends_at.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M"),
                "message_zh": w.message_zh,
                "message_en": w.message_en,
            }
            for w in offering.maintenance_windows
        ],
    }


def _change_from_form(offering: Offering) -> OfferingChange:
    """The form as the use-case's change: windows ticked to keep, plus a new one when its start is filled in."""
    kept = set(request.form.getlist("keep_window"))
    windows = [
        WindowChange(w.starts_at, w.ends_at, w.message_zh, w.message_en)
        for index, w in enumerate(offering.maintenance_windows)
        if str(index) in kept
    ]
    if text("starts_at") or text("ends_at"):
        windows.append(
            WindowChange(
                starts_at=local_moment(text("starts_at"), "Starts"),
                ends_at=local_moment(text("ends_at"), "Ends"),
                message_zh=text("message_zh"),
                message_en=optional_text("message_en"),
            )
        )
    return OfferingChange(
        reason=text("reason"),
        enabled=request.form.get("enabled") == "on",
        hours=HoursChange(
            opens_at=optional_text("opens_at"),
            closes_at=optional_text("closes_at"),
            weekdays="".join(sorted(request.form.getlist("weekdays"))),
        ),
        maintenance_windows=tuple(windows),
    )
