"""Channel admins' reconciliation: ask for a day's run, read runs and discrepancies, resolve and approve, export CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import stream_with_context

from app.db_session import get_session
from app.operations import operation
from app.schemas.reconciliation import ApprovalSchema
from app.schemas.reconciliation import DiscrepancyListSchema
from app.schemas.reconciliation import DiscrepancyQuerySchema
from app.schemas.reconciliation import DiscrepancySchema
from app.schemas.reconciliation import NewRunSchema
from app.schemas.reconciliation import ResolutionSchema
from app.schemas.reconciliation import RunListSchema
from app.schemas.reconciliation import RunQuerySchema
from app.schemas.reconciliation import RunSchema
from billing.bill_lines import BEIJING
from billing.reconciliation import review
from billing.reconciliation.export import discrepancies_csv
from billing.reconciliation.export import runs_csv
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from errors import Invalid
from errors import NotFound
from identity.models import StaffMember
from identity.roles import authorise

blueprint = Blueprint("admin_reconciliation", __name__, url_prefix="/admin/api")
ERRORS = ("auth.forbidden",)
RUN_ERRORS = (*ERRORS, "reconciliation.run_not_found")
DISCREPANCY_ERRORS = (*ERRORS, "reconciliation.discrepancy_not_found")
REVIEW_ERRORS = (
    *DISCREPANCY_ERRORS,
    "auth.channel_out_of_scope",
    "reconciliation.note_required",
    "reconciliation.resolution_unknown",
    "reconciliation.already_resolved",
    "reconciliation.not_awaiting_approval",
    "reconciliation.four_eyes",
    "reconciliation.nothing_to_refund",
    "billing.refund_amount_invalid",
    "billing.not_refundable",
    "billing.refund_exceeds_available",
    "billing.too_many_refunds",
    "billing.channel_unavailable",
)


@blueprint.post("/reconciliation-runs")
@operation(
    summary="Reconcile a channel's bill of a day (today's too); carried out in the background",
    tag="admin",
    body=NewRunSchema,
    response=RunSchema(),
    status=201,
    auth="staff",
    errors=(
        *ERRORS,
        "auth.channel_out_of_scope",
        "reconciliation.merchant_required",
        "reconciliation.merchant_not_found",
        "reconciliation.day_in_future",
    ),
    idempotent=True,
)
def new_run(staff: StaffMember, payload: dict[str, Any]) -> Any:
    """Asking again for a day queues its run again; the same bill matched again changes nothing."""
    return reconcile_day(staff, payload["channel"], payload["day"], payload.get("merchant_id"))


def reconcile_day(staff: StaffMember, channel: str, day: date, merchant_id: str | None) -> ReconciliationRun:
    """Queue a merchant's run for a Beijing day that has begun: the one way the admin API and the console ask."""
    authorise(staff, "reconciliation.run", channel=channel)
    now = current_app.extensions["clock"]()
    if day > now.astimezone(BEIJING).date():
        raise Invalid("reconciliation.day_in_future", "A bill is made for a day that has begun.", {"date": "future"})
    run = review.ask_as_staff(get_session(), staff, channel, _merchant(channel, merchant_id), day, now)
    current_app.extensions["tasks"].kick()
    return run


@blueprint.get("/reconciliation-runs")
@operation(
    summary="Reconciliation runs of my channels, latest day first",
    tag="admin",
    query=RunQuerySchema,
    response=RunListSchema(),
    auth="staff",
    errors=ERRORS,
)
def list_runs(staff: StaffMember, params: dict[str, Any]) -> dict[str, Any]:
    """A channel admin sees their channels' runs; a platform admin every channel's."""
    return {"runs": review.find_runs(get_session(), staff, review.RunFilter(**params))}


@blueprint.get("/reconciliation-runs.csv")
@operation(
    summary="The same runs as CSV (UTF-8 with BOM, yuan, Beijing times)",
    tag="admin",
    query=RunQuerySchema,
    auth="staff",
    errors=ERRORS,
)
def export_runs(staff: StaffMember, params: dict[str, Any]) -> Response:
    """For finance teams' Excel."""
    runs = review.find_runs(get_session(), staff, review.RunFilter(**params))
    return csv_download(runs_csv(runs), "reconciliation-runs.csv")


@blueprint.get("/reconciliation-runs/<run_id>")
@operation(
    summary="A run with its summary: counts and totals per side, fees, net settlement; it balances to the fen",
    tag="admin",
    response=RunSchema(),
    auth="staff",
    errors=RUN_ERRORS,
)
def read_run(staff: StaffMember, run_id: str) -> Any:
    """Another channel's run is not found."""
    return review.run_of(get_session(), staff, run_id)


