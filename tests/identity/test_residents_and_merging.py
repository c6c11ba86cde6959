"""Signing in, unionid joins, merges, erasure, phones and re-sealing, at the identity layer on both databases."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from errors import Invalid
from identity.attempt_counts import DatabaseAttempts
from identity.consent import record_consent
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.fake_channels import FakePhones
from identity.merging import merge_residents
from identity.models import AccessToken
from identity.models import ChannelIdentity
from identity.models import ChannelUnion
from identity.models import ConsentRecord
from identity.models import Resident
from identity.models import ResidentMerge
from identity.people import person_ids
from identity.phones import PHONE
from identity.phones import bind_phone
from identity.residents import erase_resident
from identity.residents import sign_in
from identity.residents import signed_in_resident
from identity.rotation import BATCH
from identity.rotation import reseal_personal_data
from identity.vault import Vault

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
K1, K2 = (base64.b64encode(k * 32).decode() for k in (b"1", b"2"))
VAULT = Vault.from_settings(f"k1:{K1}", "k1", base64.b64encode(b"L" * 32).decode())
MINI, OA = "wx-mini", "wx-oa"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    yield db
    db.close()
    engine.dispose()


@pytest.fixture
def wechat() -> FakeChannel:
    return FakeChannel("wechat")


def counter(session: Session) -> DatabaseAttempts:
    """The database's attempt counter, as the app wires it without Redis."""
    return DatabaseAttempts(session.get_bind(), b"s" * 32)  # type: ignore[arg-type]


def log_in(session: Session, fake: FakeChannel, app_id: str, external_id: str, **user: str):  # type: ignore[no-untyped-def]
    code, _ = fake.issue_code(external_id, **user)
    return sign_in(
        session,
        FakeLogin(fake, app_id),
        code,
        source="192.0.2.1",
        attempts=counter(session),
        vault=VAULT,
        now=NOW,
        lifetime=HOUR,
    )


def verify(session: Session, resident: Resident, id_number: str) -> None:
    with transaction(session):
        resident.id_number_lookup = VAULT.lookup("resident.id_number", id_number)
        resident.id_number_sealed = VAULT.seal("resident.id_number", id_number)
        resident.assurance_level = "channel_certified"


def unions(session: Session) -> dict[tuple[str, str], int]:
    return {(u.channel, u.unionid): u.resident_id for u in session.scalars(select(ChannelUnion))}


def test_a_merge_moves_the_merged_residents_things_and_nobody_elses(session: Session, wechat: FakeChannel) -> None:
    alipay = FakeChannel("alipay")
    survivor = log_in(session, wechat, MINI, "o-1", unionid="u-1")
    merged = log_in(session, alipay, "ali", "2088-1", unionid="2088-1")
    bystander = log_in(session, wechat, MINI, "o-3", unionid="u-3")
    with transaction(session):
        for who in (survivor, merged, bystander):
            record_consent(session, who.resident.id, "real_name_verification", "2026-11", NOW)
        record = merge_residents(session, survivor=survivor.resident, merged=merged.resident, reason="test", now=NOW)
    ids = survivor.resident.id, merged.resident.id, bystander.resident.id
    assert record.moved["unions"] == 1 and record.moved["sessions"] == 1 and record.moved["consents"] == 1
    assert record.moved["identities"] == [{"channel": "alipay", "app_id": "ali"}]
    assert unions(session) == {("wechat", "u-1"): ids[0], ("alipay", "2088-1"): ids[0], ("wechat", "u-3"): ids[2]}
    owners = sorted(i.resident_id for i in session.scalars(select(ChannelIdentity)))
    assert owners == sorted([ids[0], ids[0], ids[2]])
    assert sorted(c.resident_id for c in session.scalars(select(ConsentRecord))) == sorted([ids[0], ids[0], ids[2]])
    assert sorted(t.resident_id for t in session.scalars(select(AccessToken))) == sorted([ids[0], ids[0], ids[2]])
    assert {i.app_id for i in survivor.resident.identities} == {MINI, "ali"}  # seen at once, not stale
    assert session.get(Resident, ids[1]).merged_into_id == ids[0]
    assert session.get(Resident, ids[2]).merged_into_id is None


