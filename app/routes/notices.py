"""Notices: which ones the session's app may send, and what the resident allowed in the channel's prompt."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.routes.catalogue import preferred_language
from app.schemas.notices import NoticeCreditsSchema
from app.schemas.notices import NoticeSubscriptionsSchema
from app.schemas.notices import NoticeTemplatesSchema
from app.service_calls import session_channel
from city_services.notices import credits_of
from city_services.notices import record_subscriptions
from city_services.notices import templates_of_app
from identity.people import ChannelAccount
from identity.residents import SignedIn

blueprint = Blueprint("notices", __name__, url_prefix="/api/v1")


@blueprint.get("/notice-templates")
@operation(
    summary="The notices this app may send you, to ask for with the channel's subscription prompt",
    tag="notices",
    response=NoticeTemplatesSchema(),
    auth="resident",
    errors=("auth.forbidden",),
)
def notice_templates(signed_in: SignedIn) -> dict[str, Any]:
    """Each notice with its template id in this app and the credits the resident holds for it."""
    account = account_of(signed_in)
    templates = templates_of_app(current_app.extensions["notice_templates"], account.app_id)
    credits = credits_of(get_session(), account)
    lang = preferred_language()
    return {
        "channel": account.channel,
        "app_id": account.app_id,
        "templates": [
            {
                "name": t.name,
                "template_id": t.template_id,
                "title": t.title,
                "purpose": t.purpose[lang],
                "credits": credits.get(t.name, 0),
            }
            for t in templates
        ],
    }


@blueprint.post("/me/notice-subscriptions")
@operation(
    summary="Report what you answered in the channel's subscription prompt: each accept allows one notice",
    tag="notices",
    body=NoticeSubscriptionsSchema,
    response=NoticeCreditsSchema(),
    auth="resident",
    errors=("auth.forbidden", "notices.unknown_template"),
)
def notice_subscriptions(signed_in: SignedIn, payload: dict[str, Any]) -> dict[str, Any]:
    """Add a credit per accepted notice, for this app; the credits held now."""
    credits = record_subscriptions(
        get_session(),
        current_app.extensions["notice_templates"],
        account_of(signed_in),
        payload["templates"],
        now=current_app.extensions["clock"](),
    )
    return {"credits": credits}


def account_of(signed_in: SignedIn) -> ChannelAccount:
    """The channel app account the session came through."""
    session_channel(signed_in)
    identity = signed_in.identity
    assert identity is not None  # session_channel refuses a session without one
    return ChannelAccount(
        signed_in.resident.id, identity.channel, identity.app_id, identity.external_id, identity.unionid
    )
