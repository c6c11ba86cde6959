"""Consent records: one per resident, purpose and version of the text, however often it is given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from identity.consent import CONSENT_TEXTS
from identity.consent import current_consent_text
from identity.consent import record_consent
from identity.fake_channels import FakeChannel
from identity.merging import merge_residents
from identity.models import ConsentRecord
from tests.identity.test_residents_and_merging import MINI
from tests.identity.test_residents_and_merging import NOW
from tests.identity.test_residents_and_merging import log_in

PURPOSE = "real_name_verification"
LATER = NOW.replace(hour=5)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    yield db
    db.close()
    engine.dispose()


def records(session: Session) -> list[tuple[int, str, str]]:
    return [(c.resident_id, c.purpose, c.text_version) for c in session.scalars(select(ConsentRecord))]


def test_consent_given_again_keeps_the_first_record(session: Session) -> None:
    resident_id = log_in(session, FakeChannel("wechat"), MINI, "o-1").resident.id
    with transaction(session):
        first = record_consent(session, resident_id, PURPOSE, "2026-11", NOW)
    with transaction(session):
        again = record_consent(session, resident_id, PURPOSE, "2026-11", LATER)
    assert again.id == first.id and again.given_at == NOW
    assert records(session) == [(resident_id, PURPOSE, "2026-11")]


def test_each_resident_gives_their_own_consent(session: Session) -> None:
    wechat = FakeChannel("wechat")
    first = log_in(session, wechat, MINI, "o-1").resident.id
    second = log_in(session, wechat, MINI, "o-2").resident.id
    with transaction(session):
        record_consent(session, first, PURPOSE, "2026-11", NOW)
    with transaction(session):
        theirs = record_consent(session, second, PURPOSE, "2026-11", LATER)
    assert (theirs.resident_id, theirs.given_at) == (second, LATER)
    assert sorted(records(session)) == sorted([(first, PURPOSE, "2026-11"), (second, PURPOSE, "2026-11")])


def test_a_new_version_or_another_purpose_is_consent_anew(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # A new wording is published as a new version, a new use of data as a new purpose.
    monkeypatch.setitem(CONSENT_TEXTS[PURPOSE], "2027-03", "新版本")
    monkeypatch.setitem(CONSENT_TEXTS, "phone_binding", {"2026-11": "绑定手机"})
    resident_id = log_in(session, FakeChannel("wechat"), MINI, "o-1").resident.id
    with transaction(session):
        record_consent(session, resident_id, PURPOSE, "2026-11", NOW)
    with transaction(session):
        newer = record_consent(session, resident_id, PURPOSE, "2027-03", LATER)
    with transaction(session):
        other = record_consent(session, resident_id, "phone_binding", "2026-11", LATER)
    assert (newer.text_version, newer.given_at, other.purpose, other.given_at) == (
        "2027-03",
        LATER,
        "phone_binding",
        LATER,
    )
    assert sorted(records(session)) == sorted(
        [
            (resident_id, PURPOSE, "2026-11"),
            (resident_id, PURPOSE, "2027-03"),
            (resident_id, "phone_binding", "2026-11"),
        ]
    )
    assert current_consent_text(PURPOSE) == ("2027-03", "新版本")


def test_after_a_merge_the_earliest_of_two_consents_is_the_record(session: Session) -> None:
    wechat = FakeChannel("wechat")
    survivor = log_in(session, wechat, MINI, "o-1").resident
    merged = log_in(session, wechat, MINI, "o-2").resident
    with transaction(session):
        merged_consent = record_consent(session, merged.id, PURPOSE, "2026-11", NOW)
    with transaction(session):
        record_consent(session, survivor.id, PURPOSE, "2026-11", LATER)
    with transaction(session):
        merge_residents(session, survivor=survivor, merged=merged, reason="test", now=LATER)
    with transaction(session):
        kept = record_consent(session, survivor.id, PURPOSE, "2026-11", LATER.replace(hour=9))
    assert (kept.id, kept.given_at) == (merged_consent.id, NOW)
    assert len(records(session)) == 2
