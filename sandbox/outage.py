"""How an endpoint looks when it is down: HTTP 503 from a front proxy, or a dropped connection."""

from __future__ import annotations

import socket

from flask import Response
from flask import request

from sandbox.faults import Effect


def answer_down(effect: Effect) -> Response:
    """The response for a "down" fault; with close_connection the client sees a reset instead."""
    if effect.close_connection:
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            try:
                # Shutting the socket makes the client read an empty reply, like a crashed upstream.
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    body = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>503</body></html>"
    return Response(body, status=503, content_type="text/html")
