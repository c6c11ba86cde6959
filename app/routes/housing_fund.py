"""Resident endpoints: the housing provident fund lookups, and who looked at my data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.housing_fund import DataAccessQuerySchema
from app.schemas.housing_fund import DataAccessSchema
from app.schemas.housing_fund import FundAccountSchema
from app.schemas.housing_fund import LoanAnswerSchema
from app.schemas.housing_fund import RecordsPageSchema
from app.schemas.housing_fund import RecordsQuerySchema
from app.service_calls import GATE_ERRORS
from app.service_calls import open_city_service
from app.service_calls import session_channel
from city_services.housing_fund import provider as port
from city_services.housing_fund.service import Answer
from city_services.housing_fund.service import DataAccessPage
from city_services.housing_fund.service import LookupRequest
from city_services.housing_fund.service import data_access
from city_services.housing_fund.service import look_up
from identity.residents import SignedIn

blueprint = Blueprint("housing_fund", __name__, url_prefix="/api/v1")
LOOKUP_ERRORS = (
    *GATE_ERRORS,
    "housing_fund.real_name_required",
    "housing_fund.account_not_found",
    "housing_fund.name_mismatch",
    "housing_fund.account_closed",
    "identity.resident_changed",
)


@blueprint.get("/cities/<city>/housing-fund/account")
@operation(
    summary="My provident fund account in the city: status, balance, monthly contributions (account number masked)",
    tag="housing_fund",
    response=FundAccountSchema(),
    auth="resident",
    errors=LOOKUP_ERRORS,
)
def account(signed_in: SignedIn, city: str) -> Answer:
    """Asked of the city's fund centre with my verified real name; recorded in my data-access log."""
    return lookup(signed_in, city, port.ACCOUNT)


@blueprint.get("/cities/<city>/housing-fund/records")
@operation(
    summary="My provident fund records in the city, newest first, a page at a time",
    tag="housing_fund",
    query=RecordsQuerySchema,
    response=RecordsPageSchema(),
    auth="resident",
    errors=(*LOOKUP_ERRORS, "housing_fund.invalid_cursor"),
)
def records(signed_in: SignedIn, city: str, params: dict[str, str]) -> Answer:
    """Pass next_cursor back as cursor for the next page."""
    return lookup(signed_in, city, port.RECORDS, params.get("cursor"))


@blueprint.get("/cities/<city>/housing-fund/loan")
@operation(
    summary="My provident fund housing loan in the city, or null without one",
    tag="housing_fund",
    response=LoanAnswerSchema(),
    auth="resident",
    errors=LOOKUP_ERRORS,
)
def loan(signed_in: SignedIn, city: str) -> dict[str, Any]:
    """The loan number is masked."""
    return {"loan": lookup(signed_in, city, port.LOAN)}


@blueprint.get("/me/data-access")
@operation(
    summary="Who looked at my data: every lookup of it at a city's system, newest first",
    tag="residents",
    query=DataAccessQuerySchema,
    response=DataAccessSchema(),
    auth="resident",
)
def my_data_access(signed_in: SignedIn, params: dict[str, str]) -> DataAccessPage:
    """Lookups made as any resident id merged into mine are mine too."""
    return data_access(get_session(), signed_in.resident.id, params.get("cursor"))


def lookup(signed_in: SignedIn, city: str, what: str, cursor: str | None = None) -> Answer:
    """The tile gate for my channel, then the lookup."""
    provider = open_city_service(signed_in, city, "housing_fund")
    return look_up(
        get_session(),
        signed_in.resident,
        LookupRequest(city, what, session_channel(signed_in), cursor),
        provider=provider,
        vault=current_app.extensions["vault"],
        now=current_app.extensions["clock"](),
        keep_for=timedelta(seconds=current_app.extensions["settings"].housing_fund_cache_seconds),
    )
