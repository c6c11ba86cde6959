"""Resident sessions and profile: log in with a channel code, see and erase what we hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import request

from app.auth import bearer_token
from app.db_session import get_session
from app.operations import operation
from app.schemas.residents import ConsentTextSchema
from app.schemas.residents import PhoneSchema
from app.schemas.residents import RealNameSchema
from app.schemas.residents import ResidentSchema
from app.schemas.residents import ResidentSessionSchema
from app.schemas.residents import SessionRequestSchema
from app.service_calls import open_city_service
from app.wiring import ChannelAdapters
from city_services.outpatient.service import SERVICE as OUTPATIENT
from city_services.outpatient.service import give_back_held_places
from errors import Invalid
from identity.consent import current_consent_text
from identity.phones import bind_phone
from identity.profiles import ResidentProfile
from identity.profiles import profile_of
from identity.real_name import RealNameRequest
from identity.real_name import bind_real_name
from identity.residents import SignedIn
from identity.residents import erase_resident
from identity.residents import sign_in
from identity.residents import sign_out

blueprint = Blueprint("residents", __name__, url_prefix="/api/v1")
LOGIN_ERRORS = (
    "session.unknown_app",
    "session.code_invalid",
    "session.code_used",
    "session.too_many_attempts",
    "limits.unavailable",
    "channel.rate_limited",
    "channel.unavailable",
)


@blueprint.post("/sessions")
@operation(
    summary="Log in with a channel login code; returns a token, its expiry and the masked profile",
    tag="residents",
    body=SessionRequestSchema,
    response=ResidentSessionSchema(),
    status=201,
    errors=LOGIN_ERRORS,
)
def create_session(payload: dict[str, str]) -> dict[str, Any]:
    """The first login through any channel app creates the resident; the same unionid joins them."""
    login = adapters().logins.get(payload["app_id"])
    if login is None or login.channel != payload["channel"]:
        raise Invalid(
            "session.unknown_app",
            f"{payload['app_id']!r} is not a {payload['channel']} app citytiles serves.",
            {"app_id": payload["app_id"]},
        )
    signed = sign_in(
        get_session(),
        login,
        payload["code"],
        source=request.remote_addr,
        attempts=current_app.extensions["attempts"],
        vault=current_app.extensions["vault"],
        now=current_app.extensions["clock"](),
        lifetime=timedelta(minutes=current_app.extensions["settings"].resident_token_minutes),
    )
    return {"token": signed.token.token, "expires_at": signed.token.expires_at, "resident": profile(signed.resident)}


@blueprint.delete("/sessions/current")
@operation(summary="Log out: revoke this token at once", tag="residents", status=204, auth="resident")
def delete_session(signed_in: SignedIn) -> None:
    """Revoke the token the request came with."""
    sign_out(get_session(), bearer_token(), now=current_app.extensions["clock"]())


@blueprint.get("/me")
@operation(
    summary="The signed-in resident's profile, masked", tag="residents", response=ResidentSchema(), auth="resident"
)
def me(signed_in: SignedIn) -> ResidentProfile:
    """Names, ID numbers and phones are masked; channel account ids are never shown."""
    return profile(signed_in.resident)


@blueprint.delete("/me")
@operation(
    summary="Erase my personal data and channel accounts, and revoke every token",
    tag="residents",
    status=204,
    auth="resident",
    errors=("identity.resident_changed",),
)
def erase_me(signed_in: SignedIn) -> None:
    """Records that must be kept stay, anonymised; held appointments are given back to the hospitals first."""
    # Outside the erasing transaction: no outside call is made while rows are locked.
    give_back_held_places(
        get_session(),
        signed_in.resident,
        lambda city: open_city_service(signed_in, city, OUTPATIENT),
        current_app.extensions["clock"],
    )
    erase_resident(
        get_session(),
        signed_in.resident,
        now=current_app.extensions["clock"](),
        erasers=current_app.extensions["erasers"],
    )


@blueprint.post("/me/real-name")
@operation(
    summary="Bind and verify my real name with the channel I logged in through",
    tag="residents",
    body=RealNameSchema,
    response=ResidentSchema(),
    auth="resident",
    errors=(
        "identity.invalid_name",
        "identity.invalid_id_number",
        "identity.unknown_consent_version",
        "identity.real_name_mismatch",
        "identity.real_name_unavailable",
        "identity.real_name_already_bound",
        "identity.no_channel_identity",
        "identity.real_name_not_offered",
        "identity.channel_login_expired",
        "identity.resident_changed",
        "identity.too_many_attempts",
        "limits.unavailable",
        "channel.rate_limited",
        "channel.unavailable",
    ),
)
def bind_my_real_name(signed_in: SignedIn, payload: RealNameRequest) -> ResidentProfile:
    """Consent is recorded first; a mismatch stores nothing."""
    resident = bind_real_name(
        get_session(),
        signed_in,
        payload,
        verifiers=adapters().verifiers,
        vault=current_app.extensions["vault"],
        attempts=current_app.extensions["attempts"],
        now=current_app.extensions["clock"](),
    )
    return profile(resident)


@blueprint.get("/consent-texts/<purpose>")
@operation(
    summary="The consent text to show a resident before a purpose (e.g. real_name_verification)",
    tag="residents",
    response=ConsentTextSchema(),
    errors=("identity.unknown_consent_purpose",),
)
def consent_text(purpose: str) -> dict[str, str]:
    """The newest version; the resident's request then names that version."""
    version, text = current_consent_text(purpose)
    return {"purpose": purpose, "version": version, "text": text}


@blueprint.post("/me/phone")
@operation(
    summary="Bind the phone number WeChat verified (code from the getPhoneNumber button)",
    tag="residents",
    body=PhoneSchema,
    response=ResidentSchema(),
    auth="resident",
    errors=(
        "identity.phone_not_supported",
        "identity.phone_code_invalid",
        "identity.too_many_attempts",
        "limits.unavailable",
        "identity.resident_changed",
        "channel.rate_limited",
        "channel.unavailable",
    ),
)
def bind_my_phone(signed_in: SignedIn, payload: dict[str, str]) -> ResidentProfile:
    """Only the masked number is ever shown back."""
    resident = bind_phone(
        get_session(),
        signed_in,
        payload["code"],
        sources=adapters().phones,
        attempts=current_app.extensions["attempts"],
        vault=current_app.extensions["vault"],
        now=current_app.extensions["clock"](),
    )
    return profile(resident)


def adapters() -> ChannelAdapters:
    """The channel adapters built at start-up."""
    return current_app.extensions["channels"]


def profile(resident: Any) -> ResidentProfile:
    """The masked profile."""
    return profile_of(resident, current_app.extensions["vault"])
