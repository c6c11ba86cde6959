"""Each intent's reply: the use-case it calls and what the answer or the refusal says to the follower."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from chat import routing
from chat.accounts import Account
from chat.models import ChatMessage
from chat.ports import CityServices
from chat.wording import say
from chat.wording import when
from chat.wording import yuan
from city_services.car_move.plates import mask_plate
from city_services.car_move.service import my_requests
from city_services.outpatient.service import my_appointments
from errors import DomainError
from identity.models import Resident
from identity.vault import Vault

log = logging.getLogger("citytiles.chat")
# A refusal's code -> what the follower is told; any other refusal is "unavailable".
REFUSALS = {
    "housing_fund.real_name_required": "verify_first",
    "housing_fund.account_not_found": "no_fund_account",
    "housing_fund.name_mismatch": "no_fund_account",
    "car_move.invalid_plate": "bad_plate",
    "car_move.vehicle_not_found": "no_such_car",
    "car_move.plate_refused": "no_such_car",
    "car_move.monthly_quota_exceeded": "quota_used",
    "car_move.plate_cooling_down": "plate_cooling",
    "car_move.owner_complained": "owner_complained",
    "service.not_offered": "closed",
    "service.off_hours": "closed",
    "service.maintenance": "closed",
    "upstream.busy": "busy",
}
ACCOUNT_STATES = {
    "normal": "account_open",
    "active": "account_open",
    "sealed": "account_sealed",
    "closed": "account_closed",
}
# Where the mini-program books an appointment.
OUTPATIENT_PAGE = "pages/outpatient/index"
# How a text message links to a mini-program's page, per channel: WeChat's tag, Alipay's scheme (plain text).
MINI_PROGRAM_LINKS: dict[str, Callable[[str, str, str], str]] = {
    "wechat": lambda app_id, page, words: (
        f'<a data-miniprogram-appid="{app_id}" data-miniprogram-path="{page}">{words}</a>'
    ),
    "alipay": lambda app_id, page, words: (
        f"{words}：alipays://platformapi/startapp?appId={app_id}&page={quote(page, safe='')}"
    ),
}
PROGRESS_SHOWN = 3


def reply_to(
    session: Session,
    services: CityServices,
    vault: Vault,
    account: Account,
    message: ChatMessage,
    work: dict[str, Any],
    *,
    now: datetime,
) -> str:
    """The message's reply ("" for none), by its intent; a refusal of the use-case is said, never raised."""
    language = message.language
    resident = _resident(session, message.resident_id)
    replies: dict[str, Callable[[], str]] = {
        routing.HOUSING_FUND: lambda: _balance(session, services, account, resident, language),
        routing.CAR_MOVE: lambda: _car_move(session, services, account, resident, language, work, "plate_please"),
        routing.PLACE: lambda: _car_move(session, services, account, resident, language, work, "location_kept"),
        routing.OUTPATIENT: lambda: _outpatient(account, language),
        routing.PROGRESS: lambda: _progress(session, vault, resident, language, now),
        routing.WELCOME: lambda: say(language, "welcome"),
        routing.FAREWELL: lambda: "",
        routing.HELP: lambda: say(language, "help"),
    }
    try:
        return replies.get(message.intent, replies[routing.HELP])()
    except DomainError as refused:
        log.info("a chat request was refused", extra={"intent": message.intent, "code": refused.code})
        return say(language, REFUSALS.get(refused.code, "unavailable"))


def _balance(session: Session, services: CityServices, account: Account, resident: Resident, language: str) -> str:
    fund = services.fund_account(session, resident, account.city, account.channel)
    if fund is None:
        return say(language, "no_fund_account")
    return say(
        language,
        "balance",
        balance=yuan(fund.balance_fen),
        account="****" + fund.account_number[-4:],
        status=say(language, ACCOUNT_STATES.get(fund.status, "account_open")),
        monthly=yuan(fund.monthly.total_fen),
    )


def _car_move(
    session: Session,
    services: CityServices,
    account: Account,
    resident: Resident,
    language: str,
    work: dict[str, Any],
    without_plate: str,
) -> str:
    """A car-move request when the message brought a plate and a location together; else what is missing."""
    if work.get("bad_plate"):
        return say(language, "bad_plate")
    plate = work.get("plate")
    if plate is None:
        return say(language, without_plate)
    if "latitude" not in work:
        return say(language, "location_please", plate=mask_plate(plate))
    made = services.ask_to_move(
        session, resident, account.city, account.channel, plate, work["latitude"], work["longitude"]
    )
    return say(language, "car_move_sent", plate=made.plate or mask_plate(plate), request=made.id)


def _outpatient(account: Account, language: str) -> str:
    if account.mini_program_app_id is None:
        return say(language, "outpatient_plain")
    words = "点这里挂号" if language == "zh-CN" else "Book here"
    link = MINI_PROGRAM_LINKS[account.channel](account.mini_program_app_id, OUTPATIENT_PAGE, words)
    return say(language, "outpatient_link", link=link)


def _progress(session: Session, vault: Vault, resident: Resident, language: str, now: datetime) -> str:
    lines = [
        (
            row.created_at,
            say(
                language,
                "progress_car_move",
                plate=row.plate or "",
                status=say(language, row.status),
                at=when(row.created_at, language),
            ),
        )
        for row in my_requests(session, vault, resident, PROGRESS_SHOWN)
    ]
    lines += [
        (
            row.created_at,
            say(
                language,
                "progress_appointment",
                hospital=row.hospital_name,
                department=row.department_name,
                status=say(language, row.status),
                at=when(row.starts_at, language),
            ),
        )
        for row in my_appointments(session, resident, now)[:PROGRESS_SHOWN]
    ]
    if not lines:
        return say(language, "progress_none")
    newest = sorted(lines, key=lambda line: line[0], reverse=True)[:PROGRESS_SHOWN]
    return "\n".join([say(language, "progress_head"), *(text for _, text in newest)])


def _resident(session: Session, resident_id: int | None) -> Resident:
    """The live resident a follower is now (merges followed)."""
    resident = session.get(Resident, resident_id) if resident_id is not None else None
    for _ in range(3):
        if resident is None or resident.merged_into_id is None:
            break
        resident = session.get(Resident, resident.merged_into_id)
    if resident is None or resident.erased_at is not None:
        raise DomainError("identity.resident_changed", "The follower's resident is gone.")
    return resident
