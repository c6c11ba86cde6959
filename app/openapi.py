"""The OpenAPI 3 document, built from the routes' declared operations and their marshmallow schemas."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from app.error_codes import AUTHENTICATED
from app.error_codes import ERROR_CODES
from app.error_codes import EVERY_OPERATION
from app.error_codes import IDEMPOTENT
from app.error_codes import WITH_BODY
from app.error_codes import WITH_PATH_PARAMETERS
from app.error_codes import WITH_QUERY
from app.error_codes import WRITES
from app.operations import Operation
from app.schemas.errors import ErrorSchema

_PATH_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def build_openapi(app: Flask) -> dict[str, Any]:
    """Describe every endpoint that declares an operation, with its schemas and error codes."""
    spec = APISpec(
        title="citytiles",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "City services inside WeChat and Alipay. Every error has the body `Error`."},
    )
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        described: Operation | None = getattr(app.view_functions[rule.endpoint], "operation", None)
        if described is None:
            continue
        path = _PATH_ARGUMENT.sub(r"{\1}", rule.rule)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        spec.path(
            path=path, operations={m.lower(): _operation(rule.endpoint, rule.arguments, described, m) for m in methods}
        )
    document = spec.to_dict()
    document["x-error-codes"] = {code: {"status": s, "description": d} for code, (s, d) in ERROR_CODES.items()}
    return document


def error_codes_of(
    described: Operation, method: str = "GET", path_arguments: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Every error code an operation can answer with, its own and those its kind implies."""
    codes = list(described.errors) + list(EVERY_OPERATION)
    if method not in ("GET", "HEAD", "OPTIONS"):
        codes += WRITES
    if path_arguments:
        codes += WITH_PATH_PARAMETERS
    if described.body is not None:
        codes += WITH_BODY
    if described.query is not None:
        codes += WITH_QUERY
    if described.idempotent:
        codes += IDEMPOTENT
    if described.auth is not None:
        codes += AUTHENTICATED
    return list(dict.fromkeys(codes))


def _operation(endpoint: str, arguments: set[str], described: Operation, method: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}} for name in sorted(arguments)
    ]
    if described.query is not None:
        parameters.append({"in": "query", "schema": described.query})
    success: dict[str, Any] = {"description": described.summary}
    if described.response is not None:
        success["content"] = {"application/json": {"schema": described.response}}
    responses: dict[str, Any] = {str(described.status): success}
    for status, meaning in described.other_statuses:
        responses[str(status)] = {**success, "description": meaning}
    if described.conditional:
        _describe_conditional(parameters, responses)
    if described.idempotent:
        parameters.append(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
                "description": "Retry safely: the same key and body within 24 hours get the first answer again "
                "(header Idempotent-Replayed: true); the same key with another body is 409.",
            }
        )
    by_status: dict[int, list[str]] = {}
    for code in error_codes_of(described, method, arguments):
        by_status.setdefault(ERROR_CODES[code][0], []).append(code)
    for status, codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "; ".join(f"`{code}`: {ERROR_CODES[code][1]}" for code in codes),
            "content": {"application/json": {"schema": "Error"}},
            "x-error-codes": codes,
        }
    operation: dict[str, Any] = {
        "operationId": endpoint,
        "summary": described.summary,
        "tags": [described.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if described.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": described.body}}}
    if described.auth is not None:
        operation["security"] = [{"bearer": []}]
    return operation


def _describe_conditional(parameters: list[dict[str, Any]], responses: dict[str, Any]) -> None:
    """If-None-Match in, ETag and Cache-Control out, and the 304 a matching tag gets."""
    parameters.append(
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "An ETag from an earlier answer: 304 without a body if it still holds.",
        }
    )
    headers = {
        "ETag": {"description": "Strong tag of the body.", "schema": {"type": "string"}},
        "Cache-Control": {
            "description": "`public, max-age=N`: N at most 30 and never past the next change of a tile's state.",
            "schema": {"type": "string"},
        },
    }
    for response in responses.values():
        response["headers"] = headers
    responses["304"] = {"description": "Not modified: the If-None-Match tag is still the body's.", "headers": headers}
