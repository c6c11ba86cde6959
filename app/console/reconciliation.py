"""Channel admins' reconciliation pages: runs, a run's summary and differences, a difference beside the payment, review.

The pages call the admin API's use-cases (billing/reconciliation/review.py, and the API's own
`reconcile_day` and `approve_resolution`), so the console and the API keep the same rules: the
merchant a run is for, no day in the future, and four eyes on every resolution that moves money.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for
from sqlalchemy.orm import Session

from app.console.forms import calendar_day
from app.console.forms import fen_from_yuan
from app.console.forms import optional_text
from app.console.forms import text
from app.console.frame import page
from app.console.frame import refusal
from app.console.frame import signed_in
from app.console.texts import translate
from app.db_session import get_session
from app.errors import STATUS_BY_KIND
from app.routes.admin_reconciliation import approve_resolution
from app.routes.admin_reconciliation import csv_download
from app.routes.admin_reconciliation import reconcile_day
from billing.administration import CHANNELS
from billing.administration import payment_story
from billing.bill_lines import BEIJING
from billing.reconciliation import models as rc
from billing.reconciliation import review
from billing.reconciliation.export import discrepancies_csv
from billing.reconciliation.export import runs_csv
from errors import Conflict
from errors import Invalid
from errors import NotFound
from errors import UpstreamUnavailable
from identity.audit import read_audit_log
from identity.models import StaffMember

blueprint = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")
# How many of a run's unreadable bill lines its page names; the rest are in the count.
BAD_LINES_SHOWN = 5
# The approval form's two buttons.
DECISIONS = {"approve": True, "send_back": False}


@blueprint.get("/")
def runs() -> Response:
    """Runs of the admin's channels, latest day first, and the form that asks for a day."""
    return _runs_page()


@blueprint.post("/")
def reconcile() -> Response:
    """Ask for a merchant's run of a day; the background tasks carry it out and the run's page shows how it went."""
    try:
        channel = text("channel")
        if channel not in CHANNELS:
            raise Invalid("request.invalid", "Choose a channel.", {"channel": "unknown"})
        day = calendar_day(text("date"), "Date")
        if day is None:
            raise Invalid("request.invalid", "Date: use a date such as 2026-11-18.", {"date": "required"})
        run = reconcile_day(signed_in(), channel, day, optional_text("merchant_id"))
    except (Invalid, Conflict, NotFound) as error:
        get_session().rollback()
        return _runs_page(status=STATUS_BY_KIND[error.kind], error=refusal(error), form=request.form)
    flash(translate("reconciliation.asked", g.language))
    return redirect(url_for("console.reconciliation.run", run_id=run.public_id))  # type: ignore[return-value]


@blueprint.get("/runs.csv")
def export_runs() -> Response:
    """The listed runs as CSV for finance teams' Excel: UTF-8 with BOM, yuan, Beijing times."""
    found = review.find_runs(get_session(), signed_in(), _run_filter(_wanted_runs()))
    return csv_download(runs_csv(found), "reconciliation-runs.csv")


@blueprint.get("/<run_id>")
def run(run_id: str) -> Response:
    """A run's status, its summary side by side (the bill, our books) and its differences by kind and state."""
    session, staff = get_session(), signed_in()
    found_run = review.run_of(session, staff, run_id)
    wanted = _wanted_discrepancies()
    found = review.discrepancies_of(session, staff, run_id, _discrepancy_filter(wanted))
    return page(
        "console/reconciliation_run.html",
        run=found_run,
        summary=found_run.summary,
        bad_lines=(found_run.bad_lines or [])[:BAD_LINES_SHOWN],
        discrepancies=found,
        wanted=wanted,
        kinds=rc.KINDS,
        states=rc.STATES,
    )


@blueprint.get("/<run_id>/discrepancies.csv")
def export_discrepancies(run_id: str) -> Response:
    """A run's listed differences as CSV for finance teams' Excel."""
    session, staff = get_session(), signed_in()
    found_run = review.run_of(session, staff, run_id)
    found = review.discrepancies_of(session, staff, run_id, _discrepancy_filter(_wanted_discrepancies()))
    return csv_download(
        discrepancies_csv(found_run, found), f"discrepancies-{found_run.channel}-{found_run.day.isoformat()}.csv"
    )


@blueprint.get("/discrepancies/<discrepancy_id>")
def discrepancy(discrepancy_id: str) -> Response:
    """The bill's line beside the payment's whole story, the review so far, and the forms of the next step."""
    return _discrepancy_page(discrepancy_id)


