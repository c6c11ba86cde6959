"""Outpatient appointments: hospitals, departments, schedules and the resident's appointments."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.strict import StrictText
from city_services.outpatient.models import STATUSES
from city_services.outpatient.service import SlotChoice

UPSTREAM_ID = r"[A-Za-z0-9_-]{1,64}"
CITY = r"[0-9]{6}"
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
SHOWN_STATUSES = tuple(s for s in STATUSES if s != "holding")


class HospitalSchema(Schema):
    """A hospital (or campus) the city's platform books for."""

    id = fields.String(required=True, attribute="hospital_id", metadata={"example": "ZY01"})
    name = fields.String(required=True)
    level = fields.String(allow_none=True, metadata={"example": "三级甲等"})
    district = fields.String(allow_none=True)


class HospitalsSchema(Schema):
    """A city's hospitals."""

    city = fields.String(required=True)
    hospitals = fields.List(fields.Nested(HospitalSchema), required=True)


class DepartmentSchema(Schema):
    """A clinic of one hospital."""

    id = fields.String(required=True, attribute="department_id", metadata={"example": "ZY01-XHNK"})
    hospital_id = fields.String(required=True)
    name = fields.String(required=True)


class DepartmentsSchema(Schema):
    """A hospital's departments."""

    hospital_id = fields.String(required=True)
    departments = fields.List(fields.Nested(DepartmentSchema), required=True)


class SlotSchema(Schema):
    """One doctor's hour: the fee in fen and the places left."""

    id = fields.String(required=True, attribute="slot_id")
    doctor = fields.String(required=True)
    doctor_title = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    fee_fen = fields.Integer(required=True, metadata={"description": "0 for a free clinic."})
    remaining = fields.Integer(required=True)


class SchedulesQuerySchema(Schema):
    """Which day (Beijing time), within today and the six days after."""

    date = StrictText(max_length=10, required=True, pattern=DATE, pattern_error="Send the date as YYYY-MM-DD.")

    @post_load
    def read_date(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A real calendar date, not just its shape."""
        try:
            data["date"] = date.fromisoformat(data["date"])
        except ValueError:
            raise ValidationError({"date": ["Not a calendar date."]}) from None
        return data


class SchedulesSchema(Schema):
    """A department's slots on one day."""

    hospital_id = fields.String(required=True)
    department_id = fields.String(required=True)
    date = fields.Date(required=True)
    slots = fields.List(fields.Nested(SlotSchema), required=True)


class HoldRequestSchema(Schema):
    """The slot to hold, as the schedules named it."""

    city = StrictText(max_length=6, required=True, pattern=CITY, metadata={"example": "330100"})
    hospital_id = StrictText(max_length=64, required=True, pattern=UPSTREAM_ID)
    department_id = StrictText(max_length=64, required=True, pattern=UPSTREAM_ID)
    slot_id = StrictText(max_length=64, required=True, pattern=UPSTREAM_ID)

    @post_load
    def choice(self, data: dict[str, str], **kwargs: Any) -> SlotChoice:
        """The use-case's own type."""
        return SlotChoice(**data)


class AppointmentSchema(Schema):
    """An appointment: held (a paid slot waits for payment until expires_at), confirmed, cancelled or expired."""

    id = fields.String(required=True)
    city = fields.String(required=True)
    hospital_id = fields.String(required=True)
    hospital_name = fields.String(required=True, metadata={"example": "浙江大学医学院附属第一医院（庆春院区）"})
    department_id = fields.String(required=True)
    department_name = fields.String(required=True, metadata={"example": "消化内科"})
    slot_id = fields.String(required=True)
    doctor = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    fee_fen = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SHOWN_STATUSES))
    expires_at = fields.AwareDateTime(allow_none=True, metadata={"description": "Until when a held place is kept."})
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    payment_id = fields.String(
        allow_none=True, metadata={"description": "The fee's payment (GET /api/v1/payments/{id}); none when free."}
    )
    cancel_until = fields.AwareDateTime(
        allow_none=True, metadata={"description": "A paid place may be cancelled here until then."}
    )
    refund_on_cancel_fen = fields.Integer(
        allow_none=True, metadata={"description": "What comes back of the fee when the resident cancels in time."}
    )


class AppointmentsSchema(Schema):
    """The resident's appointments, newest first."""

    appointments = fields.List(fields.Nested(AppointmentSchema), required=True)
