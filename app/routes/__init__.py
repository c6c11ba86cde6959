"""Every blueprint, registered in one visible list."""

from __future__ import annotations

from flask import Flask

from app.routes import admin_audit
from app.routes import admin_car_move
from app.routes import admin_catalogue
from app.routes import admin_chat
from app.routes import admin_figures
from app.routes import admin_payments
from app.routes import admin_reconciliation
from app.routes import admin_sessions
from app.routes import admin_staff
from app.routes import admin_upstreams
from app.routes import car_move
from app.routes import catalogue
from app.routes import chat
from app.routes import docs
from app.routes import health
from app.routes import housing_fund
from app.routes import notices
from app.routes import outpatient
from app.routes import payment_callbacks
from app.routes import payments
from app.routes import residents


def register_routes(app: Flask) -> None:
    """Attach every area's blueprint."""
    for blueprint in (
        health.blueprint,
        docs.blueprint,
        catalogue.blueprint,
        residents.blueprint,
        housing_fund.blueprint,
        notices.blueprint,
        car_move.blueprint,
        outpatient.blueprint,
        payment_callbacks.blueprint,
        chat.blueprint,
        payments.blueprint,
        admin_sessions.blueprint,
        admin_catalogue.blueprint,
        admin_chat.blueprint,
        admin_upstreams.blueprint,
        admin_figures.blueprint,
        admin_car_move.blueprint,
        admin_payments.blueprint,
        admin_reconciliation.blueprint,
        admin_audit.blueprint,
        admin_staff.blueprint,
    ):
        app.register_blueprint(blueprint)
