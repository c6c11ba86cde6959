"""Notices to residents through their channel: one-time subscription credits, sending, and a record of each try.

A notice goes to one of the person's channel app accounts that holds a credit for it (the
resident allowed it in the super-app's prompt). A credit is taken under a row lock before the
channel is called, outside any transaction, so two notices never spend one credit; it is given
back when the channel could not be reached, and the count is zeroed when the channel says the
resident has none left. Every try is recorded with its outcome, never with what it said.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.models import NoticeCredit
from city_services.models import NoticeRecord
from database import transaction
from errors import DomainError
from errors import Invalid
from errors import UpstreamUnavailable
from identity.people import ChannelAccount
from identity.people import channel_accounts
from identity.people import person_ids

log = logging.getLogger("citytiles.notices")
NOTICE_NAMES = ("car_move_owner", "appointment", "payment")
# Credits a resident may hold per app and notice: enough for a busy month, bounded against a looping front end.
MAX_CREDITS = 50
ANSWERS = ("accept", "reject")
# What came of telling someone, as each try is recorded.
SENT, REFUSED, UNAVAILABLE = "sent", "refused", "unavailable"
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_=+/-]{1,128}")
_KEYWORD = re.compile(r"[a-z_]{1,32}[0-9]{1,2}")


@dataclass(frozen=True)
class NoticeTemplate:
    """How one app carries one of our notices: its template there and which field fills each keyword."""

    name: str
    channel: str
    app_id: str
    template_id: str
    title: str
    purpose: dict[str, str]
    page: str | None
    keywords: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Delivery:
    """One notice, filled in for one channel account: what a Messenger sends."""

    app_id: str
    external_id: str
    unionid: str | None
    template_id: str
    data: tuple[tuple[str, str], ...]
    page: str | None


class NoticeRefused(DomainError):
    """The channel answered and will not deliver this notice: no credit left, or a rule of its own."""

    kind = "conflict"

    def __init__(self, code: str, message: str, *, no_credit: bool) -> None:
        super().__init__(code, message)
        self.no_credit = no_credit


class Messenger(Protocol):
    """A channel's notice API: delivers one notice or raises NoticeRefused / UpstreamUnavailable."""

    channel: str

    def send(self, delivery: Delivery) -> None:
        """Deliver the notice now."""


@dataclass(frozen=True)
class Notices:
    """The channels' messengers per app id and the templates: how use-cases tell a resident something."""

    messengers: Mapping[str, Messenger]
    templates: tuple[NoticeTemplate, ...]

    def send(
        self, session: Session, resident_id: int, notice: str, fields: Mapping[str, str], *, now: datetime
    ) -> bool:
        """Tell the person; whether a channel delivered it (see send_notice)."""
        return send_notice(session, self.messengers, self.templates, resident_id, notice, fields, now=now)

    def owe(self, session: Session, resident_id: int, notice: str, fields: Mapping[str, str], *, now: datetime) -> None:
        """Tell the person for a task that owes it: UpstreamUnavailable while their channel cannot answer now."""
        outcome = tell(session, self.messengers, self.templates, resident_id, notice, fields, now=now)
        if outcome == UNAVAILABLE:
            raise UpstreamUnavailable("notices.channel_unavailable", "The resident's channel cannot take a notice now.")


def read_templates(path: Path) -> tuple[NoticeTemplate, ...]:
    """The notice templates file; each entry checked, so a typo fails at start-up, not at the first notice."""
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("templates", [])
    templates = []
    for entry in entries:
        if entry.get("name") not in NOTICE_NAMES or entry.get("channel") not in ("wechat", "alipay"):
            raise ValueError(f"notice template {entry.get('name')!r} on {entry.get('channel')!r} is not one we send")
        if not _TEMPLATE_ID.fullmatch(str(entry.get("template_id", ""))):
            raise ValueError(f"notice template {entry['name']} has no valid template_id")
        keywords = entry.get("keywords", {})
        if not keywords or not all(_KEYWORD.fullmatch(k) and isinstance(v, str) for k, v in keywords.items()):
            raise ValueError(f'notice template {entry["name"]} needs keywords like thing2 = "place"')
        templates.append(
            NoticeTemplate(
                name=entry["name"],
                channel=entry["channel"],
                app_id=str(entry["app_id"]),
                template_id=entry["template_id"],
                title=str(entry.get("title", entry["name"])),
                purpose={"zh-CN": str(entry.get("purpose_zh", "")), "en": str(entry.get("purpose_en", ""))},
                page=entry.get("page"),
                keywords=tuple(keywords.items()),
            )
        )
    return tuple(templates)


def templates_of_app(templates: tuple[NoticeTemplate, ...], app_id: str) -> list[NoticeTemplate]:
    """The notices an app can carry, as the front end asks the resident to allow them."""
    return [t for t in templates if t.app_id == app_id]


def credits_of(session: Session, account: ChannelAccount) -> dict[str, int]:
    """The credits one channel account holds, per notice."""
    rows = session.scalars(
        select(NoticeCredit).where(
            NoticeCredit.resident_id == account.resident_id, NoticeCredit.app_id == account.app_id
        )
    )
    return {row.notice: row.credits for row in rows}


def record_subscriptions(
    session: Session,
    templates: tuple[NoticeTemplate, ...],
    account: ChannelAccount,
    answers: Mapping[str, str],
    *,
    now: datetime,
) -> dict[str, int]:
    """What the resident answered in the channel's prompt: each accept is one credit. Returns credits now."""
    offered = {t.name for t in templates_of_app(templates, account.app_id)}
    unknown = sorted(name for name in answers if name not in offered)
    if unknown:
        raise Invalid(
            "notices.unknown_template",
            "This app sends no such notice.",
            {"templates": unknown[:10], "offered": sorted(offered)},
        )
    with transaction(session):
        credits = {}
        for name in sorted(answers):
            row = _credit_row(session, account, name, now)
            if answers[name] == "accept":
                row.credits = min(MAX_CREDITS, row.credits + 1)
                row.updated_at = now
            credits[name] = row.credits
    return credits


