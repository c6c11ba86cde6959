"""One OutpatientProvider contract, over the fake and both hospital platforms against the sandbox."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from city_services.outpatient import provider as port
from city_services.outpatient.fake import FakeOutpatient
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import OutpatientProvider
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from city_services.outpatient.search_cache import SearchCache
from city_services.upstream_link import UpstreamLink
from city_services.upstreams import read_connection_params
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MemoryCallLog
from tests.conftest import Sandbox

KINDS = ("fake", "zheyi_his", "shenzhen_health_platform")
_serial = itertools.count(1)
_run = secrets.randbelow(10**6)


def new_patient() -> Patient:
    """A patient no other test used: the systems allow one place per patient per department per day."""
    return Patient("张三", f"33010619{_run:06d}{next(_serial):03d}X")


def link(name: str, environ: dict[str, str] | None = None) -> UpstreamLink:
    outbound = Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), MemoryCallLog(), sleep=lambda _: None)
    return UpstreamLink(
        f"upstream.test.{name}", read_connection_params("outpatient", "fake", {}).policy(), outbound, environ or {}
    )


@dataclass
class Subject:
    """A provider, the ids of one hospital's paid and free departments, and the system's own record."""

    provider: OutpatientProvider
    hospital: str
    paid: str
    free: str
    places: Callable[[str], int]
    fail: Callable[[str], None]
    connect: Callable[[str], OutpatientProvider] | None


def sandbox_provider(sandbox: Sandbox, kind: str, base_url: str) -> OutpatientProvider:
    """A real adapter built from its Params, as the upstream pool builds it."""
    if kind == "zheyi_his":
        raw: dict[str, Any] = {"base_url": base_url, "api_key_env": "KEY", "read_retries": 0}
        secret = sandbox.state_dir / "outpatient" / "zheyi_his.api_key"
    else:
        raw = {"base_url": base_url, "app_id": "szjk_citytiles_demo", "signing_key_env": "KEY", "read_retries": 0}
        secret = sandbox.state_dir / "outpatient" / "shenzhen_health_platform" / "szjk_citytiles_demo.secret"
    params = read_connection_params("outpatient", kind, raw)
    environ = {"KEY": secret.read_text().strip()}
    return params.connect(link(kind, environ))  # type: ignore[no-any-return]


@pytest.fixture(params=KINDS)
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    yield from build_subject(request, request.param)


@pytest.fixture(params=[kind for kind in KINDS if kind != "fake"])
def wire_subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    """A real adapter only: what goes over the wire, which the fake has none of."""
    yield from build_subject(request, request.param)


def build_subject(request: pytest.FixtureRequest, kind: str) -> Iterator[Subject]:
    """The subject of one kind of system, cleaned up after the test."""
    if kind == "fake":
        fake = FakeOutpatient(link("fake"))

        def fail_fake(mode: str) -> None:
            fake.down = True

        yield Subject(fake, "FK01", "FK01-NK", "FK01-BM", fake.remaining, fail_fake, None)
        return
    sandbox: Sandbox = request.getfixturevalue("clean_sandbox")
    sandbox.helper("DELETE", "outpatient/holds")
    paths = {"zheyi_his": "/upstreams/zheyi-his/fhir", "shenzhen_health_platform": "/upstreams/shenzhen-health/open/v1"}
    ids = {"zheyi_his": ("ZY01", "ZY01-XHNK", "ZY01-BMMZ"), "shenzhen_health_platform": ("440301001", "1001", "1009")}

    def places(slot_id: str) -> int:
        remaining: int = sandbox.helper("GET", f"outpatient/slots/{kind}/{slot_id}")["remaining"]
        return remaining

    def fail(mode: str) -> None:
        sandbox.helper("POST", "faults", json={"target": f"outpatient.{kind}", "mode": mode, "persistent": True})

    yield Subject(
        sandbox_provider(sandbox, kind, sandbox.base + paths[kind]),
        *ids[kind],
        places,
        fail,
        lambda base: sandbox_provider(sandbox, kind, base),
    )


def tomorrow() -> date:
    return datetime.now(BEIJING).date() + timedelta(days=1)


def bookable(subject: Subject, department: str, *, capacity: int | None = None) -> Slot:
    """A slot tomorrow with every place free (and, given, exactly that many places)."""
    slots = subject.provider.schedules(subject.hospital, department, tomorrow())
    return next(s for s in slots if s.remaining > 0 and capacity in (None, s.remaining))


def rejected(code: str, kind: str, work: Callable[[], object]) -> None:
    with pytest.raises(UpstreamRejected) as refused:
        work()
    assert (refused.value.code, refused.value.kind) == (code, kind)


def test_hospitals_departments_and_a_days_schedule(subject: Subject) -> None:
    hospitals = subject.provider.hospitals()
    assert subject.hospital in {h.hospital_id for h in hospitals} and all(h.name for h in hospitals)
    departments = subject.provider.departments(subject.hospital)
    assert {subject.paid, subject.free} <= {d.department_id for d in departments}
    assert all(d.hospital_id == subject.hospital and d.name for d in departments)
    slots = subject.provider.schedules(subject.hospital, subject.paid, tomorrow())
    assert slots and [s.starts_at for s in slots] == sorted(s.starts_at for s in slots)
    for slot in slots:
        assert slot.day == tomorrow() and slot.starts_at.utcoffset() is not None and slot.ends_at > slot.starts_at
        assert (slot.hospital_id, slot.department_id) == (subject.hospital, subject.paid)
        assert slot.fee_fen > 0 and slot.remaining >= 0 and slot.doctor and slot.doctor_title
        assert slot.hospital_name == next(h.name for h in hospitals if h.hospital_id == subject.hospital)
        assert slot.department_name == next(d.name for d in departments if d.department_id == subject.paid)
    assert subject.provider.slot(subject.hospital, subject.paid, slots[0].slot_id) == slots[0]
    free = subject.provider.schedules(subject.hospital, subject.free, tomorrow())
    assert any(s.fee_fen == 0 for s in free)
    assert subject.provider.schedules(subject.hospital, subject.paid, tomorrow() + timedelta(days=10)) == []


def test_unknown_hospital_department_and_slot_are_not_found(subject: Subject) -> None:
    rejected(port.HOSPITAL_NOT_FOUND, "not_found", lambda: subject.provider.departments("NOPE99"))
    rejected(
        port.DEPARTMENT_NOT_FOUND,
        "not_found",
        lambda: subject.provider.schedules(subject.hospital, "NOPE99", tomorrow()),
    )
    rejected(port.SLOT_NOT_FOUND, "not_found", lambda: subject.provider.slot(subject.hospital, subject.paid, "NOPE99"))
    other = bookable(subject, subject.free)
    # A real slot of another department is not this department's.
    rejected(
        port.SLOT_NOT_FOUND, "not_found", lambda: subject.provider.slot(subject.hospital, subject.paid, other.slot_id)
    )
    rejected(port.HOLD_NOT_FOUND, "not_found", lambda: subject.provider.cancel("999999999"))
    rejected(port.HOLD_NOT_FOUND, "not_found", lambda: subject.provider.booking("999999999"))


def test_a_paid_hold_takes_a_place_until_booked_or_cancelled(subject: Subject) -> None:
    slot = bookable(subject, subject.paid)
    before = subject.places(slot.slot_id)
    hold = subject.provider.hold(slot, new_patient(), f"ct{secrets.token_hex(8)}")
    assert (hold.status, hold.fee_fen) == (port.HELD, slot.fee_fen)
    assert hold.expires_at is not None and hold.expires_at > datetime.now(UTC)
    assert subject.places(slot.slot_id) == before - 1
    assert subject.provider.book(hold.hold_id).status == port.CONFIRMED
    assert subject.provider.book(hold.hold_id).status == port.CONFIRMED
    assert subject.provider.cancel(hold.hold_id).status == port.CANCELLED
    assert subject.provider.cancel(hold.hold_id).status == port.CANCELLED
    assert subject.places(slot.slot_id) == before
    rejected(port.HOLD_CANCELLED, "conflict", lambda: subject.provider.book(hold.hold_id))


def test_the_hospitals_record_of_a_hold_follows_it_to_booked_and_cancelled(subject: Subject) -> None:
    hold = subject.provider.hold(bookable(subject, subject.paid), new_patient(), f"ct{secrets.token_hex(8)}")
    assert subject.provider.booking(hold.hold_id) == hold
    booked = subject.provider.book(hold.hold_id)
    assert subject.provider.booking(hold.hold_id) == booked and booked.status == port.CONFIRMED
    cancelled = subject.provider.cancel(hold.hold_id)
    assert subject.provider.booking(hold.hold_id) == cancelled and cancelled.status == port.CANCELLED


def test_a_free_slot_is_confirmed_once_booked(subject: Subject) -> None:
    slot = next(s for s in subject.provider.schedules(subject.hospital, subject.free, tomorrow()) if s.fee_fen == 0)
    hold = subject.provider.hold(slot, new_patient(), f"ct{secrets.token_hex(8)}")
    assert hold.status in (port.HELD, port.CONFIRMED) and hold.fee_fen == 0
    assert subject.provider.book(hold.hold_id).status == port.CONFIRMED
    subject.provider.cancel(hold.hold_id)


def test_one_place_per_patient_per_department_per_day(subject: Subject) -> None:
    slots = [s for s in subject.provider.schedules(subject.hospital, subject.paid, tomorrow()) if s.remaining > 0]
    patient = new_patient()
    first = subject.provider.hold(slots[0], patient, f"ct{secrets.token_hex(8)}")
    rejected(port.DUPLICATE, "conflict", lambda: subject.provider.hold(slots[-1], patient, f"ct{secrets.token_hex(8)}"))
    subject.provider.cancel(first.hold_id)
    subject.provider.cancel(subject.provider.hold(slots[-1], patient, f"ct{secrets.token_hex(8)}").hold_id)


def test_a_full_slot_is_unavailable(subject: Subject) -> None:
    slot = min(
        (s for s in subject.provider.schedules(subject.hospital, subject.paid, tomorrow()) if s.remaining > 0),
        key=lambda s: s.remaining,
    )
    holds = [subject.provider.hold(slot, new_patient(), f"ct{secrets.token_hex(8)}") for _ in range(slot.remaining)]
    assert subject.places(slot.slot_id) == 0
    rejected(port.SLOT_UNAVAILABLE, "conflict", lambda: subject.provider.hold(slot, new_patient(), "ctlast0001"))
    for hold in holds:
        subject.provider.cancel(hold.hold_id)


@pytest.mark.parametrize("mode", ["down", "error"])
def test_a_system_down_or_busy_is_unavailable(subject: Subject, mode: str) -> None:
    subject.fail(mode)
    with pytest.raises(UpstreamUnavailable):
        subject.provider.hospitals()
    with pytest.raises(UpstreamUnavailable):
        subject.provider.cancel("123")
    with pytest.raises(UpstreamUnavailable):
        subject.provider.booking("123")


class _Stub(BaseHTTPRequestHandler):
    """Answers every request with the class's body: what a misrouted or broken system sends."""

    body = b""
    content_type = "application/json"

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


