"""Reading what callers send the outpatient systems: parameters, dates and patients, checked in full.

Each check takes the system's own error factory, so a bad request is answered in that system's
format. Messages name the field and what it must be, never the value (it may be personal data).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from datetime import date

from werkzeug.datastructures import MultiDict

from sandbox.residents import ID_NUMBER
from sandbox.residents import PHONE
from sandbox.residents import REAL_NAME

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Refuse = Callable[[str], Exception]


def only_parameters(args: MultiDict[str, str], allowed: Collection[str], refuse: Refuse) -> dict[str, str]:
    """Query parameters as a dict: none outside allowed, none repeated."""
    unknown = sorted(key for key in args if key not in allowed)
    if unknown:
        raise refuse(f"unknown parameters: {', '.join(unknown)}")
    repeated = sorted(key for key in args if len(args.getlist(key)) > 1)
    if repeated:
        raise refuse(f"repeated parameters: {', '.join(repeated)}")
    return {key: args[key] for key in args}


def day_parameter(value: object, refuse: Refuse) -> date | None:
    """A YYYY-MM-DD date, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise refuse("date must be YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise refuse("date is not a calendar date") from None


def patient_problem(patient: Mapping[str, object], wire: Mapping[str, str]) -> str | None:
    """What is wrong with a patient's fields (named as the system names them), or None.

    wire maps name, id_number and phone to the system's own field names; phone is optional.
    """
    unknown = sorted(key for key in patient if key not in wire.values())
    if unknown:
        return f"{unknown[0]} is not a patient field"
    for field, pattern, required in (
        ("name", REAL_NAME, True),
        ("id_number", ID_NUMBER, True),
        ("phone", PHONE, False),
    ):
        value = patient.get(wire[field])
        if value is None and not required:
            continue
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"{wire[field]} must match {pattern.pattern}"
    return None
