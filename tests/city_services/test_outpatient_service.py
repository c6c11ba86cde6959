"""The outpatient use-cases over the fake platform, on both databases: reservations, limits, expiry, payment hook."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.outpatient import provider as port
from city_services.outpatient.fake import FakeOutpatient
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from city_services.outpatient.service import SlotChoice
from city_services.outpatient.service import appointment
from city_services.outpatient.service import cancel_appointment
from city_services.outpatient.service import confirm_appointment
from city_services.outpatient.service import departments
from city_services.outpatient.service import erase_appointments
from city_services.outpatient.service import expire_holds
from city_services.outpatient.service import give_back_held_places
from city_services.outpatient.service import hold_slot
from city_services.outpatient.service import my_appointments
from city_services.outpatient.service import schedules
from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from errors import Conflict
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from errors import TooManyRequests
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from identity.models import Resident
from identity.real_name import ID_NUMBER
from identity.real_name import REAL_NAME
from identity.vault import Vault

KEY = base64.b64encode(b"1" * 32).decode()
VAULT = Vault.from_settings(f"k1:{KEY}", "k1", base64.b64encode(b"L" * 32).decode())
NUMBER = "330106199001011234"


class Now:
    """One clock for the fake platform and the use-cases."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    yield db
    db.close()
    engine.dispose()


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def fake(now: Now) -> FakeOutpatient:
    return FakeOutpatient(hold_seconds=300, clock=now)


def make_resident(session: Session, number: str = NUMBER, *, verified: bool = True) -> Resident:
    with transaction(session):
        resident = Resident(public_id=f"r_{number}", created_at=datetime.now(UTC), assurance_level="none")
        if verified:
            resident.real_name_sealed = VAULT.seal(REAL_NAME, "林晓雯")
            resident.id_number_sealed = VAULT.seal(ID_NUMBER, number)
            resident.real_name_verified_at = datetime.now(UTC)
        session.add(resident)
    return resident


def tomorrow_slot(fake: FakeOutpatient, department: str = "FK01-NK", *, offset: int = 1, index: int = 0) -> Slot:
    day = fake.clock().astimezone(BEIJING).date() + timedelta(days=offset)
    return fake.schedules("FK01", department, day)[index]


def hold(session: Session, fake: FakeOutpatient, resident: Resident, slot: Slot, now: Now, limit: int = 3):  # type: ignore[no-untyped-def]
    choice = SlotChoice("330100", slot.hospital_id, slot.department_id, slot.slot_id)
    return hold_slot(session, fake, resident, choice, channel="wechat", vault=VAULT, weekly_limit=limit, clock=now)


@pytest.mark.parametrize("free_needs_booking", [False, True])
def test_a_paid_slot_is_held_until_paid_and_a_free_one_confirmed(
    session: Session, fake: FakeOutpatient, now: Now, free_needs_booking: bool
) -> None:
    fake.free_needs_booking = free_needs_booking
    resident = make_resident(session)
    paid = tomorrow_slot(fake)
    held = hold(session, fake, resident, paid, now)
    assert (held.status, held.fee_fen, held.doctor) == ("held", paid.fee_fen, paid.doctor)
    assert (held.hospital_name, held.department_name, held.ends_at) == ("示范医院", "内科", paid.ends_at)
    assert held.expires_at == now() + timedelta(seconds=300)
    assert fake.remaining(paid.slot_id) == paid.remaining - 1
    confirmed = confirm_appointment(session, fake, held.id, now)
    assert (confirmed.status, confirmed.expires_at) == ("confirmed", None)
    free = hold(session, fake, resident, tomorrow_slot(fake, "FK01-BM"), now)
    assert (free.status, free.fee_fen, free.expires_at) == ("confirmed", 0, None)
    assert [a.id for a in my_appointments(session, resident, now())] == [free.id, held.id]


def test_holding_needs_a_verified_real_name(session: Session, fake: FakeOutpatient, now: Now) -> None:
    with pytest.raises(Forbidden) as refused:
        hold(session, fake, make_resident(session, verified=False), tomorrow_slot(fake), now)
    assert refused.value.code == "outpatient.real_name_required"


def test_a_refused_or_failed_hold_leaves_no_reservation(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)
    slot = tomorrow_slot(fake)
    # The patient already holds a place there through another app: the platform refuses.
    fake.hold(slot, Patient("林晓雯", NUMBER), "elsewhere01")
    with pytest.raises(UpstreamRejected) as refused:
        hold(session, fake, resident, tomorrow_slot(fake, index=1), now)
    assert refused.value.code == port.DUPLICATE
    fake.down = True
    with pytest.raises(UpstreamUnavailable):
        hold(session, fake, resident, tomorrow_slot(fake, offset=2), now)
    session.rollback()
    assert session.scalars(select(Appointment)).all() == []


