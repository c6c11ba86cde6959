"""The one JSON error shape, and the table from error kinds to HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import jsonify
from flask import request
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.error_codes import ERROR_CODES
from errors import DomainError
from errors import TooManyRequests
from errors import UpstreamUnavailable

log = logging.getLogger("citytiles.errors")
security_log = logging.getLogger("citytiles.security")
# Refusals worth a security event: someone tried a credential or an action they do not hold.
SECURITY_KINDS = ("unauthenticated", "forbidden")

STATUS_BY_KIND = {
    "malformed": 400,
    "unsupported_media_type": 415,
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "unauthenticated": 401,
    "forbidden": 403,
    "too_many_requests": 429,
    "unavailable": 503,
}

# The code for each status Werkzeug itself raises; meanings live in app/error_codes.py.
CODE_BY_HTTP_STATUS = {
    400: "request.malformed",
    404: "request.route_not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "request.invalid",
}


class MalformedRequest(DomainError):
    """The request could not be read at all."""

    kind = "malformed"


class UnsupportedMediaType(DomainError):
    """The body is not in a format the endpoint reads."""

    kind = "unsupported_media_type"


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """Build the one error body every endpoint uses."""
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def handle_domain_error(error: DomainError) -> Response:
    """Map a business error to its status by kind; refused credentials and actions are security events."""
    if error.kind in SECURITY_KINDS:
        security_log.warning(
            "refused",
            extra={
                "code": error.code,
                "method": request.method,
                "path": request.path,
                "request_id": g.get("request_id"),
            },
        )
    response = error_response(STATUS_BY_KIND[error.kind], error.code, error.message, error.details)
    if isinstance(error, (TooManyRequests, UpstreamUnavailable)):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def handle_validation_error(error: ValidationError) -> Response:
    """Field-level messages for a body or query that failed its schema."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return error_response(422, "request.invalid", "Some fields are missing or invalid.", {"fields": messages})


def handle_http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405, 413, ...) in our shape instead of an HTML page."""
    status = error.code or 500
    if status >= 500:
        return handle_unexpected_error(error)
    code = CODE_BY_HTTP_STATUS.get(status, "request.malformed")
    response = error_response(status, code, ERROR_CODES[code][1])
    if status == 405:
        for name, value in error.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
    return response


# A statement that lost to another transaction: PostgreSQL's SQLSTATEs and SQLite's extended names.
LOST_RACE = {"23505", "40001", "40P01", "55P03", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
DATABASE_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT"}


def handle_database_error(error: IntegrityError | OperationalError) -> Response:
    """A race the use-case did not name is still a race: 409 to the loser, 503 when the database is busy."""
    reason = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "sqlite_errorname", None)
    if reason in LOST_RACE:
        log.warning("lost a race", extra={"reason": reason, "request_id": g.get("request_id")})
        return error_response(409, "request.conflict", ERROR_CODES["request.conflict"][1])
    if reason in DATABASE_BUSY:
        log.warning("database busy", extra={"reason": reason, "request_id": g.get("request_id")})
        response = error_response(503, "database.busy", ERROR_CODES["database.busy"][1])
        response.headers["Retry-After"] = "1"
        return response
    return handle_unexpected_error(error)


def handle_unexpected_error(error: Exception) -> Response:
    """Log the failure with the request id and answer without a stack trace."""
    request_id = g.get("request_id", "")
    log.exception("unhandled error", extra={"request_id": request_id})
    return error_response(500, "internal_error", ERROR_CODES["internal_error"][1], {"request_id": request_id})


def register_errors(app: Flask) -> None:
    """Route every error through the one shape."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(IntegrityError, handle_database_error)
    app.register_error_handler(OperationalError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_error)
