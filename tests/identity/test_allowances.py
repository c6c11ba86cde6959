"""Uses of an allowance kept past an erasure: under keyed hashes of each account and ID number, once per use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from database import transaction
from identity.allowances import Allowances
from identity.allowances import Mark
from identity.models import AllowanceMark
from identity.models import ChannelIdentity
from identity.models import Resident

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def add_person(session: Session, name: str, accounts: list[tuple[str, str, str]], id_lookup: str | None) -> int:
    with transaction(session):
        resident = Resident(public_id=f"r_{name}", created_at=NOW, id_number_lookup=id_lookup)
        session.add(resident)
        session.flush()
        for channel, app_id, external_id in accounts:
            session.add(
                ChannelIdentity(
                    resident_id=resident.id,
                    channel=channel,
                    app_id=app_id,
                    external_id=external_id,
                    created_at=NOW,
                    last_login_at=NOW,
                )
            )
    return resident.id


def uses(*marks: Mark) -> object:
    def carrier(_session: Session, _everyone: frozenset[int], _now: datetime) -> Iterator[Mark]:
        yield from marks

    return carrier


def test_a_person_is_kept_under_each_account_and_their_id_number(app: Flask, session: Session) -> None:
    kept = Allowances(app.extensions["vault"])
    person = add_person(session, "a", [("wechat", "wx-mini", "o-1"), ("alipay", "2021", "2088-1")], "lookup-1")
    stranger = add_person(session, "b", [("wechat", "wx-mini", "o-2")], None)
    subjects = kept.subjects(session, frozenset({person}))
    assert len(subjects) == 3 and not subjects & kept.subjects(session, frozenset({stranger}))
    # Once the person is erased, someone who logs in with one of those accounts, or verifies that ID number,
    # is found again.
    with transaction(session):
        session.execute(delete(ChannelIdentity).where(ChannelIdentity.resident_id == person))
        session.execute(update(Resident).where(Resident.id == person).values(id_number_lookup=None))
    same_account = add_person(session, "c", [("wechat", "wx-mini", "o-1")], None)
    same_person = add_person(session, "d", [], "lookup-1")
    assert kept.subjects(session, frozenset({same_account})) < subjects
    assert kept.subjects(session, frozenset({same_person})) < subjects
    # An account of the same id in another app, or a thing named like an id, is someone else.
    other_app = add_person(session, "e", [("wechat", "wx-oa", "o-1")], None)
    assert not kept.subjects(session, frozenset({other_app})) & subjects
    assert not kept.thing("lookup-1") & subjects
    assert kept.subjects(session, frozenset()) == frozenset()


def test_a_use_is_kept_once_per_subject_and_counted_once(app: Flask, session: Session) -> None:
    person = add_person(session, "a", [("wechat", "wx-mini", "o-1"), ("alipay", "2021", "2088-1")], "lookup-1")
    marks = [
        Mark("car_move.request", NOW - 2 * HOUR, NOW + HOUR),
        Mark("car_move.request", NOW - 3 * HOUR, NOW + HOUR),
        Mark("car_move.complaint", NOW - HOUR, NOW + HOUR, scope="plate-1"),
        Mark("car_move.live_request", NOW - HOUR, NOW + HOUR, about="plate-1"),
        Mark("car_move.request", NOW - 5 * HOUR, NOW),  # its window is over: not kept
    ]
    kept = Allowances(app.extensions["vault"], carriers=[uses(*marks)])
    subjects = kept.subjects(session, frozenset({person}))
    with transaction(session):
        kept.carry_over(session, frozenset({person}), NOW)
    stored = session.scalars(select(AllowanceMark)).all()
    assert len(stored) == 3 * 3 + 1
    assert len({m.event for m in stored}) == 4
    assert {m.subject for m in stored if m.kind == "car_move.live_request"} == kept.thing("plate-1")
    assert all(m.scope == "" for m in stored if m.kind != "car_move.complaint")
    assert {m.scope for m in stored if m.kind == "car_move.complaint"} != {"plate-1"}
    # Oldest first, each use once, however many of the person's subjects it was kept under.
    assert kept.used(session, subjects, "car_move.request", after=NOW - 24 * HOUR, now=NOW) == [
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    ]
    assert kept.used(session, frozenset(list(subjects)[:1]), "car_move.request", after=NOW - 24 * HOUR, now=NOW) == [
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    ]
    # After is exclusive; a kind, a scope and a subject must each match.
    assert kept.used(session, subjects, "car_move.request", after=NOW - 3 * HOUR, now=NOW) == [NOW - 2 * HOUR]
    assert kept.used(session, subjects, "car_move.complaint", after=NOW - 24 * HOUR, now=NOW) == []
    assert kept.used(session, subjects, "car_move.complaint", after=NOW - 24 * HOUR, now=NOW, scope="plate-2") == []
    assert kept.used(session, subjects, "car_move.complaint", after=NOW - 24 * HOUR, now=NOW, scope="plate-1") == [
        NOW - HOUR
    ]
    assert kept.used(session, kept.thing("plate-1"), "car_move.live_request", after=NOW - 2 * HOUR, now=NOW) == [
        NOW - HOUR
    ]
    assert kept.used(session, subjects, "car_move.live_request", after=NOW - 2 * HOUR, now=NOW) == []
    assert kept.used(session, frozenset(), "car_move.request", after=NOW - 24 * HOUR, now=NOW) == []
    # A use stops counting when its window is over.
    assert kept.used(session, subjects, "car_move.request", after=NOW - 24 * HOUR, now=NOW + HOUR) == []


def test_marks_past_their_window_are_swept_by_the_next_erasure(app: Flask, session: Session) -> None:
    person = add_person(session, "a", [("wechat", "wx-mini", "o-1")], None)
    other = add_person(session, "b", [("wechat", "wx-mini", "o-2")], None)
    vault = app.extensions["vault"]
    with transaction(session):
        Allowances(vault, [uses(Mark("k", NOW, NOW + HOUR))]).carry_over(session, frozenset({person}), NOW)
    with transaction(session):
        Allowances(vault, [uses(Mark("k", NOW, NOW + 3 * HOUR))]).carry_over(session, frozenset({other}), NOW + HOUR)
    assert [m.until for m in session.scalars(select(AllowanceMark))] == [NOW + 3 * HOUR]


def test_marks_are_keyed_by_purpose_so_no_other_lookup_can_match_them(app: Flask, session: Session) -> None:
    vault = app.extensions["vault"]
    kept = Allowances(
        vault,
        [uses(Mark("car_move", NOW, NOW + HOUR, scope="330100"), Mark("cooldown", NOW, NOW + HOUR, about="plate-1"))],
    )  # type: ignore[list-item]
    person = add_person(session, "k", [("wechat", "wx-mini", "o-9")], "lookup-9")
    account = vault.lookup("allowance_subject", "account\x1fwechat\x1fwx-mini\x1fo-9")
    id_number = vault.lookup("allowance_subject", "id_number\x1flookup-9")
    assert kept.subjects(session, frozenset({person})) == {account, id_number}
    assert kept.thing("plate-1") == {vault.lookup("allowance_subject", "thing\x1fplate-1")}
    with transaction(session):
        kept.carry_over(session, frozenset({person}), NOW)
    marks = session.scalars(select(AllowanceMark).order_by(AllowanceMark.kind, AllowanceMark.subject)).all()
    assert [(m.kind, m.subject, m.scope) for m in marks] == [
        ("car_move", *sorted([account, id_number])[:1], vault.lookup("allowance_scope", "330100")),
        ("car_move", *sorted([account, id_number])[1:], vault.lookup("allowance_scope", "330100")),
        ("cooldown", vault.lookup("allowance_subject", "thing\x1fplate-1"), ""),
    ]
    # One use is one event, however many subjects it is kept under: a fresh random one per use.
    assert marks[0].event == marks[1].event != marks[2].event
    assert all(len(m.event) == 32 and int(m.event, 16) >= 0 for m in marks)


def test_a_use_that_no_longer_counts_is_skipped_and_the_rest_still_kept(app: Flask, session: Session) -> None:
    kept = Allowances(app.extensions["vault"], [uses(Mark("a", NOW - HOUR, NOW), Mark("b", NOW, NOW + HOUR))])  # type: ignore[list-item]
    person = add_person(session, "s", [("wechat", "wx-mini", "o-s")], None)
    with transaction(session):
        kept.carry_over(session, frozenset({person}), NOW)
    assert session.scalars(select(AllowanceMark.kind)).all() == ["b"]