def test_a_merge_moves_the_phone_only_when_the_survivor_has_none(session: Session, wechat: FakeChannel) -> None:
    survivor = log_in(session, wechat, MINI, "o-1").resident
    merged = log_in(session, wechat, MINI, "o-2").resident
    with transaction(session):
        merged.phone_sealed, merged.phone_lookup = VAULT.seal(PHONE, "13800000001"), "lookup-1"
        record = merge_residents(session, survivor=survivor, merged=merged, reason="test", now=NOW)
    assert record.moved["phone"] == "moved"
    assert VAULT.open(PHONE, survivor.phone_sealed) == "13800000001" and survivor.phone_lookup == "lookup-1"
    assert (merged.phone_sealed, merged.phone_lookup) == (None, None)
    assert (merged.real_name_sealed, merged.id_number_sealed, merged.id_number_lookup) == (None, None, None)
    assert record.moved["survivor_previous_verification"] is None


def test_a_merge_without_phones_records_none(session: Session, wechat: FakeChannel) -> None:
    survivor = log_in(session, wechat, MINI, "o-1").resident
    merged = log_in(session, wechat, MINI, "o-2").resident
    with transaction(session):
        record = merge_residents(session, survivor=survivor, merged=merged, reason="test", now=NOW)
    assert "phone" not in record.moved and survivor.phone_sealed is None
    assert session.scalar(select(ResidentMerge)).reason == "test"


def test_a_unionid_is_joined_within_its_own_channel_only(session: Session, wechat: FakeChannel) -> None:
    alipay = FakeChannel("alipay")
    log_in(session, wechat, MINI, "o-first", unionid="a-first")  # an earlier WeChat person, unrelated
    # The same text as an Alipay user_id and a WeChat unionid names two different people.
    on_alipay = log_in(session, alipay, "ali", "shared", unionid="shared")
    on_wechat = log_in(session, wechat, MINI, "o-mini", unionid="shared")
    assert on_wechat.resident.id != on_alipay.resident.id
    log_in(session, wechat, OA, "o-oa")
    joined = log_in(session, wechat, OA, "o-oa", unionid="shared")
    assert joined.resident.id == on_wechat.resident.id
    assert session.get(Resident, on_alipay.resident.id).merged_into_id is None


def test_a_unionid_join_of_two_unverified_residents_keeps_the_one_the_channel_knew(
    session: Session, wechat: FakeChannel
) -> None:
    holder = log_in(session, wechat, MINI, "o-mini", unionid="u-1")
    newcomer = log_in(session, wechat, OA, "o-oa")
    joined = log_in(session, wechat, OA, "o-oa", unionid="u-1")
    assert joined.resident.public_id == holder.resident.public_id != newcomer.resident.public_id


def test_a_unionid_seen_again_on_its_own_resident_changes_nothing(session: Session, wechat: FakeChannel) -> None:
    first = log_in(session, wechat, OA, "o-oa", unionid="u-1")
    log_in(session, wechat, OA, "o-oa", unionid="u-2")
    again = log_in(session, wechat, OA, "o-oa", unionid="u-1")
    assert again.resident.id == first.resident.id and again.resident.merged_into_id is None
    assert signed_in_resident(session, again.token.token, now=NOW).resident.id == first.resident.id
    assert session.scalar(select(ResidentMerge)) is None
    assert unions(session) == {("wechat", "u-1"): first.resident.id, ("wechat", "u-2"): first.resident.id}


def test_verified_residents_with_different_numbers_are_not_joined_by_a_unionid(
    session: Session, wechat: FakeChannel
) -> None:
    holder = log_in(session, wechat, MINI, "o-mini", unionid="u-1")
    other = log_in(session, wechat, OA, "o-oa")
    verify(session, holder.resident, "11010519491231002X")
    verify(session, other.resident, "440524188001010014")
    again = log_in(session, wechat, OA, "o-oa", unionid="u-1")
    assert again.resident.id == other.resident.id and session.scalar(select(ResidentMerge)) is None
    assert unions(session) == {("wechat", "u-1"): holder.resident.id}


def test_erasure_clears_every_personal_field(session: Session, wechat: FakeChannel) -> None:
    signed = log_in(session, wechat, MINI, "o-1", unionid="u-1")
    resident = signed.resident
    verify(session, resident, "11010519491231002X")
    with transaction(session):
        resident.real_name_sealed = VAULT.seal("resident.real_name", "张三")
        resident.phone_sealed, resident.phone_lookup = VAULT.seal(PHONE, "13800000001"), "lookup-1"
        resident.real_name_verified_at, resident.real_name_verified_by = NOW, "fake_real_name"
    erase_resident(session, resident, now=NOW)
    session.expire_all()
    erased = session.get(Resident, resident.id)
    assert erased.erased_at == NOW and erased.assurance_level == "none"
    for column in ("real_name_sealed", "id_number_sealed", "id_number_lookup", "phone_sealed", "phone_lookup"):
        assert getattr(erased, column) is None, column
    assert (erased.real_name_verified_at, erased.real_name_verified_by) == (None, None)
    assert erased.identities == [] and unions(session) == {}
    assert resident.identities == []  # the caller's object shows it at once


