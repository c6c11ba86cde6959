"""A request body over MAX_BODY_BYTES is refused with 413 however it is sent, with a Content-Length or chunked."""

from __future__ import annotations

from flask import Flask
from flask import request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import MalformedRequest


def refuse_oversized_stream() -> None:
    """Read a body sent without Content-Length (chunked) up front, and refuse it when it goes past the limit.

    Werkzeug refuses a Content-Length over the limit before reading, but a streamed body it only
    stops reading at the limit, silently: the view would see the first MAX_BODY_BYTES and act on them.
    """
    limit = request.max_content_length
    # Without wsgi.input_terminated the server does not end the stream, and Werkzeug reads nothing.
    if request.content_length is not None or limit is None or "wsgi.input_terminated" not in request.environ:
        return
    try:
        body = request.get_data(cache=True)
        # Werkzeug stopped at the limit; one more byte on the server's own stream means the body is longer.
        too_long = len(body) >= limit and bool(request.input_stream.read(1))
    except ParseException as error:
        # gunicorn parses chunks as the body is read: a broken chunk is the client's, not a 500.
        raise MalformedRequest("request.malformed", "The body's chunked encoding is broken.") from error
    if too_long:
        raise RequestEntityTooLarge()


def init_request_body(app: Flask) -> None:
    """Check every streamed body before any view reads it."""
    app.before_request(refuse_oversized_stream)
