"""Headers every response carries: nothing personal kept in caches, no sniffing, no framing, a Bearer challenge."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import request

# Pages load their scripts and styles from our own origin only; nothing inline, nothing framed.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Anything else is data: a browser that renders it anyway may run nothing and frame nothing.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
REALM = 'Bearer realm="citytiles"'


def add_http_headers(response: Response) -> Response:
    """Add the headers of the HTTP contract, keeping any a view chose itself."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", PAGE_POLICY if response.mimetype == "text/html" else DATA_POLICY)
    # Tokens and personal data must never sit in a cache: no-store unless a view knows better
    # (the public catalogue sets its own short max-age).
    headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        headers["WWW-Authenticate"] = bearer_challenge()
    return response


def data_headers() -> list[tuple[str, str]]:
    """What add_http_headers gives a data response whose view set none of them, for answers made without Flask."""
    return [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", DATA_POLICY),
        ("Cache-Control", "no-store"),
    ]


def bearer_challenge() -> str:
    """RFC 6750's challenge: the realm, and `invalid_token` when a token came and was refused."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return f'{REALM}, error="invalid_token"'
    return REALM


def init_http_headers(app: Flask) -> None:
    """Add the contract's headers to every response the app gives."""
    app.after_request(add_http_headers)
