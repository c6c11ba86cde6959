"""Reading a request body: over MAX_BODY_BYTES is a 413 however it is sent, with a Content-Length or chunked."""

from __future__ import annotations

from flask import request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import MalformedRequest


def read_body() -> bytes:
    """The whole body, or 413 when it is longer than the limit, or 400 when its chunks are broken.

    Werkzeug refuses a Content-Length over the limit before reading, but a body streamed without
    one (chunked) it only stops reading at the limit, silently: the caller would get the first
    MAX_BODY_BYTES and act on them as if they were the whole request.
    """
    try:
        body = request.get_data(cache=True)
        limit = request.max_content_length
        # Without a Content-Length Werkzeug stopped at the limit: one more byte on the server's own
        # stream means the body is longer. (It reads such a stream only when the server ends it.)
        streamed = request.content_length is None and "wsgi.input_terminated" in request.environ
        too_long = streamed and limit is not None and len(body) >= limit and bool(request.input_stream.read(1))
    except ParseException as error:
        # gunicorn parses chunks as the body is read: a broken chunk is the client's fault, not a 500.
        raise MalformedRequest("request.malformed", "The body's chunked encoding is broken.") from error
    if too_long:
        raise RequestEntityTooLarge()
    return body
