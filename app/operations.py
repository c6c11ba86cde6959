"""Declaring an endpoint: its contract (summary, schemas, errors, auth) and the checks that enforce it.

`@operation(...)` both documents the endpoint for the OpenAPI document and does the work every
endpoint would otherwise repeat: authenticate, validate the query and body, dump the result.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from marshmallow import Schema
from marshmallow import ValidationError

from app.auth import current_resident
from app.auth import current_staff
from app.error_codes import ERROR_CODES
from app.errors import MalformedRequest
from app.errors import UnsupportedMediaType
from app.idempotency import IDEMPOTENCY_HEADER
from app.idempotency import caller_of
from app.idempotency import once_per_key
from app.request_body import read_body
from errors import NotFound
from text_rules import refused_characters


@dataclass(frozen=True)
class Operation:
    """What an endpoint takes, returns and may fail with."""

    summary: str
    tag: str
    body: type[Schema] | None
    query: type[Schema] | None
    response: Schema | None
    status: int
    errors: tuple[str, ...]
    auth: str | None
    # Statuses the view itself answers with the response schema besides `status` (e.g. 503 from /readyz).
    other_statuses: tuple[tuple[int, str], ...] = ()
    conditional: bool = False
    # Takes an Idempotency-Key header: a retry with the same key and body gets the first answer again.
    idempotent: bool = False


def operation(
    *,
    summary: str,
    tag: str,
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    response: Schema | None = None,
    status: int = 200,
    errors: tuple[str, ...] = (),
    auth: str | None = None,
    other_statuses: dict[int, str] | None = None,
    conditional: bool = False,
    idempotent: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a view so it receives `staff`, `params` and `payload` already checked, and returns plain data.

    :param other_statuses: statuses the view returns itself with the response schema, and what each means.
    :param conditional: the view answers with an ETag and Cache-Control, and 304 to a matching If-None-Match.
    :param idempotent: the view takes an Idempotency-Key (see app/idempotency.py).
    """
    described = Operation(
        summary,
        tag,
        body,
        query,
        response,
        status,
        errors,
        auth,
        tuple((other_statuses or {}).items()),
        conditional,
        idempotent,
    )
    # Built once: a schema's construction costs several times its load, and loading keeps no state on it.
    read_query = query_reader(query(), remember=conditional) if query is not None else None
    body_schema = body() if body is not None else None

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap one view."""

        @functools.wraps(view)
        def endpoint(**path_args: Any) -> Any:
            """Authenticate, validate, call the view, dump its result."""
            # A path value with control or format characters names nothing we hold; saying so
            # without echoing it keeps them out of messages and logs.
            if any(refused_characters(str(value)) for value in path_args.values()):
                raise NotFound("request.route_not_found", ERROR_CODES["request.route_not_found"][1])
            arguments = dict(path_args)
            if described.auth == "staff":
                arguments["staff"] = current_staff()
            elif described.auth == "resident":
                arguments["signed_in"] = current_resident()
            if read_query is not None:
                arguments["params"] = read_query()
            if body_schema is not None:
                arguments["payload"] = body_schema.load(read_json_object())

            def answer() -> Any:
                """Call the view and dump its result: (data, status), or a ready Response."""
                result = view(**arguments)
                if isinstance(result, Response):
                    return result
                status = described.status
                if isinstance(result, tuple):
                    result, status = result
                if status == 204:
                    return Response(status=204)
                return (described.response.dump(result) if described.response is not None else result), status

            key = request.headers.get(IDEMPOTENCY_HEADER) if described.idempotent else None
            produced = answer() if key is None else once_per_key(caller_of(arguments), key, answer)
            if isinstance(produced, Response):
                return produced
            data, status = produced
            return jsonify(data), status

        endpoint.operation = described  # type: ignore[attr-defined]
        return endpoint

    return decorate


def query_reader(schema: Schema, *, remember: bool) -> Callable[[], dict[str, Any]]:
    """Read the request's query with the schema; optionally remembering what each query string gave.

    :param remember: for cacheable endpoints, asked the same few query strings thousands of times a
        second; their query schemas must read nothing but the query (no defaults from the clock).
    """

    def read() -> dict[str, Any]:
        """Validate the query string's parameters; one given twice is ambiguous, not first-come."""
        repeated = {key: ["Give this parameter once."] for key, values in request.args.lists() if len(values) > 1}
        if repeated:
            raise ValidationError(repeated)
        loaded: dict[str, Any] = schema.load(request.args.to_dict())
        return loaded

    if not remember:
        return read

    @functools.lru_cache(maxsize=256)
    def read_string(query_string: bytes) -> dict[str, Any]:
        """Only valid queries are remembered: a refused one raises again each time."""
        return read()

    return lambda: dict(read_string(request.query_string))


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN or Infinity, no lone surrogates or NUL characters, no absurd nesting."""

    def refuse_constant(name: str) -> None:
        """Python's json takes NaN and Infinity; JSON does not."""
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(raw, parse_constant=refuse_constant)
        # Lone surrogates cannot be stored or sent back as UTF-8, and PostgreSQL text refuses NUL.
        if "\\u0000" in json.dumps(data):
            raise ValueError("NUL character")
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError) as error:
        raise MalformedRequest("request.malformed", "The body is not valid JSON.") from error
    return data


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a clear 415, 400 or 422."""
    if not request.is_json:
        raise UnsupportedMediaType(
            "request.unsupported_media_type", "Send the body as JSON with Content-Type: application/json."
        )
    data = parse_json(read_body())
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["The body must be a JSON object."]})
    return data
