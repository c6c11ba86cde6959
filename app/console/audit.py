"""The audit log page: newest first, filtered by actor, action and days, within the reader's scope."""

from __future__ import annotations

import re

from flask import Blueprint
from flask import Response
from flask import request

from app.console.forms import local_day
from app.console.frame import page
from app.console.frame import signed_in
from app.db_session import get_session
from errors import Invalid
from identity.audit import read_audit_log

blueprint = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 50
# An entry id to page from: ASCII digits, small enough for the column.
_ENTRY_ID = re.compile(r"[0-9]{1,9}", re.ASCII)


@blueprint.get("/")
def audit_log() -> Response:
    """One page of entries; the oldest shown gives the link to the next."""
    wanted = {name: request.args.get(name, "").strip() for name in ("actor", "action", "from", "to", "before")}
    try:
        before = int(wanted["before"]) if _ENTRY_ID.fullmatch(wanted["before"]) else None
        entries = read_audit_log(
            get_session(),
            signed_in(),
            actor=wanted["actor"] or None,
            action=wanted["action"] or None,
            since=local_day(wanted["from"], "From"),
            until=local_day(wanted["to"], "To", end=True),
            before_id=before,
            limit=PAGE_SIZE,
        )
    except Invalid as error:
        return page("console/audit.html", status=422, entries=[], wanted=wanted, error=error.message, older=None)
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    return page("console/audit.html", entries=entries, wanted=wanted, older=older)
