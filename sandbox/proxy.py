"""A pass-through to citytiles, so the super-app page (served from the sandbox) can call its API."""

from __future__ import annotations

import requests
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from sandbox.world import World

# Request headers a mini-program would send; everything else (cookies, hop-by-hop) stays behind.
_FORWARDED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "Accept-Language", "Idempotency-Key")
_FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Retry-After", "Location")


def create_proxy_blueprint(world: World) -> Blueprint:
    """Route /_sandbox/citytiles/<path> to config.citytiles_url/<path>, same method, body and query."""
    bp = Blueprint("citytiles_proxy", __name__)

    @bp.route("/_sandbox/citytiles/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def forward(path: str) -> Response | tuple[Response, int]:
        url = world.config.citytiles_url.rstrip("/") + "/" + path
        if request.query_string:
            url += "?" + request.query_string.decode("latin-1")
        headers = {name: request.headers[name] for name in _FORWARDED_REQUEST_HEADERS if name in request.headers}
        try:
            with requests.Session() as session:
                # Loopback traffic must not wander off to an HTTP proxy named in the environment.
                session.trust_env = False
                upstream = session.request(
                    request.method,
                    url,
                    data=request.get_data(),
                    headers=headers,
                    timeout=world.config.proxy_timeout_seconds,
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            message = f"citytiles at {world.config.citytiles_url} did not answer: {type(exc).__name__}"
            error = {"code": "sandbox.citytiles_unreachable", "message": message, "details": {"url": url}}
            return jsonify({"error": error}), 502
        response = Response(upstream.content, status=upstream.status_code)
        for name in _FORWARDED_RESPONSE_HEADERS:
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        return response

    return bp