def test_the_weekly_limit_counts_live_appointments_of_the_last_seven_days(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    first = hold(session, fake, resident, tomorrow_slot(fake), now, limit=1)
    with pytest.raises(TooManyRequests) as refused:
        hold(session, fake, resident, tomorrow_slot(fake, offset=2), now, limit=1)
    assert (refused.value.code, refused.value.details) == ("outpatient.weekly_limit_reached", {"limit": 1})
    assert refused.value.retry_after == 7 * 24 * 3600
    now.at += timedelta(seconds=301)
    # The first hold expired unpaid: it no longer counts.
    assert appointment(session, resident, first.id, now()).status == "expired"
    second = hold(session, fake, resident, tomorrow_slot(fake, offset=2), now, limit=1)
    assert second.status == "held"


def test_one_live_appointment_per_department_per_day(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)
    first = hold(session, fake, resident, tomorrow_slot(fake), now)
    with pytest.raises(Conflict) as refused:
        hold(session, fake, resident, tomorrow_slot(fake, index=1), now)
    assert refused.value.code == "outpatient.one_per_department_per_day"
    assert refused.value.details == {"date": tomorrow_slot(fake).day.isoformat()}
    hold(session, fake, resident, tomorrow_slot(fake, "FK01-BM"), now)
    cancel_appointment(session, fake, resident, first.id, now)
    assert hold(session, fake, resident, tomorrow_slot(fake, index=1), now).status == "held"


def test_cancelling_gives_the_place_back_and_an_expired_hold_cannot_be(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    slot = tomorrow_slot(fake)
    held = hold(session, fake, resident, slot, now)
    assert cancel_appointment(session, fake, resident, held.id, now).status == "cancelled"
    assert fake.remaining(slot.slot_id) == slot.remaining
    assert cancel_appointment(session, fake, resident, held.id, now).status == "cancelled"
    again = hold(session, fake, resident, slot, now)
    # The platform's clock runs ahead of ours: it has expired the hold, and says so.
    fake.clock = lambda: now() + timedelta(seconds=301)
    with pytest.raises(UpstreamRejected) as refused:
        cancel_appointment(session, fake, resident, again.id, now)
    assert refused.value.code == port.HOLD_EXPIRED
    assert session.scalar(select(Appointment.status).where(Appointment.public_id == again.id)) == "expired"
    with pytest.raises(Conflict):
        cancel_appointment(session, fake, resident, again.id, now)


def test_the_sweep_expires_held_places_and_drops_abandoned_reservations(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.public_id == held.id))
        assert row is not None
        for minutes, public_id in ((1, "ap" + "0" * 20), (10, "ap" + "1" * 20)):
            session.add(
                Appointment(
                    **{c: getattr(row, c) for c in ("resident_id", "city_code", "channel", "adapter", "hospital_id")},
                    **{c: getattr(row, c) for c in ("department_id", "slot_id", "doctor", "starts_at", "visit_date")},
                    **{c: getattr(row, c) for c in ("hospital_name", "department_name", "ends_at")},
                    public_id=public_id,
                    fee_fen=0,
                    status="holding",
                    expires_at=now() + timedelta(minutes=minutes),
                    created_at=now(),
                    updated_at=now(),
                )
            )
    assert expire_holds(session, now()) == 0
    now.at += timedelta(minutes=6)
    assert expire_holds(session, now()) == 1
    statuses = {
        public_id: status for public_id, status in session.execute(select(Appointment.public_id, Appointment.status))
    }
    assert statuses == {held.id: "expired", "ap" + "1" * 20: "holding"}


def test_schedules_are_for_the_published_week_only(fake: FakeOutpatient, now: Now) -> None:
    today = now().astimezone(BEIJING).date()
    last = today + timedelta(days=6)
    assert schedules(fake, "FK01", "FK01-NK", last, now())
    schedules(fake, "FK01", "FK01-NK", today, now())  # today is published too (its slots may all be gone)
    for day in (today - timedelta(days=1), today + timedelta(days=7)):
        with pytest.raises(Invalid) as refused:
            schedules(fake, "FK01", "FK01-NK", day, now())
        assert refused.value.code == "outpatient.date_out_of_range"
        assert refused.value.details == {"from": today.isoformat(), "to": last.isoformat()}


@pytest.mark.parametrize("kind", ["hospital", "department", "slot"])
def test_an_id_no_platform_writes_names_nothing_of_its_kind(
    session: Session, fake: FakeOutpatient, now: Now, kind: str
) -> None:
    slot = tomorrow_slot(fake)
    ids = {"hospital": slot.hospital_id, "department": slot.department_id, "slot": slot.slot_id, kind: "no such/id"}
    choice = SlotChoice("330100", ids["hospital"], ids["department"], ids["slot"])
    with pytest.raises(NotFound) as refused:
        hold_slot(
            session, fake, make_resident(session), choice, channel="wechat", vault=VAULT, weekly_limit=3, clock=now
        )
    assert (refused.value.code, refused.value.details) == (f"outpatient.{kind}_not_found", {kind: "unknown"})
    if kind != "slot":
        with pytest.raises(NotFound) as listing:
            schedules(fake, ids["hospital"], ids["department"], slot.day, now())
        assert listing.value.details == {kind: "unknown"}
    if kind == "hospital":
        with pytest.raises(NotFound) as departments_of:
            departments(fake, "no such/id")
        assert departments_of.value.details == {"hospital": "unknown"}


def test_erasing_removes_only_that_persons_appointments(session: Session, fake: FakeOutpatient, now: Now) -> None:
    mine, theirs = make_resident(session), make_resident(session, "330106199001015678")
    hold(session, fake, mine, tomorrow_slot(fake), now)
    kept = hold(session, fake, theirs, tomorrow_slot(fake), now)
    with transaction(session):
        erase_appointments(session, frozenset({mine.id}), now())
    assert [a.id for a in my_appointments(session, mine, now())] == []
    assert [a.id for a in my_appointments(session, theirs, now())] == [kept.id]


class BookingDown(FakeOutpatient):
    """A platform that holds but cannot book right now."""

    def book(self, hold_id: str) -> port.Hold:
        raise UpstreamUnavailable("upstream.unavailable", "booking is down")


def test_a_free_place_that_cannot_be_booked_is_given_back(session: Session, now: Now) -> None:
    fake = BookingDown(hold_seconds=300, clock=now, free_needs_booking=True)
    resident = make_resident(session)
    slot = tomorrow_slot(fake, "FK01-BM")
    with pytest.raises(UpstreamUnavailable):
        hold(session, fake, resident, slot, now)
    assert fake.remaining(slot.slot_id) == slot.remaining
    session.rollback()
    assert session.scalars(select(Appointment)).all() == []


def test_a_confirmed_appointment_counts_for_seven_days_only(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)
    first = hold(session, fake, resident, tomorrow_slot(fake), now, limit=1)
    confirm_appointment(session, fake, first.id, now)
    with pytest.raises(Conflict):
        hold(session, fake, resident, tomorrow_slot(fake, index=1), now, limit=2)
    with pytest.raises(TooManyRequests):
        hold(session, fake, resident, tomorrow_slot(fake, offset=2), now, limit=1)
    now.at += timedelta(days=7, seconds=1)
    assert appointment(session, resident, first.id, now()).status == "confirmed"
    assert hold(session, fake, resident, tomorrow_slot(fake, offset=2), now, limit=1).status == "held"


def test_confirming_needs_a_held_place_and_a_hold_expired_at_the_platform_reads_expired(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    with pytest.raises(NotFound) as unknown:
        confirm_appointment(session, fake, "ap" + "9" * 20, now)
    assert unknown.value.code == "outpatient.appointment_not_found"
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.public_id == held.id))
        assert row is not None
        reservation = {c.name: getattr(row, c.name) for c in Appointment.__table__.columns if c.name != "id"}
        session.add(Appointment(**{**reservation, "public_id": "ap" + "8" * 20, "upstream_hold_id": None}))
    with pytest.raises(NotFound):
        confirm_appointment(session, fake, "ap" + "8" * 20, now)
    # The platform let the hold lapse; our sweep has not run yet.
    now.at += timedelta(seconds=301)
    with pytest.raises(UpstreamRejected) as lapsed:
        confirm_appointment(session, fake, held.id, now)
    assert lapsed.value.code == port.HOLD_EXPIRED
    session.rollback()
    row = session.scalar(select(Appointment).where(Appointment.public_id == held.id))
    assert row is not None and (row.status, row.updated_at) == ("expired", now())