MALFORMED = [
    ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
    ("application/json", b'{"resourceType": "Bundle", "entry": [{"resource": {"id": 5}}]}'),
    ("application/json", b'{"code": "0", "msg": "ok", "data": [{"hos_code": 440301001}]}'),
    ("application/json", b'{"code": 0, "data": null}'),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'{"resourceType": "Appointment", "id": "a1", "status": "weird", "feeFen": 0}'),
    # An extension that is not an object, a name longer than any we keep, a fee no hospital charges.
    (
        "application/json",
        b'{"resourceType": "Bundle", "entry": [{"resource": {"id": "ZY01", "name": "x", "extension": ["level"]}}]}',
    ),
    ("application/json", b'{"code": "0", "data": [{"hos_code": "1", "hos_name": "' + "医".encode() * 129 + b'"}]}'),
]


@contextmanager
def stub_upstream(content_type: str, body: bytes) -> Iterator[str]:
    """A real HTTP server on loopback answering every request with body; yields its base URL."""
    handler = type("Stub", (_Stub,), {"body": body, "content_type": content_type})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/base"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("content_type", "body"), MALFORMED)
def test_a_malformed_answer_is_unavailable_and_logged(
    wire_subject: Subject, content_type: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    subject = wire_subject
    assert subject.connect is not None
    with stub_upstream(content_type, body) as base_url:
        provider = subject.connect(base_url)
        caplog.set_level(logging.WARNING, logger="citytiles.upstreams")
        patient = new_patient()
        slot = Slot(
            "S1", subject.hospital, subject.paid, "医生", "主任医师", datetime.now(UTC), datetime.now(UTC), 1, 1
        )
        for work in (
            provider.hospitals,
            lambda: provider.hold(slot, patient, "ct00000001"),
            lambda: provider.booking("a1"),
        ):
            with pytest.raises(UpstreamUnavailable):
                work()
    assert any(r.getMessage() in ("upstream answer unreadable", "upstream refused the call") for r in caplog.records)
    assert patient.id_number not in caplog.text


# A well-formed record of appointment a1, as each platform writes it.
RECORDS = {
    "zheyi_his": {"resourceType": "Appointment", "id": "a1", "status": "booked", "feeFen": 0},
    "shenzhen_health_platform": {
        "code": "0",
        "msg": "ok",
        "data": {"order_no": "a1", "status": "CONFIRMED", "amount": 0},
    },
}


@pytest.mark.parametrize("kind", ["zheyi_his", "shenzhen_health_platform"])
def test_a_record_of_another_hold_is_unavailable(clean_sandbox: Sandbox, kind: str) -> None:
    with stub_upstream("application/json", json.dumps(RECORDS[kind]).encode()) as base_url:
        provider = sandbox_provider(clean_sandbox, kind, base_url)
        assert provider.booking("a1").status == port.CONFIRMED
        with pytest.raises(UpstreamUnavailable):
            provider.booking("a2")


def test_holds_expire_by_themselves() -> None:
    now = [datetime.now(UTC)]
    fake = FakeOutpatient(link("fake"), hold_seconds=60, clock=lambda: now[0])
    slot = next(s for s in fake.schedules("FK01", "FK01-NK", tomorrow()) if s.remaining > 0)
    hold = fake.hold(slot, new_patient(), "ct00000002")
    assert fake.remaining(slot.slot_id) == slot.remaining - 1
    now[0] += timedelta(seconds=61)
    assert fake.remaining(slot.slot_id) == slot.remaining
    assert fake.booking(hold.hold_id).status == port.EXPIRED
    rejected(port.HOLD_EXPIRED, "conflict", lambda: fake.book(hold.hold_id))


def test_patients_are_never_shown_in_repr() -> None:
    patient = new_patient()
    assert patient.id_number not in repr(patient) and json.dumps(patient.name) not in repr(patient)


def test_hospitals_and_departments_are_kept_a_while_schedules_never(wire_subject: Subject) -> None:
    subject = wire_subject
    hospitals = subject.provider.hospitals()
    departments = subject.provider.departments(subject.hospital)
    subject.fail("down")
    assert subject.provider.hospitals() == hospitals
    assert subject.provider.departments(subject.hospital) == departments
    with pytest.raises(UpstreamUnavailable):
        subject.provider.schedules(subject.hospital, subject.paid, tomorrow())
    with pytest.raises(UpstreamUnavailable):
        subject.provider.departments("NOPE99")


def test_the_search_cache_forgets_after_its_time_and_never_keeps_a_failure() -> None:
    now = [0.0]
    cache = SearchCache(seconds=10, clock=lambda: now[0])
    calls = []

    def fetch() -> int:
        calls.append(1)
        return len(calls)

    assert (cache.remember("k", fetch), cache.remember("k", fetch)) == (1, 1)
    now[0] = 10.5
    assert cache.remember("k", fetch) == 2

    def failing() -> int:
        raise UpstreamUnavailable("upstream.unavailable", "down")

    with pytest.raises(UpstreamUnavailable):
        cache.remember("other", failing)
    assert cache.remember("other", fetch) == 3


@pytest.fixture(scope="module")
def quick_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose hospitals keep an unpaid hold one second."""
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    state_dir = tmp_path_factory.mktemp("quick-sandbox")
    config = SandboxConfig(state_dir=state_dir, outpatient_hold_seconds=1, outpatient_order_seconds=1)
    base, stop = serve_in_thread(config)
    yield Sandbox(base, state_dir)
    stop()


@pytest.mark.parametrize("kind", ["zheyi_his", "shenzhen_health_platform"])
def test_a_hold_left_unpaid_expires_at_the_platform(quick_sandbox: Sandbox, kind: str) -> None:
    paths = {"zheyi_his": "/upstreams/zheyi-his/fhir", "shenzhen_health_platform": "/upstreams/shenzhen-health/open/v1"}
    ids = {"zheyi_his": ("ZY01", "ZY01-XHNK"), "shenzhen_health_platform": ("440301001", "1001")}
    provider = sandbox_provider(quick_sandbox, kind, quick_sandbox.base + paths[kind])
    slot = next(s for s in provider.schedules(*ids[kind], tomorrow()) if s.remaining > 0)
    hold = provider.hold(slot, new_patient(), f"ct{secrets.token_hex(8)}")
    assert hold.status == port.HELD and hold.expires_at is not None
    time.sleep(max(0.0, (hold.expires_at - datetime.now(UTC)).total_seconds()) + 1.2)
    assert provider.booking(hold.hold_id).status == port.EXPIRED
    rejected(port.HOLD_EXPIRED, "conflict", lambda: provider.book(hold.hold_id))
    rejected(port.HOLD_EXPIRED, "conflict", lambda: provider.cancel(hold.hold_id))
    assert provider.slot(*ids[kind], slot.slot_id).remaining == slot.remaining


@pytest.mark.parametrize("kind", ["zheyi_his", "shenzhen_health_platform"])
def test_a_wrong_credential_is_unavailable_and_logged(
    clean_sandbox: Sandbox, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    paths = {"zheyi_his": "/upstreams/zheyi-his/fhir", "shenzhen_health_platform": "/upstreams/shenzhen-health/open/v1"}
    params = read_connection_params(
        "outpatient",
        kind,
        {"base_url": clean_sandbox.base + paths[kind], "read_retries": 0}
        | (
            {"api_key_env": "KEY"}
            if kind == "zheyi_his"
            else {"app_id": "szjk_citytiles_demo", "signing_key_env": "KEY"}
        ),
    )
    provider: OutpatientProvider = params.connect(link(kind, {"KEY": "0" * 64}))
    caplog.set_level(logging.INFO, logger="citytiles")
    with pytest.raises(UpstreamUnavailable):
        provider.hospitals()
    missing: OutpatientProvider = params.connect(link(kind, {}))
    with pytest.raises(UpstreamUnavailable):
        missing.hospitals()
    assert "0" * 64 not in caplog.text
