"""Channel admins' pages: payments of their channels, one payment's whole story, and refunds with a reason."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for

from app.console.forms import fen_from_yuan
from app.console.forms import local_day
from app.console.forms import text
from app.console.frame import page
from app.console.frame import refusal
from app.console.frame import signed_in
from app.console.texts import translate
from app.db_session import get_session
from app.routes.admin_payments import give_refund
from billing.administration import PaymentFilter
from billing.administration import find_payments
from billing.administration import payment_story
from billing.statuses import PAYMENT_STATUSES
from errors import Conflict
from errors import Invalid
from errors import UpstreamUnavailable

blueprint = Blueprint("payments", __name__, url_prefix="/payments")


@blueprint.get("/")
def search() -> Response:
    """Search by order number, status and creation day; newest first."""
    wanted = {name: request.args.get(name, "").strip() for name in ("out_trade_no", "status", "from", "to")}
    try:
        found = find_payments(
            get_session(),
            signed_in(),
            PaymentFilter(
                out_trade_no=wanted["out_trade_no"] or None,
                status=wanted["status"] if wanted["status"] in PAYMENT_STATUSES else None,
                created_from=local_day(wanted["from"], "From"),
                created_to=local_day(wanted["to"], "To", end=True),
            ),
        )
    except Invalid as error:
        return page(
            "console/payments.html",
            status=422,
            payments=[],
            wanted=wanted,
            statuses=PAYMENT_STATUSES,
            error=refusal(error),
        )
    return page("console/payments.html", payments=found, wanted=wanted, statuses=PAYMENT_STATUSES)


@blueprint.get("/<payment_id>")
def payment(payment_id: str) -> Response:
    """A payment with its refunds, notifications and ledger postings; another channel's is not found."""
    return _story(payment_id)


@blueprint.post("/<payment_id>/refunds")
def refund(payment_id: str) -> Response:
    """Give money back through the admin API's use-case: never more than remains, audited with its reason."""
    try:
        give_refund(signed_in(), payment_id, fen_from_yuan(text("amount")), text("reason"))
    except (Invalid, Conflict, UpstreamUnavailable) as error:
        get_session().rollback()
        status = {"invalid": 422, "conflict": 409}.get(error.kind, 503)
        return _story(payment_id, status=status, error=refusal(error), form=request.form)
    flash(translate("payment.refund_requested", g.language))
    return redirect(url_for("console.payments.payment", payment_id=payment_id))  # type: ignore[return-value]


def _story(payment_id: str, *, status: int = 200, error: str | None = None, form: object = None) -> Response:
    story = payment_story(get_session(), signed_in(), payment_id)
    return page("console/payment.html", status=status, story=story, error=error, form=form or {})