@blueprint.get("/reconciliation-runs/<run_id>/discrepancies")
@operation(
    summary="A run's discrepancies by kind and state, in the bill's order",
    tag="admin",
    query=DiscrepancyQuerySchema,
    response=DiscrepancyListSchema(),
    auth="staff",
    errors=RUN_ERRORS,
)
def list_discrepancies(staff: StaffMember, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Each with its money at stake and its review."""
    found = review.discrepancies_of(get_session(), staff, run_id, review.DiscrepancyFilter(**params))
    return {"discrepancies": [described(item, run_id) for item in found]}


@blueprint.get("/reconciliation-runs/<run_id>/discrepancies.csv")
@operation(
    summary="A run's discrepancies as CSV (UTF-8 with BOM, yuan, Beijing times)",
    tag="admin",
    query=DiscrepancyQuerySchema,
    auth="staff",
    errors=RUN_ERRORS,
)
def export_discrepancies(staff: StaffMember, run_id: str, params: dict[str, Any]) -> Response:
    """For finance teams' Excel."""
    session = get_session()
    run = review.run_of(session, staff, run_id)
    found = review.discrepancies_of(session, staff, run_id, review.DiscrepancyFilter(**params))
    return csv_download(discrepancies_csv(run, found), f"discrepancies-{run.channel}-{run.day.isoformat()}.csv")


@blueprint.get("/discrepancies/<discrepancy_id>")
@operation(
    summary="A discrepancy with the bill's line; the payment's story is at /admin/api/payments/<payment_id>",
    tag="admin",
    response=DiscrepancySchema(),
    auth="staff",
    errors=DISCREPANCY_ERRORS,
)
def read_discrepancy(staff: StaffMember, discrepancy_id: str) -> dict[str, Any]:
    """Another channel's discrepancy is not found."""
    found, run = review.discrepancy_of(get_session(), staff, discrepancy_id)
    return described(found, run.public_id)


@blueprint.post("/discrepancies/<discrepancy_id>/resolution")
@operation(
    summary="Resolve a discrepancy with a note; a refund or write-off waits for a second admin's approval",
    tag="admin",
    body=ResolutionSchema,
    response=DiscrepancySchema(),
    auth="staff",
    errors=REVIEW_ERRORS,
)
def resolve(staff: StaffMember, discrepancy_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Audited; a second resolution of the same discrepancy is a conflict."""
    session = get_session()
    resolved = review.resolve(
        session,
        staff,
        discrepancy_id,
        payload["resolution"],
        payload["note"],
        payload.get("refund_fen"),
        current_app.extensions["clock"](),
    )
    return described(resolved, _run_public_id(resolved))


@blueprint.post("/discrepancies/<discrepancy_id>/approval")
@operation(
    summary="Approve (the money moves) or send back a resolution; never the admin who made it",
    tag="admin",
    body=ApprovalSchema,
    response=DiscrepancySchema(),
    auth="staff",
    errors=REVIEW_ERRORS,
)
def approve(staff: StaffMember, discrepancy_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Audited; the refund or the write-off lands in the transaction that marks the approval."""
    approved = approve_resolution(staff, discrepancy_id, payload["approve"], payload["note"])
    return described(approved, _run_public_id(approved))


def approve_resolution(staff: StaffMember, discrepancy_id: str, approved: bool, note: str) -> Discrepancy:
    """Approve or send back through the payment's own merchant: the one way the admin API and the console do."""
    desk = current_app.extensions["fee_desk"]
    found = review.approve(
        get_session(),
        staff,
        discrepancy_id,
        approved,
        note,
        desk.gateway_for,
        desk.notify_url_for,
        current_app.extensions["clock"],
    )
    current_app.extensions["tasks"].kick()  # the refund's follow-up, if the channel was away
    return found


def described(item: Discrepancy, run_public_id: str) -> dict[str, Any]:
    """A discrepancy in the admin API's words: the payment by its public id."""
    fields = {name: getattr(item, name) for name in DiscrepancySchema().fields if hasattr(item, name)}
    return {
        **fields,
        "public_id": item.public_id,
        "run": run_public_id,
        "payment_id": review.payment_public_id(get_session(), item),
    }


def _run_public_id(item: Discrepancy) -> str:
    run = get_session().get(ReconciliationRun, item.run_id)
    assert run is not None  # runs are never deleted
    return run.public_id


def _merchant(channel: str, named: str | None) -> str:
    merchants = [m for c, m in current_app.extensions["reconciler"].merchants() if c == channel]
    if named is not None:
        if named not in merchants:
            raise NotFound("reconciliation.merchant_not_found", "citytiles collects through no such merchant.")
        return named
    if len(merchants) != 1:
        raise Invalid(
            "reconciliation.merchant_required",
            "Name the merchant: the channel has several (or none).",
            {"merchant_id": "required"},
        )
    return merchants[0]


def csv_download(rows: Iterator[str], filename: str) -> Response:
    """Rows streamed as a CSV attachment, for the admin API and the console alike."""
    return Response(
        stream_with_context(row.encode("utf-8") for row in rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
