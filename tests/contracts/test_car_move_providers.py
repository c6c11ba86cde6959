"""The car-move port's contract, run over the fake and over each real adapter against the sandbox."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from city_services.car_move import guangdong_traffic_police
from city_services.car_move import zhejiang_traffic_police
from city_services.car_move.fake import FakeTrafficPolice
from city_services.car_move.provider import ACCEPTED
from city_services.car_move.provider import CANCELLED
from city_services.car_move.provider import NOTIFIED
from city_services.car_move.provider import CarMoveProvider
from city_services.car_move.provider import MoveRequest
from city_services.car_move.provider import OwnerCheck
from city_services.car_move.provider import Place
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MemoryCallLog
from tests.conftest import Sandbox

PLACE = Place(lat=30.2741, lng=120.1551, address="经纬度 30.274100,120.155100")
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass
class System:
    """One provider under test, and how the test arranges its world."""

    provider: CarMoveProvider
    province: str
    register: Callable[[str, str], None]
    move_to: Callable[[str, str], None]
    make_busy: Callable[[str], None]


def fresh_plate(province: str, *, new_energy: bool = False) -> str:
    """A plate no other test uses."""
    tail = "".join(secrets.choice("0123456789") for _ in range(5))
    return f"{province}{secrets.choice(LETTERS)}{'D' if new_energy else ''}{tail}"


def link_to(sandbox: Sandbox, system: str) -> UpstreamLink:
    outbound = Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), MemoryCallLog(), sleep=lambda _: None)
    secret_file = {
        "zhejiang_traffic_police": "zhejiang_traffic_police.app_secret",
        "guangdong_traffic_police": "guangdong_traffic_police.secret",
    }[system]
    secret = (sandbox.state_dir / "upstreams" / secret_file).read_text()
    params = build_params(sandbox, system)
    return UpstreamLink(f"upstream.test.{system}", params.policy(), outbound, {"POLICE_SECRET": secret})


def build_params(sandbox: Sandbox, system: str) -> Any:
    base = f"{sandbox.base}/upstreams/{system.replace('_', '-')}"
    if system == "zhejiang_traffic_police":
        return zhejiang_traffic_police.Params(
            base_url=base, region="浙A", client_id="ZJJJ0571CT01", credentials_env="POLICE_SECRET", read_retries=0
        )
    return guangdong_traffic_police.Params(
        base_url=base, app_id="GDTP-CT-0001", credentials_env="POLICE_SECRET", read_retries=0
    )


def sandbox_system(sandbox: Sandbox, system: str) -> System:
    params = build_params(sandbox, system)
    target = f"car_move.{system}"

    def register(plate: str, owner: str) -> None:
        sandbox.helper("POST", "vehicles", json={"system": system, "plate": plate, "owner_id_number": owner})

    def move_to(ticket: str, status: str) -> None:
        sandbox.helper("POST", f"car-move/tickets/{ticket}/status", json={"status": status})

    def make_busy(mode: str) -> None:
        sandbox.helper(
            "POST", "faults", json={"target": target, "mode": mode, "close_connection": False, "persistent": True}
        )

    province = "浙" if system == "zhejiang_traffic_police" else "粤"
    return System(params.connect(link_to(sandbox, system)), province, register, move_to, make_busy)


def fake_system(contacts_owner: bool) -> System:
    fake = FakeTrafficPolice(contacts_owner=contacts_owner)

    def make_busy(mode: str) -> None:
        fake.busy = True

    return System(fake, "浙" if contacts_owner else "粤", fake.register, fake.move_to, make_busy)


@pytest.fixture(params=["fake", "fake_without_owner_contact", "zhejiang_traffic_police", "guangdong_traffic_police"])
def system(request: pytest.FixtureRequest) -> System:
    return build_system(request, request.param)


@pytest.fixture(params=["fake", "zhejiang_traffic_police"])
def reaching_system(request: pytest.FixtureRequest) -> System:
    """A system that contacts owners itself and keeps tickets whose status moves."""
    return build_system(request, request.param)


def build_system(request: pytest.FixtureRequest, kind: str) -> System:
    """One kind of system under test."""
    if kind == "fake":
        return fake_system(True)
    if kind == "fake_without_owner_contact":
        return fake_system(False)
    return sandbox_system(request.getfixturevalue("clean_sandbox"), kind)


def move_request(plate: str, **overrides: Any) -> MoveRequest:
    fields: dict[str, Any] = {
        "request_no": "ct" + secrets.token_hex(8),
        "plate": plate,
        "place": PLACE,
        "requester_ref": "rq" + secrets.token_hex(8),
        "message": "您的车挡住了出口",
    }
    return MoveRequest(**{**fields, **overrides})


@pytest.mark.parametrize("new_energy", [False, True])
def test_a_registered_vehicle_gets_a_ticket(system: System, new_energy: bool) -> None:
    plate = fresh_plate(system.province, new_energy=new_energy)
    system.register(plate, "330106199003071236")
    ticket = system.provider.submit(move_request(plate))
    expected = NOTIFIED if system.provider.contacts_owner else ACCEPTED
    assert ticket.status == expected and ticket.number and not ticket.finished
    assert system.provider.status(ticket.number).status == expected


def test_a_retried_submit_returns_the_same_ticket(system: System) -> None:
    plate = fresh_plate(system.province)
    system.register(plate, "330106199003071236")
    request = move_request(plate)
    assert system.provider.submit(request).number == system.provider.submit(request).number


def test_an_unregistered_plate_is_not_found(system: System) -> None:
    with pytest.raises(UpstreamRejected) as rejected:
        system.provider.submit(move_request(fresh_plate(system.province)))
    assert (rejected.value.code, rejected.value.kind) == ("car_move.vehicle_not_found", "not_found")


def test_the_owner_moves_the_car_along(reaching_system: System) -> None:
    system = reaching_system
    assert system.provider.contacts_owner
    plate = fresh_plate(system.province)
    system.register(plate, "330106199003071236")
    ticket = system.provider.submit(move_request(plate))
    system.move_to(ticket.number, "acknowledged")
    assert system.provider.status(ticket.number).status == "acknowledged"
    system.move_to(ticket.number, "moved")
    moved = system.provider.status(ticket.number)
    assert moved.status == "moved" and moved.finished
    assert [e.status for e in moved.events] == ["notified", "acknowledged", "moved"]
    assert all(e.at.tzinfo is not None for e in moved.events)
    with pytest.raises(UpstreamRejected) as rejected:
        system.provider.cancel(ticket.number)
    assert (rejected.value.code, rejected.value.kind) == ("car_move.ticket_finished", "conflict")


def test_an_unreachable_owner_ends_the_ticket(reaching_system: System) -> None:
    system = reaching_system
    assert system.provider.contacts_owner
    plate = fresh_plate(system.province)
    system.register(plate, "330106199003071236")
    ticket = system.provider.submit(move_request(plate))
    system.move_to(ticket.number, "unreachable")
    assert system.provider.status(ticket.number).finished


def test_cancelling_twice_is_fine(system: System) -> None:
    plate = fresh_plate(system.province)
    system.register(plate, "330106199003071236")
    ticket = system.provider.submit(move_request(plate))
    assert system.provider.cancel(ticket.number).status == CANCELLED
    assert system.provider.cancel(ticket.number).status == CANCELLED


def test_an_unknown_ticket_is_not_found(reaching_system: System) -> None:
    system = reaching_system
    assert system.provider.contacts_owner
    with pytest.raises(UpstreamRejected) as rejected:
        system.provider.status("ZJNC20260101999999")
    assert rejected.value.code == "car_move.ticket_not_found"


def test_owner_check(system: System) -> None:
    plate = fresh_plate(system.province)
    system.register(plate, "44030519920415003X")
    if system.provider.contacts_owner:
        # The system reaches owners itself and cannot say who one is.
        assert system.provider.owner_of(plate, "440305199204150037") == OwnerCheck(None, None)
        return
    assert system.provider.owner_of(plate, "44030519920415003x") == OwnerCheck(True, True)
    assert system.provider.owner_of(plate, "440304198809230055") == OwnerCheck(True, False)
    assert system.provider.owner_of(fresh_plate("粤"), "440304198809230055") == OwnerCheck(False, False)


@pytest.mark.parametrize("mode", ["error", "down"])
def test_a_busy_or_down_system_is_unavailable(system: System, mode: str) -> None:
    plate = fresh_plate(system.province)
    system.register(plate, "330106199003071236")
    system.make_busy(mode)
    with pytest.raises(UpstreamUnavailable):
        system.provider.submit(move_request(plate))
    if not system.provider.contacts_owner:
        with pytest.raises(UpstreamUnavailable):
            system.provider.owner_of(plate, "330106199003071236")


def test_a_wrong_secret_is_unavailable_not_a_rejection(clean_sandbox: Sandbox) -> None:
    for name in ("zhejiang_traffic_police", "guangdong_traffic_police"):
        params = build_params(clean_sandbox, name)
        good = link_to(clean_sandbox, name)
        link = UpstreamLink(good.connection, good.policy, good.outbound, {"POLICE_SECRET": "0" * 32})
        provider = params.connect(link)
        with pytest.raises(UpstreamUnavailable):
            provider.submit(move_request(fresh_plate("浙" if name.startswith("zhejiang") else "粤")))


def test_an_expired_token_is_renewed(clean_sandbox: Sandbox) -> None:
    provider = sandbox_system(clean_sandbox, "zhejiang_traffic_police").provider
    assert isinstance(provider, zhejiang_traffic_police.ZhejiangTrafficPolice)
    plate = fresh_plate("浙")
    clean_sandbox.helper(
        "POST",
        "vehicles",
        json={"system": "zhejiang_traffic_police", "plate": plate, "owner_id_number": "330106199003071236"},
    )
    provider.submit(move_request(plate))
    # A token the platform never issued stands for one it has forgotten or expired.
    provider._token = ("forgotten", float("inf"))
    assert provider.submit(move_request(plate)).status == NOTIFIED


class Misbehaving(BaseHTTPRequestHandler):
    """A police front end answering every call with the body the test chose."""

    body = b""
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def misbehaving_provider(base: str, system: str) -> Any:
    outbound = Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), MemoryCallLog(), sleep=lambda _: None)
    if system == "zhejiang_traffic_police":
        params: Any = zhejiang_traffic_police.Params(
            base_url=base, region="浙A", client_id="ZJJJ0571CT01", credentials_env="POLICE_SECRET", read_retries=0
        )
    else:
        params = guangdong_traffic_police.Params(
            base_url=base, app_id="GDTP-CT-0001", credentials_env="POLICE_SECRET", read_retries=0
        )
    link = UpstreamLink(f"upstream.test.{system}", params.policy(), outbound, {"POLICE_SECRET": "s" * 32})
    return params.connect(link)


@pytest.mark.parametrize("system", ["zhejiang_traffic_police", "guangdong_traffic_police"])
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>busy</html>"),
        (200, b"[]"),
        (200, b'{"code": "0", "ret": "0"}'),
        (200, b'{"code": true, "ret": true}'),
        (
            200,
            b'{"code": 0, "ret": 0, "data": {"accessToken": "t", "expiresIn": 7200}, "result": {"registered": "yes"}}',
        ),
        (200, b'{"code": 0, "ret": 0, "data": null, "result": null}'),
        (502, b"<html>bad gateway</html>"),
        (401, b'{"ret": 1003, "msg": "x", "result": null, "code": 40103, "data": null}'),
    ],
)
def test_unreadable_or_refused_answers_are_unavailable(misbehaving: str, system: str, status: int, body: bytes) -> None:
    Misbehaving.status, Misbehaving.body = status, body
    provider = misbehaving_provider(misbehaving, system)
    with pytest.raises(UpstreamUnavailable):
        provider.submit(move_request(fresh_plate("浙")))


def test_a_ticket_in_an_unknown_shape_is_unavailable() -> None:
    good = {
        "ticketNo": "ZJNC20261123000001",
        "status": "NOTIFIED",
        "events": [{"status": "NOTIFIED", "at": "2026-11-23T17:13:47+08:00"}],
    }
    assert zhejiang_traffic_police.read_ticket(good).status == NOTIFIED
    for bad in (
        {**good, "status": "LOST"},
        {**good, "ticketNo": 7},
        {**good, "ticketNo": "T" * 65},  # longer than any we keep: a 500 on PostgreSQL once stored
        {**good, "ticketNo": "ZJNC 2026\n"},
        {**good, "events": [{"status": "NOTIFIED", "at": "2026-11-23T17:13:47"}]},
        {**good, "events": [{"status": "NOTIFIED"}]},
        {**good, "events": None},
        {key: value for key, value in good.items() if key != "status"},
    ):
        with pytest.raises(UpstreamUnavailable):
            zhejiang_traffic_police.read_ticket(bad)
