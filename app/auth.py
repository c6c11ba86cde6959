"""Who is calling: the bearer token on the request, resolved to a staff member or a resident."""

from __future__ import annotations

from flask import current_app
from flask import request

from app.db_session import get_session
from errors import Unauthenticated
from identity.models import StaffMember
from identity.residents import SignedIn
from identity.residents import signed_in_resident
from identity.staff import staff_for_token


def bearer_token() -> str:
    """The token from `Authorization: Bearer ...`, or Unauthenticated."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("auth.required", "Send a bearer token in the Authorization header.")
    return token.strip()


def current_staff() -> StaffMember:
    """The staff member whose token came with the request."""
    return staff_for_token(get_session(), bearer_token(), now=current_app.extensions["clock"]())


def current_resident() -> SignedIn:
    """The resident whose token came with the request, and the channel app they came through."""
    return signed_in_resident(get_session(), bearer_token(), now=current_app.extensions["clock"]())