def test_a_bound_phone_is_sealed_with_its_own_lookup(session: Session, wechat: FakeChannel) -> None:
    signed = log_in(session, wechat, MINI, "o-1")
    code, _ = wechat.issue_code("o-1", phone="13800000001")
    who = signed_in_resident(session, signed.token.token, now=NOW)
    resident = bind_phone(
        session, who, code, sources={MINI: FakePhones(wechat)}, attempts=counter(session), vault=VAULT, now=NOW
    )
    assert resident.phone_lookup == VAULT.lookup(PHONE, "13800000001")
    assert VAULT.open(PHONE, resident.phone_sealed) == "13800000001"
    with pytest.raises(Invalid) as refused:
        bind_phone(session, who, code, sources={}, attempts=counter(session), vault=VAULT, now=NOW)
    assert refused.value.code == "identity.phone_not_supported" and refused.value.message
    without_identity = replace(who, identity=None)  # a session that did not come through a channel app
    with pytest.raises(Invalid) as refused:
        bind_phone(
            session,
            without_identity,
            code,
            sources={MINI: FakePhones(wechat)},
            attempts=counter(session),
            vault=VAULT,
            now=NOW,
        )
    assert refused.value.code == "identity.phone_not_supported"


def test_resealing_goes_past_the_first_batch(session: Session) -> None:
    with transaction(session):
        for n in range(BATCH + 1):
            session.add(
                Resident(
                    public_id=f"r_{n}",
                    created_at=NOW,
                    assurance_level="none",
                    phone_sealed=VAULT.seal(PHONE, f"138{n:08d}"),
                )
            )
    rotated = Vault.from_settings(f"k1:{K1},k2:{K2}", "k2", base64.b64encode(b"L" * 32).decode())
    assert reseal_personal_data(session, rotated) == BATCH + 1
    phones = session.scalars(select(Resident.phone_sealed).order_by(Resident.id)).all()
    assert all(p.startswith("v1:k2:") for p in phones)
    assert [rotated.open(PHONE, p) for p in phones] == [f"138{n:08d}" for n in range(BATCH + 1)]
    assert reseal_personal_data(session, rotated) == 0


def test_the_lock_rereads_a_resident_another_session_erased_meanwhile(database_url: str, wechat: FakeChannel) -> None:
    from errors import Conflict
    from identity.residents import lock_live_resident

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as mine, sessions() as theirs:
        resident_id = log_in(mine, wechat, MINI, "o-1").resident.id
        held = mine.get(Resident, resident_id)  # held in this session's identity map, as a request would
        assert held is not None and held.erased_at is None
        mine.commit()
        erase_resident(theirs, theirs.get(Resident, resident_id), now=NOW)
        with pytest.raises(Conflict) as changed:
            with transaction(mine):
                lock_live_resident(mine, resident_id)
        assert changed.value.code == "identity.resident_changed"
    engine.dispose()


def test_an_identity_without_a_channel_secret_has_none(session: Session, wechat: FakeChannel) -> None:
    from identity.residents import channel_secret

    identity = log_in(session, wechat, MINI, "o-1").resident.identities[0]
    assert channel_secret(identity, VAULT) == "fake-session-o-1"
    identity.channel_secret_sealed = None
    assert channel_secret(identity, VAULT) is None


def test_consent_is_recorded_only_under_a_known_purpose_and_version(session: Session, wechat: FakeChannel) -> None:
    resident_id = log_in(session, wechat, MINI, "o-1").resident.id
    for purpose, version, versions in (
        ("real_name_verification", "2020-01", ["2026-11"]),
        ("marketing", "2026-11", []),
    ):
        with pytest.raises(Invalid) as refused:
            record_consent(session, resident_id, purpose, version, NOW)
        assert refused.value.code == "identity.unknown_consent_version"
        assert refused.value.details == {"versions": versions}
    record = record_consent(session, resident_id, "real_name_verification", "2026-11", NOW)
    assert (record.resident_id, record.purpose, record.text_version, record.given_at) == (
        resident_id,
        "real_name_verification",
        "2026-11",
        NOW,
    )


def test_a_real_name_needs_a_channel_identity_to_verify_through(session: Session, wechat: FakeChannel) -> None:
    from identity.fake_channels import FakeRealNames
    from identity.real_name import RealNameRequest
    from identity.real_name import bind_real_name

    signed = log_in(session, wechat, MINI, "o-1", real_name="张三", id_number="11010519491231002X")
    who = replace(signed_in_resident(session, signed.token.token, now=NOW), identity=None)
    request = RealNameRequest(name="张三", id_number="11010519491231002X", consent_version="2026-11")
    with pytest.raises(Invalid) as refused:
        bind_real_name(
            session,
            who,
            request,
            verifiers={"wechat": FakeRealNames(wechat)},
            attempts=counter(session),
            vault=VAULT,
            now=NOW,
        )
    assert refused.value.code == "identity.no_channel_identity"


