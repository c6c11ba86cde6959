"""gunicorn's threaded worker, answering the requests gunicorn refuses itself in the one JSON error shape.

gunicorn parses the request line and headers before the app sees anything; what it refuses there (a
request line or header section over its limits, a line that is not HTTP) it answers with an HTML page
written straight to the socket. This worker writes our error body instead, with our headers.
"""

from __future__ import annotations

import json
import ssl
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from app.error_codes import ERROR_CODES
from app.http_headers import DATA_POLICY

# Status and code for each refusal, found through the exception's class hierarchy (most specific first);
# any other parse failure is a malformed request.
REFUSALS: dict[type[BaseException], tuple[int, str]] = {
    errors.LimitRequestLine: (414, "request.uri_too_long"),
    errors.LimitRequestHeaders: (431, "request.headers_too_large"),
    errors.UnsupportedTransferCoding: (501, "request.unsupported_transfer_coding"),
    errors.ExpectationFailed: (417, "request.expectation_failed"),
    errors.ForbiddenProxyRequest: (403, "request.forbidden"),
    ssl.SSLError: (403, "request.forbidden"),
    # A header our own app tried to send, or a configuration gunicorn refuses: our fault, not the client's.
    errors.InvalidResponseHeader: (500, "internal_error"),
    errors.InvalidResponseHeaderName: (500, "internal_error"),
    errors.ConfigurationProblem: (500, "internal_error"),
    errors.ParseException: (400, "request.malformed"),
}


def refusal_of(error: BaseException) -> tuple[int, str]:
    """The status and error code to answer a failure gunicorn met with; anything unknown is ours, a 500."""
    for kind in type(error).__mro__:
        if kind in REFUSALS:
            return REFUSALS[kind]
    return 500, "internal_error"


def error_answer(status: int, code: str) -> bytes:
    """A whole HTTP/1.1 response in the one error shape, closing the connection."""
    body = json.dumps({"error": {"code": code, "message": ERROR_CODES[code][1], "details": {}}}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        f"Content-Security-Policy: {DATA_POLICY}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class JSONErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with JSON error answers."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Log the failure as gunicorn would, then answer it in the one error shape."""
        status, code = refusal_of(exc)
        if status < 500:
            # The class only: the message may quote the request line, and its query string may be personal.
            self.log.warning("request refused by the server: %s", type(exc).__name__)
        else:
            self.log.exception("Error handling request")
        try:
            util.write_nonblock(client, error_answer(status, code))
        except Exception:
            self.log.debug("Failed to send error message.")
