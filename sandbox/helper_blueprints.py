"""A blueprint for more /_sandbox/ helpers, answering bad input as sandbox.control's helpers do."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint
from flask import Response
from flask import jsonify

from sandbox.helper_input import HelperError
from sandbox.helper_input import error_body


def helper_blueprint(name: str, import_name: str, statuses: Mapping[str, int] | None = None) -> Blueprint:
    """A blueprint under /_sandbox: HelperErrors answer 400 (or statuses[code]), and nothing is cached."""
    bp = Blueprint(name, import_name, url_prefix="/_sandbox")
    status_of = dict(statuses or {})

    @bp.errorhandler(HelperError)
    def bad_input(error: HelperError) -> tuple[Response, int]:
        return jsonify(error_body(error.code, error.message, error.details)), status_of.get(error.code, 400)

    @bp.after_request
    def hygiene(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # credentials and who holds what
        return response

    return bp