def test_a_real_name_is_checked_with_the_channel_session_the_resident_logged_in_with(
    session: Session, wechat: FakeChannel
) -> None:
    from identity.fake_channels import FakeRealNames
    from identity.ports import RealNameClaim
    from identity.ports import RealNameResult
    from identity.real_name import RealNameRequest
    from identity.real_name import bind_real_name

    class Recording(FakeRealNames):
        claims: list[RealNameClaim] = []

        def verify(self, claim: RealNameClaim) -> RealNameResult:
            self.claims.append(claim)
            return super().verify(claim)

    signed = log_in(session, wechat, MINI, "o-1", real_name="张三", id_number="11010519491231002X")
    who = signed_in_resident(session, signed.token.token, now=NOW)
    request = RealNameRequest(name="张三", id_number="11010519491231002X", consent_version="2026-11")
    verifier = Recording(wechat)
    bind_real_name(
        session, who, request, verifiers={"wechat": verifier}, attempts=counter(session), vault=VAULT, now=NOW
    )
    # Alipay's check needs the resident's own auth token: the one sealed at login, opened for this call only.
    [claim] = verifier.claims
    assert (claim.external_id, claim.secret) == ("o-1", "fake-session-o-1")


def test_a_token_left_on_a_merged_resident_reaches_the_survivor(session: Session, wechat: FakeChannel) -> None:
    survivor = log_in(session, wechat, MINI, "o-1")
    merged = log_in(session, wechat, MINI, "o-2")
    with transaction(session):
        merge_residents(session, survivor=survivor.resident, merged=merged.resident, reason="test", now=NOW)
    # A token issued in the instant of the merge still names the merged resident.
    late = log_in(session, wechat, MINI, "o-2")
    with transaction(session):
        stored = session.scalar(
            select(AccessToken).where(AccessToken.id == max(t.id for t in session.scalars(select(AccessToken))))
        )
        stored.resident_id = merged.resident.id
    who = signed_in_resident(session, late.token.token, now=NOW)
    assert who.resident.id == survivor.resident.id and who.token is stored
    assert who.identity is not None and who.identity.external_id == "o-2"


def test_a_token_without_a_channel_identity_signs_in_without_one(session: Session, wechat: FakeChannel) -> None:
    from identity.tokens import issue_token

    resident = log_in(session, wechat, MINI, "o-1").resident
    with transaction(session):
        issued = issue_token(session, now=NOW, lifetime=HOUR, resident_id=resident.id)
    who = signed_in_resident(session, issued.token, now=NOW)
    assert who.resident.id == resident.id and who.identity is None


def test_a_profile_shows_when_the_resident_arrived_and_was_verified(session: Session, wechat: FakeChannel) -> None:
    from identity.profiles import profile_of

    resident = log_in(session, wechat, MINI, "o-1").resident
    verify(session, resident, "11010519491231002X")
    with transaction(session):
        resident.real_name_verified_at = NOW + HOUR
    profile = profile_of(resident, VAULT)
    assert (profile.created_at, profile.verified_at, profile.id) == (NOW, NOW + HOUR, resident.public_id)
    assert profile.id_number == "1101**********002X" and profile.real_name_verified is True


def test_an_identity_is_one_app_of_one_channel(session: Session, wechat: FakeChannel) -> None:
    # Alipay gives one user_id in every app; each app still gets its own identity on the one resident.
    first = log_in(session, wechat, MINI, "same-id", unionid="u-1")
    second = log_in(session, wechat, OA, "same-id", unionid="u-1")
    assert second.resident.id == first.resident.id
    assert sorted(i.app_id for i in second.resident.identities) == sorted([MINI, OA])


def test_a_first_login_creates_an_unverified_resident_with_a_short_public_id(
    session: Session, wechat: FakeChannel
) -> None:
    import re

    signed = log_in(session, wechat, MINI, "o-1", unionid="u-1")
    resident = session.get(Resident, signed.resident.id)
    assert re.fullmatch(r"r_[A-Za-z0-9_-]{16}", resident.public_id)
    assert resident.assurance_level == "none" and resident.created_at == NOW
    assert [i.unionid for i in resident.identities] == ["u-1"]


