"""A follower's message, taken in once and answered through the same use-cases as the resident API.

Taking in: the follower becomes a resident (their unionid asked of the channel on first sight),
the message is stored under its channel's id so retries and copies arriving together act once,
and what needs a city's upstream is queued on the outbox in the same transaction. Answering:
the reply is worked out once (inline when no upstream is involved, else by the task) and sealed;
the web tier hands it over passively if it is ready within the channel's limit, otherwise the
message is deferred and the task sends the reply as a customer-service message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.outbox import enqueue
from chat import answers
from chat.accounts import Account
from chat.accounts import menu_of
from chat.models import ANSWERED
from chat.models import DEFERRED
from chat.models import RECEIVED
from chat.models import REPLIED
from chat.models import SENT
from chat.models import UNSENT
from chat.models import ChatFollower
from chat.models import ChatMessage
from chat.ports import ChatChannel
from chat.ports import CityServices
from chat.ports import Incoming
from chat.routing import CAR_MOVE
from chat.routing import HOUSING_FUND
from chat.routing import PLACE
from chat.routing import Route
from chat.routing import route
from city_services.car_move.plates import read_plate
from database.transaction import end_reads
from database.transaction import insert_or_skip
from database.transaction import transaction
from errors import Invalid
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from identity.models import ChannelIdentity
from identity.ports import ChannelUser
from identity.residents import follow
from identity.vault import Vault

log = logging.getLogger("citytiles.chat")
CHAT_ANSWER = "chat_answer"
REPLY = "chat.reply"


@dataclass(frozen=True)
class Desk:
    """What conversations need: the accounts, their channels, the use-cases, the vault and a clock."""

    accounts: Mapping[str, Account]
    channels: Mapping[str, ChatChannel]
    services: CityServices
    vault: Vault
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Taken:
    """A message taken in: its row, whether this delivery was its first, and whether the task answers it."""

    message_id: int
    first: bool
    queued: bool


def take_in(session: Session, desk: Desk, incoming: Incoming) -> Taken:
    """Store the message once (copies and retries find the first), the follower as a resident, the task queued."""
    account = desk.accounts[incoming.app_id]
    now = desk.clock()
    resident_id = _follower_resident(session, desk, incoming, now)
    menu, keywords = menu_of(session, account)
    where = route(incoming, account.language, menu, keywords)
    end_reads(session)
    with transaction(session):
        inserted = session.execute(
            insert_or_skip(session)(ChatMessage.__table__)
            .values(
                channel=incoming.channel,
                app_id=incoming.app_id,
                dedup_key=incoming.dedup_key[:160],
                resident_id=resident_id,
                intent=where.intent,
                language=where.language,
                state=RECEIVED if account.passive else DEFERRED,
                received_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "app_id", "dedup_key"])
            .returning(ChatMessage.__table__.c.id)
        )
        # The row the INSERT returns tells the first delivery: psycopg reports no rowcount for it (-1).
        first = inserted.first() is not None
        message = session.scalars(
            select(ChatMessage)
            .where(
                ChatMessage.channel == incoming.channel,
                ChatMessage.app_id == incoming.app_id,
                ChatMessage.dedup_key == incoming.dedup_key[:160],
            )
            .with_for_update()
        ).one()
        queued = False
        if first:
            work = _follower_work(session, desk, incoming, resident_id, where, now)
            if work:
                message.work_sealed = desk.vault.seal(WORK, json.dumps(work))
            # Upstream work is the task's; so is every reply a channel takes only as a message of its own.
            queued = where.intent == HOUSING_FUND or "latitude" in work or not account.passive
            if queued:
                enqueue(session, CHAT_ANSWER, str(message.id), now)
        message_id = message.id
    if first and not queued:
        answer(session, desk, message_id)
    return Taken(message_id, first, queued)


def answer(session: Session, desk: Desk, message_id: int) -> None:
    """Work out the message's reply once and keep it sealed; a reply already there is kept."""
    message = session.get(ChatMessage, message_id)
    if message is None or message.reply_sealed is not None:
        return
    account = desk.accounts[message.app_id]
    work = json.loads(desk.vault.open(WORK, message.work_sealed)) if message.work_sealed else {}
    now = desk.clock()
    text = answers.reply_to(session, desk.services, desk.vault, account, message, work, now=now)
    with transaction(session):
        locked = _locked(session, message_id)
        if locked.reply_sealed is None:
            locked.reply_sealed = desk.vault.seal(REPLY, text) if text else ""
            locked.answered_at = locked.updated_at = now
            if locked.state == RECEIVED:
                locked.state = ANSWERED


def hand_over(session: Session, desk: Desk, message_id: int, *, giving_up: bool) -> str | None:
    """The reply to answer the channel's push with, if ready; giving up defers it to a customer-service message."""
    with transaction(session):
        message = _locked(session, message_id)
        if message.reply_sealed is not None and message.state in (ANSWERED, REPLIED):
            message.state, message.updated_at = REPLIED, desk.clock()
            return desk.vault.open(REPLY, message.reply_sealed) if message.reply_sealed else ""
        if giving_up and message.state == RECEIVED:
            message.state, message.updated_at = DEFERRED, desk.clock()
    return None