def test_a_confirmed_place_is_recorded_at_the_moment_it_was_booked(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    now.at += timedelta(seconds=30)
    confirmed = confirm_appointment(session, fake, held.id, now)
    assert (confirmed.status, confirmed.updated_at, confirmed.expires_at) == ("confirmed", now(), None)
    assert appointment(session, resident, held.id, now()) == confirmed


def test_the_sweep_takes_a_hold_at_the_very_moment_it_expires(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    assert held.expires_at is not None
    now.at = held.expires_at
    assert expire_holds(session, now()) == 1
    row = session.scalar(select(Appointment).where(Appointment.public_id == held.id))
    assert row is not None and (row.status, row.updated_at) == ("expired", now())
    assert expire_holds(session, now()) == 0


def test_held_places_are_given_back_before_an_erasure_and_counted(
    session: Session, fake: FakeOutpatient, now: Now, caplog: pytest.LogCaptureFixture
) -> None:
    resident = make_resident(session)
    first = hold(session, fake, resident, tomorrow_slot(fake), now)
    second = hold(session, fake, resident, tomorrow_slot(fake, "FK01-BM", offset=2), now)
    assert give_back_held_places(session, resident, lambda _city: fake, now) == 1 + (second.status == "held")
    assert appointment(session, resident, first.id, now()).status == "cancelled"
    again = hold(session, fake, resident, tomorrow_slot(fake, offset=3), now)
    assert again.expires_at is not None
    fake.down = True
    with caplog.at_level("WARNING", logger="citytiles.outpatient"):
        assert give_back_held_places(session, resident, lambda _city: fake, now) == 0
    [warning] = [r for r in caplog.records if r.name == "citytiles.outpatient"]
    assert (warning.service, warning.code) == ("outpatient", "upstream.unavailable")  # type: ignore[attr-defined]
    fake.down = False
    now.at = again.expires_at  # lapsed at this very moment: nothing left to give back
    assert give_back_held_places(session, resident, lambda _city: fake, now) == 0


def test_my_appointments_hide_reservations_in_flight_and_list_newest_first(
    session: Session, fake: FakeOutpatient, now: Now
) -> None:
    resident = make_resident(session)
    older = hold(session, fake, resident, tomorrow_slot(fake), now)
    newer = hold(session, fake, resident, tomorrow_slot(fake, "FK01-BM"), now)  # the same moment: the later id first
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.public_id == older.id))
        assert row is not None
        row.created_at = now() + timedelta(seconds=1)  # written later, though its id is smaller
        session.add(
            Appointment(
                **{c: getattr(row, c) for c in ("resident_id", "city_code", "channel", "adapter", "hospital_id")},
                **{c: getattr(row, c) for c in ("department_id", "slot_id", "doctor", "starts_at", "ends_at")},
                **{c: getattr(row, c) for c in ("hospital_name", "department_name", "visit_date", "fee_fen")},
                public_id="ap" + "9" * 20,
                status="holding",
                expires_at=now() + timedelta(minutes=1),
                created_at=now() + timedelta(seconds=2),
                updated_at=now(),
            )
        )
    assert [a.id for a in my_appointments(session, resident, now())] == [older.id, newer.id]


