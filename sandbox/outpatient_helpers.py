"""Helpers for the outpatient systems: who holds a slot, a clean ledger, the credentials.

* `GET /_sandbox/outpatient/slots/<system>/<slot_id>` -> the slot, its remaining places and
  every hold on it with its state (held, booked, cancelled, expired); no patient data.
* `DELETE /_sandbox/outpatient/holds` -> both systems forget every hold (every place is free again).
* `GET /_sandbox/outpatient/credentials` -> what citytiles needs to call both systems.
"""

from __future__ import annotations

import re

from flask import Blueprint
from flask import Response
from flask import jsonify
from werkzeug.exceptions import NotFound

from sandbox.helper_blueprints import helper_blueprint
from sandbox.helper_input import required_choice
from sandbox.helper_input import required_text
from sandbox.outpatient import SHENZHEN_HEALTH_PLATFORM
from sandbox.outpatient import ZHEYI_HIS
from sandbox.world import World

SLOT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def create_outpatient_helpers_blueprint(world: World) -> Blueprint:
    """The outpatient helpers under /_sandbox/outpatient/."""
    bp = helper_blueprint("outpatient_helpers", __name__)

    @bp.get("/outpatient/slots/<system_name>/<slot_id>")
    def slot(system_name: str, slot_id: str) -> Response:
        given = {"system": system_name, "slot_id": slot_id}
        system = world.outpatient.system(required_choice(given, "system", (ZHEYI_HIS, SHENZHEN_HEALTH_PLATFORM)))
        found = system.catalogue.slot(required_text(given, "slot_id", pattern=SLOT_ID)) if system else None
        if system is None or found is None:
            raise NotFound(f"{system_name} has no slot {slot_id}")
        holds = system.ledger.holds_on(found.slot_id)
        return jsonify(
            {
                "system": system.name,
                "slot_id": found.slot_id,
                "hospital": {"code": found.hospital.code, "name": found.hospital.name},
                "department": {"code": found.department.code, "name": found.department.name},
                "doctor": {"code": found.doctor.code, "name": found.doctor.name, "title": found.doctor.title},
                "start": found.start.isoformat(),
                "end": found.end.isoformat(),
                "fee": found.fee,
                "capacity": found.capacity,
                "remaining": system.ledger.remaining(found),
                "holds": [hold.describe() for hold in holds],
            }
        )

    @bp.delete("/outpatient/holds")
    def forget_holds() -> Response:
        world.outpatient.zheyi_his.ledger.clear()
        world.outpatient.shenzhen_health_platform.ledger.clear()
        return jsonify({"cleared": True})

    @bp.get("/outpatient/credentials")
    def credentials() -> Response:
        held = world.outpatient.credentials
        return jsonify(
            {
                ZHEYI_HIS: {"api_key": held.zheyi_api_key, "api_key_file": str(held.zheyi_api_key_file)},
                SHENZHEN_HEALTH_PLATFORM: {
                    "app_id": held.shenzhen_app_id,
                    "app_secret": held.shenzhen_app_secret,
                    "app_secret_file": str(held.shenzhen_app_secret_file),
                },
            }
        )

    return bp