def test_an_identity_keeps_the_unionid_it_was_last_given(session: Session, wechat: FakeChannel) -> None:
    log_in(session, wechat, OA, "o-oa")  # snsapi_base: no unionid yet
    log_in(session, wechat, OA, "o-oa", unionid="u-1")
    assert session.scalar(select(ChannelIdentity.unionid)) == "u-1"
    wechat.users["o-oa"].pop("unionid")
    log_in(session, wechat, OA, "o-oa")  # snsapi_base again: what it knew stays
    session.expire_all()
    assert session.scalar(select(ChannelIdentity.unionid)) == "u-1"
    assert unions(session) == {("wechat", "u-1"): session.scalar(select(ChannelIdentity.resident_id))}


def test_the_channel_is_asked_with_the_whole_claim(session: Session, wechat: FakeChannel) -> None:
    from identity.fake_channels import FakeRealNames
    from identity.ports import RealNameClaim
    from identity.ports import RealNameResult
    from identity.real_name import RealNameRequest
    from identity.real_name import bind_real_name

    asked: list[RealNameClaim] = []

    class Recording(FakeRealNames):
        def verify(self, claim: RealNameClaim) -> RealNameResult:
            asked.append(claim)
            return super().verify(claim)

    signed = log_in(session, wechat, MINI, "o-1", real_name="张三", id_number="11010519491231002X")
    who = signed_in_resident(session, signed.token.token, now=NOW)
    request = RealNameRequest(name=" 张三 ", id_number="11010519491231002x", consent_version="2026-11")
    bind_real_name(
        session, who, request, verifiers={"wechat": Recording(wechat)}, attempts=counter(session), vault=VAULT, now=NOW
    )
    [claim] = asked
    assert (claim.channel, claim.app_id, claim.external_id, claim.name, claim.id_number) == (
        "wechat",
        MINI,
        "o-1",
        "张三",
        "11010519491231002X",
    )


def test_a_person_is_every_resident_merged_into_them_through_any_chain(session: Session, wechat: FakeChannel) -> None:
    first, second, third, stranger = (log_in(session, wechat, MINI, f"o-{n}").resident for n in range(4))
    with transaction(session):
        merge_residents(session, survivor=second, merged=first, reason="test", now=NOW)
    with transaction(session):
        merge_residents(session, survivor=third, merged=second, reason="test", now=NOW)
    assert person_ids(session, third.id) == {first.id, second.id, third.id}
    assert person_ids(session, second.id) == {first.id, second.id}
    assert person_ids(session, stranger.id) == {stranger.id}


def test_erasure_runs_every_packages_eraser_over_the_whole_person_in_its_transaction(
    session: Session, wechat: FakeChannel
) -> None:
    merged, survivor, stranger = (log_in(session, wechat, MINI, f"o-{n}").resident for n in range(3))
    with transaction(session):
        merge_residents(session, survivor=survivor, merged=merged, reason="test", now=NOW)
    asked: list[tuple[frozenset[int], bool]] = []

    def plates(db: Session, ids: frozenset[int], now: datetime) -> None:
        asked.append((ids, db.in_transaction() and now == NOW))

    def failing(db: Session, ids: frozenset[int], now: datetime) -> None:
        raise RuntimeError("the locations table is gone")

    with pytest.raises(RuntimeError):
        erase_resident(session, survivor, now=NOW, erasers=(plates, failing))
    session.rollback()
    assert session.get(Resident, survivor.id).erased_at is None  # nowhere, since not everywhere
    erase_resident(session, survivor, now=NOW, erasers=(plates,))
    assert asked[-1] == (frozenset({merged.id, survivor.id}), True)
    assert stranger.id not in asked[-1][0]
    assert session.get(Resident, survivor.id).erased_at is not None


@pytest.mark.parametrize(
    "missing", ["real_name_verified_at", "real_name_sealed", "id_number_sealed", "id_number_lookup"]
)
def test_a_verified_person_needs_every_part_of_the_verification(missing: str) -> None:
    from identity.real_name import ID_NUMBER
    from identity.real_name import REAL_NAME
    from identity.real_name import verified_person

    resident = Resident(
        public_id="r_v",
        created_at=NOW,
        real_name_verified_at=NOW,
        real_name_sealed=VAULT.seal(REAL_NAME, "林晓雯"),
        id_number_sealed=VAULT.seal(ID_NUMBER, "110105194912310021"),
        id_number_lookup="lookup",
    )
    person = verified_person(resident, VAULT)
    assert person is not None and (person.name, person.id_number, person.lookup) == (
        "林晓雯",
        "110105194912310021",
        "lookup",
    )
    setattr(resident, missing, None)
    assert verified_person(resident, VAULT) is None
