"""Where a notice to a person can go: every channel account of every resident id that is the person."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy.orm import Session

from database import transaction
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.people import ChannelAccount
from identity.people import channel_accounts

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def test_accounts_of_the_person_most_recently_used_first(app, session: Session) -> None:
    with transaction(session):
        first, second, stranger = (Resident(public_id=f"r_{n}", created_at=NOW) for n in ("a", "b", "c"))
        session.add_all([first, second, stranger])
        session.flush()
        # Added in another order than used: the account used longest ago was added last.
        rows = [
            (second.id, "alipay", "2021", "2088-1", "2088-1", NOW - timedelta(hours=1)),
            (first.id, "wechat", "wx-oa", "o-2", "u-1", NOW - timedelta(hours=1)),
            (first.id, "wechat", "wx-mini", "o-1", "u-1", NOW - timedelta(days=2)),
            (stranger.id, "wechat", "wx-mini", "o-9", None, NOW),
        ]
        for resident_id, channel, app_id, external_id, unionid, used in rows:
            session.add(
                ChannelIdentity(
                    resident_id=resident_id,
                    channel=channel,
                    app_id=app_id,
                    external_id=external_id,
                    unionid=unionid,
                    created_at=NOW - timedelta(days=3),
                    last_login_at=used,
                )
            )
    found = channel_accounts(session, frozenset({first.id, second.id}))
    # Same last use: the account added later comes first.
    assert found == [
        ChannelAccount(first.id, "wechat", "wx-oa", "o-2", "u-1"),
        ChannelAccount(second.id, "alipay", "2021", "2088-1", "2088-1"),
        ChannelAccount(first.id, "wechat", "wx-mini", "o-1", "u-1"),
    ]


def test_accounts_used_at_the_same_moment_come_newest_added_first_whoever_holds_them(app, session: Session) -> None:
    with transaction(session):
        first, second = (Resident(public_id=f"r_{n}", created_at=NOW) for n in ("d", "e"))
        session.add_all([first, second])
        session.flush()
        for resident_id, app_id, external_id in ((first.id, "wx-mini", "o-d"), (second.id, "wx-oa", "o-e")):
            session.add(
                ChannelIdentity(
                    resident_id=resident_id,
                    channel="wechat",
                    app_id=app_id,
                    external_id=external_id,
                    created_at=NOW,
                    last_login_at=NOW,
                )
            )
    found = channel_accounts(session, frozenset({first.id, second.id}))
    assert [account.external_id for account in found] == ["o-e", "o-d"]
