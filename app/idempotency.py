"""Idempotency-Key on the POSTs that create payments, appointments and refunds (24 hours, per caller).

The same key and body give the first answer again (`Idempotent-Replayed: true`); the same key with
another body is 409 `request.idempotency_key_reused`; while the first request runs, 409
`request.idempotency_in_progress`. Only successful answers are kept: a failed attempt frees its key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from app.db_session import get_session
from database.idempotency import IN_PROGRESS
from database.idempotency import MISMATCH
from database.idempotency import REPLAY
from database.idempotency import claim_key
from database.idempotency import free_key
from database.idempotency import keep_answer
from errors import Conflict
from errors import Invalid

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)


def caller_of(arguments: dict[str, Any]) -> str:
    """Whose keys these are: each caller has a key space of their own."""
    if "staff" in arguments:
        return f"staff:{arguments['staff'].id}"
    return f"resident:{arguments['signed_in'].resident.id}"


def once_per_key(caller: str, key: str, answer: Callable[[], Any]) -> Any:
    """The first answer for the caller's key, computed once."""
    if _KEY.fullmatch(key) is None:
        raise Invalid("request.invalid_idempotency_key", "An Idempotency-Key is 1 to 64 letters, digits or _.:-")
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.path.encode(), request.get_data(cache=True)])
    ).hexdigest()
    session = get_session()
    claim = claim_key(session, caller, key, fingerprint, current_app.extensions["clock"]())
    if claim.outcome == REPLAY:
        replayed: Response = jsonify(claim.answer)
        replayed.status_code = claim.status or 200
        replayed.headers["Idempotent-Replayed"] = "true"
        return replayed
    if claim.outcome == MISMATCH:
        raise Conflict("request.idempotency_key_reused", "This Idempotency-Key was used with another request.")
    if claim.outcome == IN_PROGRESS:
        raise Conflict("request.idempotency_in_progress", "The first request with this key is still running.")
    try:
        produced = answer()
    except BaseException:
        free_key(session, caller, key)
        raise
    if not isinstance(produced, Response):
        data, status = produced
        keep_answer(session, caller, key, status, data)
    return produced
