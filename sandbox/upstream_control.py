"""Test helpers for the city upstream systems: open fund accounts, register vehicles, move tickets along.

Same contract as the other /_sandbox/ helpers (sandbox.control): JSON in and out, input read through
sandbox.helper_input, bad input answered 400 `{"error": {"code", "message", "details"}}`; an unknown
ticket is 404 sandbox.not_found and a status change the ticket does not allow is 409 sandbox.conflict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from sandbox.car_move import ACKNOWLEDGED
from sandbox.car_move import MOVED
from sandbox.car_move import PLATE
from sandbox.car_move import PLATE_TYPES
from sandbox.car_move import PROVINCE
from sandbox.car_move import SYSTEMS as CAR_MOVE_SYSTEMS
from sandbox.car_move import UNREACHABLE
from sandbox.car_move import Ticket
from sandbox.car_move import TicketConflict
from sandbox.car_move import Vehicle
from sandbox.car_move import default_plate_type
from sandbox.helper_input import HelperError
from sandbox.helper_input import choice
from sandbox.helper_input import error_body
from sandbox.helper_input import flag
from sandbox.helper_input import json_object
from sandbox.helper_input import nested_object
from sandbox.helper_input import required_choice
from sandbox.helper_input import required_text
from sandbox.helper_input import text
from sandbox.helper_input import whole_number
from sandbox.helper_input import within
from sandbox.housing_fund import ENTRY_KINDS
from sandbox.housing_fund import NORMAL
from sandbox.housing_fund import STATUSES
from sandbox.housing_fund import SYSTEMS as HOUSING_FUND_SYSTEMS
from sandbox.housing_fund import EntryInput
from sandbox.housing_fund import LoanInput
from sandbox.residents import ID_NUMBER
from sandbox.residents import REAL_NAME
from sandbox.world import World

NOT_FOUND = "sandbox.not_found"
CONFLICT = "sandbox.conflict"
_STATUS_OF_CODE = {NOT_FOUND: 404, CONFLICT: 409}
_ACCOUNT_FIELDS = ("system", "id_number", "name", "balance_fen", "monthly_fen", "status", "records", "loan")
_ENTRY_FIELDS = ("date", "kind", "amount_fen")
_LOAN_FIELDS = ("principal_fen", "balance_fen", "issued_on", "term_months", "rate_bp", "overdue_periods")
_VEHICLE_FIELDS = ("system", "plate", "owner_id_number", "plate_type", "owner_reachable")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TICKET_NO = re.compile(r"[A-Z0-9]{1,40}")
_MAX_FEN = 10**12  # ten billion yuan
_MAX_ENTRIES = 500
_SETTABLE = (ACKNOWLEDGED, MOVED, UNREACHABLE)


def create_upstream_control_blueprint(world: World) -> Blueprint:
    """Routes under /_sandbox/ for the housing-fund and traffic-police systems."""
    bp = Blueprint("upstream_control", __name__, url_prefix="/_sandbox")

    @bp.errorhandler(HelperError)
    def bad_input(error: HelperError) -> tuple[Response, int]:
        return jsonify(error_body(error.code, error.message, error.details)), _STATUS_OF_CODE.get(error.code, 400)

    @bp.after_request
    def hygiene(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # credentials and identities
        return response

    @bp.get("/upstreams")
    def describe() -> Response:
        credentials = {**world.housing_fund.credentials, **world.car_move.credentials}
        return jsonify(
            {
                "state_dir": str(world.config.state_dir),
                "systems": [
                    {
                        "system": system,
                        "service": "housing_fund" if system in HOUSING_FUND_SYSTEMS else "car_move",
                        "base_path": "/upstreams/" + system.replace("_", "-"),
                        "client_id": credential.client_id,
                        "secret": credential.secret,
                        "secret_file": str(credential.path),
                        "fault_target": ("housing_fund." if system in HOUSING_FUND_SYSTEMS else "car_move.") + system,
                    }
                    for system, credential in credentials.items()
                ],
            }
        )

    @bp.post("/housing-fund/accounts")
    def open_account() -> tuple[Response, int]:
        body = json_object(_ACCOUNT_FIELDS)
        system = required_choice(body, "system", HOUSING_FUND_SYSTEMS)
        id_number = required_text(body, "id_number", pattern=ID_NUMBER)
        name = required_text(body, "name", pattern=REAL_NAME)
        balance = _required_fen(body, "balance_fen")
        monthly = _fen(body, "monthly_fen") or 0
        status = choice(body, "status", STATUSES) or NORMAL
        entries = _entries(body.get("records"))
        loan = _loan(body.get("loan"))
        account, replaced = world.housing_fund.accounts.open_account(
            system, id_number, name, balance, monthly_fen=monthly, status=status, entries=entries, loan=loan
        )
        answer = {
            "system": system,
            "account_number": account.account_number,
            "status": account.status,
            "balance_fen": account.balance_fen,
            "monthly_fen": account.monthly_fen,
            "records": len(account.entries),
            "loan": account.loan is not None,
            "replaced": replaced,
        }
        return jsonify(answer), 200 if replaced else 201

    @bp.post("/vehicles")
    def register_vehicle() -> tuple[Response, int]:
        body = json_object(_VEHICLE_FIELDS)
        system = required_choice(body, "system", CAR_MOVE_SYSTEMS)
        plate = required_text(body, "plate", pattern=PLATE)
        if not plate.startswith(PROVINCE[system]):
            raise HelperError("plate of another province", {"plate": f"{system} registers {PROVINCE[system]} plates"})
        owner = required_text(body, "owner_id_number", pattern=ID_NUMBER)
        plate_type = choice(body, "plate_type", PLATE_TYPES) or default_plate_type(plate)
        vehicle = Vehicle(system, plate, plate_type, owner, flag(body, "owner_reachable", default=True))
        replaced = world.car_move.records.register(vehicle)
        answer = {"system": system, "plate": plate, "plate_type": plate_type, "replaced": replaced}
        return jsonify(answer), 200 if replaced else 201

    @bp.get("/car-move/tickets")
    def list_tickets() -> Response:
        system = choice(request.args, "system", CAR_MOVE_SYSTEMS)
        plate = text(request.args, "plate", pattern=PLATE)
        return jsonify({"tickets": [_ticket(t) for t in world.car_move.records.tickets(system, plate)]})

    @bp.post("/car-move/tickets/<ticket_no>/status")
    def set_status(ticket_no: str) -> Response:
        status = required_choice(json_object(("status",)), "status", _SETTABLE)
        if not _TICKET_NO.fullmatch(ticket_no):
            raise HelperError("no such ticket", {"ticket_no": "unknown"}, NOT_FOUND)
        try:
            ticket = world.car_move.records.move_to(ticket_no, status)
        except TicketConflict as conflict:
            raise HelperError(str(conflict), {"status": str(conflict)}, CONFLICT) from None
        if ticket is None:
            raise HelperError("no such ticket", {"ticket_no": "unknown"}, NOT_FOUND)
        return jsonify(_ticket(ticket))

    return bp


def _ticket(ticket: Ticket) -> dict[str, Any]:
    location = ticket.location
    return {
        "ticket_no": ticket.ticket_no,
        "system": ticket.system,
        "request_no": ticket.request_no,
        "plate": ticket.plate,
        "plate_type": ticket.plate_type,
        "requester_ref": ticket.requester_ref,
        "location": {"address": location.address, "longitude": location.longitude, "latitude": location.latitude},
        "message": ticket.message,
        "status": ticket.status,
        "owner_reachable": ticket.owner_reachable,
        "automatic": ticket.automatic,
        "events": [{"status": status, "at": at} for status, at in ticket.events],
    }


def _fen(fields: Mapping[str, Any], key: str, *, low: int = 0) -> int | None:
    return whole_number(fields, key, low=low, high=_MAX_FEN)


def _required_fen(fields: Mapping[str, Any], key: str, *, low: int = 0) -> int:
    value = _fen(fields, key, low=low)
    if value is None:
        raise HelperError(f"{key} is required", {key: f"an integer in [{low}, {_MAX_FEN}]"})
    return value


def _day(fields: Mapping[str, Any], key: str) -> date:
    value = required_text(fields, key, pattern=_ISO_DATE)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HelperError(f"{key} is not a date", {key: "a real date, YYYY-MM-DD"}) from None


def _entries(value: object) -> list[EntryInput] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > _MAX_ENTRIES:
        raise HelperError("records must be a list", {"records": f"a list of at most {_MAX_ENTRIES} objects"})
    entries = []
    for index, item in enumerate(value):
        path = f"records[{index}]"
        with within(path):
            entry = nested_object(item, path, _ENTRY_FIELDS)
            posted_on, kind = _day(entry, "date"), required_choice(entry, "kind", ENTRY_KINDS)
            entries.append(EntryInput(posted_on, kind, _required_fen(entry, "amount_fen", low=1)))
    return entries


def _loan(value: object) -> LoanInput | None:
    if value is None:
        return None
    with within("loan"):
        loan = nested_object(value, "loan", _LOAN_FIELDS)
        principal = _required_fen(loan, "principal_fen", low=1)
        balance = _required_fen(loan, "balance_fen")
        if balance > principal:
            raise HelperError("the balance exceeds the principal", {"balance_fen": "at most principal_fen"})
        term = whole_number(loan, "term_months", low=1, high=480)
        if term is None:
            raise HelperError("term_months is required", {"term_months": "an integer in [1, 480]"})
        rate = whole_number(loan, "rate_bp", low=0, high=2000)
        return LoanInput(
            principal_fen=principal,
            balance_fen=balance,
            issued_on=_day(loan, "issued_on"),
            term_months=term,
            rate_bp=310 if rate is None else rate,
            overdue_periods=whole_number(loan, "overdue_periods", low=0, high=480) or 0,
        )