def test_a_cancelled_place_keeps_no_expiry(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    cancel_appointment(session, fake, resident, held.id, now)
    session.rollback()
    row = session.scalar(select(Appointment).where(Appointment.public_id == held.id))
    assert row is not None and (row.status, row.expires_at) == ("cancelled", None)


def test_a_place_held_for_someone_erased_meanwhile_goes_back(session: Session, fake: FakeOutpatient, now: Now) -> None:
    resident = make_resident(session)

    class ErasedWhileHolding:
        """The platform, while an erasure removes our reservation between the hold and its answer."""

        def slot(self, *ids: str) -> Slot:
            return fake.slot(*ids)

        def hold(self, slot: Slot, patient: Patient, reference: str) -> port.Hold:
            held = fake.hold(slot, patient, reference)
            with transaction(session):
                session.execute(delete(Appointment).where(Appointment.public_id == reference))
            self.held = held
            return held

        def cancel(self, hold_id: str) -> port.Hold:
            return fake.cancel(hold_id)

    platform = ErasedWhileHolding()
    with pytest.raises(Conflict) as refused:
        hold(session, platform, resident, tomorrow_slot(fake), now)  # type: ignore[arg-type]
    assert refused.value.code == "identity.resident_changed"
    assert fake._places[platform.held.hold_id].hold.status == "cancelled"
