"""Housing fund use-cases: look up a verified resident's account, records or loan, briefly cached and always logged."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.housing_fund import provider as port
from city_services.housing_fund.models import FundAnswer
from city_services.housing_fund.models import FundLookup
from database import transaction
from database.transaction import end_reads
from errors import DomainError
from errors import Forbidden
from identity.models import Resident
from identity.people import person_ids
from identity.real_name import verified_person
from identity.residents import lock_live_resident
from identity.vault import Vault

# Long enough for a resident paging back and forth, short enough that a new deposit shows soon.
CACHE_TIME = timedelta(minutes=3)
ANSWER = "housing_fund.answer"
CACHE_KEY = "housing_fund.cache_key"
OK = "ok"
DATA_ACCESS_PAGE = 20
MAX_ID = 2**31 - 1
Answer = port.FundAccount | port.RecordsPage | port.Loan | None


@dataclass(frozen=True)
class LookupRequest:
    """What a resident asks for, where and through which channel."""

    city: str
    lookup: str  # account, records or loan
    channel: str
    cursor: str | None = None


def look_up(
    session: Session,
    resident: Resident,
    request: LookupRequest,
    *,
    provider: port.HousingFundProvider,
    vault: Vault,
    now: datetime,
    keep_for: timedelta = CACHE_TIME,
) -> Answer:
    """The centre's answer for a resident with a verified real name; recorded in their data-access log.

    :param keep_for: how long the answer is kept (sealed) to answer the same question again; zero keeps none.
    """
    verified = verified_person(resident, vault)
    if verified is None:
        raise Forbidden(
            "housing_fund.real_name_required", "Verify your real name first: the fund centre finds you by it."
        )
    resident_id = resident.id
    key = vault.lookup(CACHE_KEY, "\x1f".join((request.city, verified.lookup, request.lookup, request.cursor or "")))
    kept = session.scalar(select(FundAnswer).where(FundAnswer.key == key, FundAnswer.expires_at > now))
    if kept is not None:
        answer = decode(request.lookup, vault.open(ANSWER, kept.answer_sealed))
        _record(session, resident_id, request, provider.name, OK, now, from_cache=True)
        return answer
    person = port.Person(verified.id_number, verified.name)
    # No transaction stays open while the centre answers.
    end_reads(session)
    try:
        answer = _ask(provider, request, person)
    except DomainError as error:
        _record(session, resident_id, request, provider.name, error.code, now)
        raise
    with transaction(session):
        # Erased meanwhile: neither the answer nor the log may outlive the erasure.
        lock_live_resident(session, resident_id)
        session.execute(delete(FundAnswer).where((FundAnswer.key == key) | (FundAnswer.expires_at <= now)))
        if keep_for > timedelta(0):
            session.add(
                FundAnswer(
                    key=key,
                    resident_id=resident_id,
                    answer_sealed=vault.seal(ANSWER, encode(answer)),
                    expires_at=now + keep_for,
                )
            )
        session.add(_entry(resident_id, request, provider.name, OK, now, from_cache=False))
    return answer


def _ask(provider: port.HousingFundProvider, request: LookupRequest, person: port.Person) -> Answer:
    questions: dict[str, Callable[[], Answer]] = {
        port.ACCOUNT: lambda: provider.account(person),
        port.RECORDS: lambda: provider.records(person, request.cursor),
        port.LOAN: lambda: provider.loan(person),
    }
    return questions[request.lookup]()


def _record(
    session: Session,
    resident_id: int,
    request: LookupRequest,
    upstream: str,
    outcome: str,
    now: datetime,
    *,
    from_cache: bool = False,
) -> None:
    with transaction(session):
        lock_live_resident(session, resident_id)
        session.add(_entry(resident_id, request, upstream, outcome, now, from_cache=from_cache))


def _entry(
    resident_id: int, request: LookupRequest, upstream: str, outcome: str, now: datetime, *, from_cache: bool
) -> FundLookup:
    return FundLookup(
        resident_id=resident_id,
        city_code=request.city,
        lookup=request.lookup,
        channel=request.channel,
        upstream=upstream,
        outcome=outcome,
        from_cache=from_cache,
        at=now,
    )


@dataclass(frozen=True)
class DataAccessPage:
    """Lookups of a person's data, newest first, and the cursor of the next page."""

    entries: list[FundLookup]
    next_cursor: str | None


def data_access(session: Session, resident_id: int, cursor: str | None) -> DataAccessPage:
    """Every lookup of the person's data, whichever of their merged resident ids it was made as."""
    query = select(FundLookup).where(FundLookup.resident_id.in_(person_ids(session, resident_id)))
    if cursor is not None:
        # Ids are 32-bit on PostgreSQL; a larger cursor simply starts from the newest.
        query = query.where(FundLookup.id < min(int(cursor), MAX_ID))
    entries = list(session.scalars(query.order_by(FundLookup.id.desc()).limit(DATA_ACCESS_PAGE + 1)))
    more = len(entries) > DATA_ACCESS_PAGE
    entries = entries[:DATA_ACCESS_PAGE]
    return DataAccessPage(entries, str(entries[-1].id) if more else None)


def erase_fund_lookups(session: Session, resident_ids: frozenset[int], now: datetime) -> None:
    """Erase the person's kept answers and their data-access log: the log is theirs, and goes with them."""
    session.execute(delete(FundAnswer).where(FundAnswer.resident_id.in_(resident_ids)))
    session.execute(delete(FundLookup).where(FundLookup.resident_id.in_(resident_ids)))


def encode(answer: Answer) -> str:
    """An answer as JSON, dates as ISO text, to be sealed."""
    plain = dataclasses.asdict(answer) if answer is not None else None
    return json.dumps(plain, ensure_ascii=False, default=date.isoformat)


def decode(lookup: str, text: str) -> Answer:
    """The answer encode() kept."""
    data = json.loads(text)
    readers: dict[str, Callable[[Any], Answer]] = {port.ACCOUNT: _account, port.RECORDS: _records, port.LOAN: _loan}
    return readers[lookup](data)


def _account(data: dict[str, Any]) -> port.FundAccount:
    return port.FundAccount(
        **{
            **data,
            "monthly": port.MonthlyContribution(**data["monthly"]),
            "opened_on": date.fromisoformat(data["opened_on"]),
            "last_deposit_on": _day(data["last_deposit_on"]),
        }
    )


def _records(data: dict[str, Any]) -> port.RecordsPage:
    records = tuple(
        port.FundRecord(**{**record, "posted_on": date.fromisoformat(record["posted_on"])})
        for record in data["records"]
    )
    return port.RecordsPage(records, data["next_cursor"])


def _loan(data: dict[str, Any] | None) -> port.Loan | None:
    if data is None:
        return None
    return port.Loan(
        **{**data, "issued_on": date.fromisoformat(data["issued_on"]), "next_payment_on": _day(data["next_payment_on"])}
    )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None