def send_notice(
    session: Session,
    messengers: Mapping[str, Messenger],
    templates: tuple[NoticeTemplate, ...],
    resident_id: int,
    notice: str,
    fields: Mapping[str, str],
    *,
    now: datetime,
) -> bool:
    """Tell a person something through a channel account that holds a credit; whether it was delivered.

    Call it outside any transaction: it makes its own, around the channel call.
    """
    return tell(session, messengers, templates, resident_id, notice, fields, now=now) == SENT


def tell(
    session: Session,
    messengers: Mapping[str, Messenger],
    templates: tuple[NoticeTemplate, ...],
    resident_id: int,
    notice: str,
    fields: Mapping[str, str],
    *,
    now: datetime,
) -> str:
    """send_notice's outcome: sent, refused (by the channel, or no credit anywhere) or unavailable (worth a retry)."""
    ids = person_ids(session, resident_id)
    accounts = [a for a in channel_accounts(session, ids) if a.app_id in messengers]
    by_app = {t.app_id: t for t in templates if t.name == notice}
    outcomes: set[str] = set()
    for account in accounts:
        template = by_app.get(account.app_id)
        credit_id = _take_credit(session, ids, account, notice, now) if template is not None else None
        if template is None or credit_id is None:
            continue
        outcome, reason = _deliver(messengers[account.app_id], account, template, fields)
        outcomes.add(outcome)
        with transaction(session):
            credit = session.get(NoticeCredit, credit_id, with_for_update=True)
            if credit is not None and outcome != SENT:
                # The channel's count is the truth when it says none are left; otherwise nothing was spent.
                credit.credits = 0 if reason == "no_credit" else min(MAX_CREDITS, credit.credits + 1)
                credit.updated_at = now
            _record(session, resident_id, notice, account, outcome, reason, now)
        if outcome == SENT or (outcome == REFUSED and reason != "no_credit"):
            return outcome  # sent, or the notice itself is refused: another app would refuse it too
    if not outcomes:
        with transaction(session):
            _record(session, resident_id, notice, None, "no_credit", None, now)
    # One account that could not answer now may answer later; accounts out of credit will not.
    return UNAVAILABLE if UNAVAILABLE in outcomes else REFUSED


def erase_notice_data(session: Session, resident_ids: frozenset[int], now: datetime) -> None:
    """Forget a person's credits and notice records (inside the erasing transaction)."""
    session.execute(delete(NoticeCredit).where(NoticeCredit.resident_id.in_(resident_ids)))
    session.execute(delete(NoticeRecord).where(NoticeRecord.resident_id.in_(resident_ids)))


def fill(template: NoticeTemplate, fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The template's keywords filled from our fields; a field we do not have is left out (a channel may refuse)."""
    return tuple((keyword, fields[field]) for keyword, field in template.keywords if fields.get(field))


def _deliver(
    messenger: Messenger, account: ChannelAccount, template: NoticeTemplate, fields: Mapping[str, str]
) -> tuple[str, str | None]:
    delivery = Delivery(
        account.app_id,
        account.external_id,
        account.unionid,
        template.template_id,
        fill(template, fields),
        template.page,
    )
    try:
        messenger.send(delivery)
    except NoticeRefused as refused:
        log.warning("notice refused", extra={"app_id": account.app_id, "notice": template.name, "code": refused.code})
        return REFUSED, "no_credit" if refused.no_credit else refused.code[:64]
    except UpstreamUnavailable as unavailable:
        return UNAVAILABLE, unavailable.code[:64]
    return SENT, None


def _take_credit(
    session: Session, ids: frozenset[int], account: ChannelAccount, notice: str, now: datetime
) -> int | None:
    """Spend one of the account's credits for the notice, under the row's lock: the credit row, or None."""
    with transaction(session):
        row = session.scalar(
            select(NoticeCredit)
            .where(
                NoticeCredit.resident_id.in_(ids),
                NoticeCredit.app_id == account.app_id,
                NoticeCredit.notice == notice,
                NoticeCredit.credits > 0,
            )
            .order_by(NoticeCredit.id)
            .limit(1)
            .with_for_update()
        )
        if row is None:
            return None
        row.credits -= 1
        row.updated_at = now
        return row.id


def _credit_row(session: Session, account: ChannelAccount, notice: str, now: datetime) -> NoticeCredit:
    """The account's credit row for the notice, locked; created empty on first use."""
    query = select(NoticeCredit).where(
        NoticeCredit.resident_id == account.resident_id,
        NoticeCredit.app_id == account.app_id,
        NoticeCredit.notice == notice,
    )
    row = session.scalar(query.with_for_update())
    if row is None:
        row = NoticeCredit(
            resident_id=account.resident_id,
            channel=account.channel,
            app_id=account.app_id,
            notice=notice,
            credits=0,
            updated_at=now,
        )
        session.add(row)
        session.flush()
    return row


def _record(
    session: Session,
    resident_id: int,
    notice: str,
    account: ChannelAccount | None,
    outcome: str,
    reason: str | None,
    now: datetime,
) -> None:
    session.add(
        NoticeRecord(
            resident_id=resident_id,
            notice=notice,
            channel=account.channel if account else None,
            app_id=account.app_id if account else None,
            outcome=outcome,
            reason=reason,
            at=now,
        )
    )