def carry_out(session: Session, desk: Desk, ref: str) -> None:
    """The outbox task of a message: answer it, then send the reply if the push was answered without it."""
    message_id = int(ref)
    answer(session, desk, message_id)
    message = session.get(ChatMessage, message_id)
    if message is None or message.state != DEFERRED or not message.reply_sealed:
        return
    channel = desk.channels[message.app_id]
    user = session.scalar(
        select(ChatFollower.user_id).where(
            ChatFollower.channel == message.channel,
            ChatFollower.app_id == message.app_id,
            ChatFollower.resident_id == message.resident_id,
        )
    )
    text = desk.vault.open(REPLY, message.reply_sealed)
    end_reads(session)
    outcome = SENT
    try:
        if user is not None:
            channel.send_text(user, text)
    except UpstreamRejected as refused:
        log.warning("a chat reply could not be sent", extra={"channel": message.channel, "code": refused.code})
        outcome = UNSENT
    # UpstreamUnavailable goes up: the outbox tries again later.
    with transaction(session):
        locked = _locked(session, message_id)
        if locked.state == DEFERRED:
            locked.state, locked.updated_at = outcome, desk.clock()


def _follower_resident(session: Session, desk: Desk, incoming: Incoming, now: datetime) -> int:
    """The resident behind the sender; on first sight the channel is asked who they are across its apps."""
    user = ChannelUser(incoming.channel, incoming.app_id, incoming.user)
    known = session.scalar(
        select(ChannelIdentity.resident_id).where(
            ChannelIdentity.channel == user.channel,
            ChannelIdentity.app_id == user.app_id,
            ChannelIdentity.external_id == user.external_id,
        )
    )
    end_reads(session)
    if known is not None:
        return known
    unionid = None
    try:
        unionid = desk.channels[incoming.app_id].unionid_of(incoming.user)
    except UpstreamUnavailable:
        # Known later: the next first-sight or login with a unionid joins the two.
        log.warning("a follower's unionid could not be asked", extra={"channel": incoming.channel})
    identity = follow(session, ChannelUser(user.channel, user.app_id, user.external_id, unionid), now=now)
    return identity.resident_id


def _follower_work(
    session: Session, desk: Desk, incoming: Incoming, resident_id: int, where: Route, now: datetime
) -> dict[str, Any]:
    """Keep the follower's location or plate; a plate and a fresh location together make a car-move request.

    Decided here, under the follower's lock, in the order the messages arrive: of a plate and a
    location sent moments apart, exactly one message carries both to its task.
    """
    session.execute(
        insert_or_skip(session)(ChatFollower.__table__)
        .values(
            channel=incoming.channel,
            app_id=incoming.app_id,
            user_id=incoming.user,
            resident_id=resident_id,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "app_id", "user_id"])
    )
    follower = session.scalars(
        select(ChatFollower)
        .where(
            ChatFollower.channel == incoming.channel,
            ChatFollower.app_id == incoming.app_id,
            ChatFollower.user_id == incoming.user,
        )
        .with_for_update()
    ).one()
    follower.resident_id, follower.updated_at = resident_id, now
    if where.intent == PLACE and incoming.latitude is not None and incoming.longitude is not None:
        place = {"latitude": incoming.latitude, "longitude": incoming.longitude}
        follower.location_sealed, follower.located_at = desk.vault.seal(PLACE_PURPOSE, json.dumps(place)), now
    elif where.intent == CAR_MOVE and where.argument:
        try:
            plate = read_plate(where.argument)
        except Invalid:
            return {"bad_plate": True}
        follower.plate_sealed, follower.plate_at = desk.vault.seal(PLATE_PURPOSE, plate), now
    else:
        return {}
    if follower.plate_sealed is None or follower.plate_at is None or follower.plate_at + FRESH_PLATE < now:
        return {}
    work: dict[str, Any] = {"plate": desk.vault.open(PLATE_PURPOSE, follower.plate_sealed)}
    if (
        follower.location_sealed is not None
        and follower.located_at is not None
        and follower.located_at + FRESH_PLACE >= now
    ):
        work.update(json.loads(desk.vault.open(PLACE_PURPOSE, follower.location_sealed)))
        follower.plate_sealed = follower.plate_at = None  # this message takes the plate to its request
    return work


def _locked(session: Session, message_id: int) -> ChatMessage:
    return session.scalars(select(ChatMessage).where(ChatMessage.id == message_id).with_for_update()).one()


# A location stands for where the follower is this long; a plate waits for one this long.
FRESH_PLACE = timedelta(minutes=30)
FRESH_PLATE = timedelta(minutes=10)
PLACE_PURPOSE = "chat.location"
PLATE_PURPOSE = "chat.plate"
WORK = "chat.work"