@blueprint.post("/discrepancies/<discrepancy_id>/resolution")
def resolve(discrepancy_id: str) -> Response:
    """Resolve with a note; a refund (typed in yuan) or a write-off waits for a second channel admin."""
    try:
        amount = text("refund_yuan")
        resolved = review.resolve(
            get_session(),
            signed_in(),
            discrepancy_id,
            text("resolution"),
            text("note"),
            fen_from_yuan(amount) if amount else None,
            current_app.extensions["clock"](),
        )
    except (Invalid, Conflict) as error:
        get_session().rollback()
        return _discrepancy_page(
            discrepancy_id, status=STATUS_BY_KIND[error.kind], error=refusal(error), form=request.form
        )
    waits = resolved.state == rc.AWAITING_APPROVAL
    flash(translate("reconciliation.awaiting_flash" if waits else "reconciliation.resolved_flash", g.language))
    return redirect(url_for("console.reconciliation.discrepancy", discrepancy_id=discrepancy_id))  # type: ignore[return-value]


@blueprint.post("/discrepancies/<discrepancy_id>/approval")
def approve(discrepancy_id: str) -> Response:
    """Approve (the money moves now) or send back another admin's resolution, with a note."""
    try:
        decision = text("decision")
        if decision not in DECISIONS:
            raise Invalid("request.invalid", "Approve or send back.", {"decision": "unknown"})
        approve_resolution(signed_in(), discrepancy_id, DECISIONS[decision], text("note"))
    except (Invalid, Conflict, UpstreamUnavailable) as error:
        get_session().rollback()
        return _discrepancy_page(
            discrepancy_id, status=STATUS_BY_KIND[error.kind], error=refusal(error), form=request.form
        )
    done = "reconciliation.approved_flash" if DECISIONS[decision] else "reconciliation.sent_back_flash"
    flash(translate(done, g.language))
    return redirect(url_for("console.reconciliation.discrepancy", discrepancy_id=discrepancy_id))  # type: ignore[return-value]


def _runs_page(*, status: int = 200, error: str | None = None, form: Any = None) -> Response:
    wanted = _wanted_runs()
    staff = signed_in()
    today = current_app.extensions["clock"]().astimezone(BEIJING).date()
    context = {
        "wanted": wanted,
        "channels": CHANNELS,
        "statuses": rc.RUN_STATUSES,
        "own_channels": [c for c in CHANNELS if c in staff.channels],
        "merchants": [(c, m) for c, m in current_app.extensions["reconciler"].merchants() if c in staff.channels],
        "today": today.isoformat(),
        "form": form or {},
    }
    try:
        found = review.find_runs(get_session(), staff, _run_filter(wanted))
    except Invalid as refused:
        return page("console/reconciliation_runs.html", status=422, runs=[], error=refusal(refused), **context)
    return page("console/reconciliation_runs.html", status=status, runs=found, error=error, **context)


def _wanted_runs() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in ("channel", "status", "from", "to")}


def _run_filter(wanted: dict[str, str]) -> review.RunFilter:
    return review.RunFilter(
        channel=wanted["channel"] if wanted["channel"] in CHANNELS else None,
        status=wanted["status"] if wanted["status"] in rc.RUN_STATUSES else None,
        day_from=calendar_day(wanted["from"], "From"),
        day_to=calendar_day(wanted["to"], "To"),
    )


def _wanted_discrepancies() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in ("kind", "state")}


def _discrepancy_filter(wanted: dict[str, str]) -> review.DiscrepancyFilter:
    return review.DiscrepancyFilter(
        kind=wanted["kind"] if wanted["kind"] in rc.KINDS else None,
        state=wanted["state"] if wanted["state"] in rc.STATES else None,
    )


def _discrepancy_page(public_id: str, *, status: int = 200, error: str | None = None, form: Any = None) -> Response:
    session, staff = get_session(), signed_in()
    found, found_run = review.discrepancy_of(session, staff, public_id)
    payment_id = review.payment_public_id(session, found)
    record = found.bill_record or {}
    return page(
        "console/discrepancy.html",
        status=status,
        error=error,
        form=form or {},
        item=found,
        run=found_run,
        record=record,
        bill_at=_moment(record.get("at")),
        story=payment_story(session, staff, payment_id) if payment_id else None,
        resolved_by=_who(session, found.resolved_by),
        approved_by=_who(session, found.approved_by),
        # Every step, sent-back resolutions too: the discrepancy's row keeps only the latest.
        history=reversed(read_audit_log(session, staff, target=f"discrepancy:{found.public_id}", limit=100)),
        resolutions=rc.RESOLUTIONS,
        awaiting=found.state == rc.AWAITING_APPROVAL,
        is_maker=found.resolved_by == staff.id,
    )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _who(session: Session, staff_id: int | None) -> str | None:
    """A reviewer as staff read them: display name and username."""
    if staff_id is None:
        return None
    member = session.get(StaffMember, staff_id)
    return f"{member.display_name} ({member.username})" if member is not None else f"#{staff_id}"
