"""A resident's login from one address: failures allowed per app and window, logged once, taken back by success."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from database.engine import make_engine
from database.engine import make_session_factory
from errors import TooManyRequests
from identity.attempts import source_of
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.ports import LoginRejected
from identity.residents import LOGIN_LIMIT
from identity.residents import LOGIN_WINDOW
from identity.residents import MAX_FAILED_LOGINS_PER_ADDRESS
from identity.residents import ResidentSession
from identity.residents import sign_in
from tests.identity.test_residents_and_merging import HOUR
from tests.identity.test_residents_and_merging import MINI
from tests.identity.test_residents_and_merging import NOW
from tests.identity.test_residents_and_merging import OA
from tests.identity.test_residents_and_merging import VAULT
from tests.identity.test_residents_and_merging import counter

ADDRESS = "203.0.113.5"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    yield db
    db.close()
    engine.dispose()


class Lockouts(logging.Handler):
    """The lockout events of the security log (the app's logging setup may stop propagation to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.events: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "lockout":
            self.events.append(record)


@pytest.fixture
def lockouts() -> Iterator[Lockouts]:
    logger = logging.getLogger("citytiles.security")
    handler = Lockouts()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def attempt(
    session: Session, wechat: FakeChannel, code: str, *, app_id: str = MINI, address: str = ADDRESS, minutes: float = 0
) -> ResidentSession:
    return sign_in(
        session,
        FakeLogin(wechat, app_id),
        code,
        source=address,
        attempts=counter(session),
        vault=VAULT,
        now=NOW + timedelta(minutes=minutes),
        lifetime=HOUR,
    )


def use_up_the_allowance(session: Session, wechat: FakeChannel, **where: str) -> None:
    for n in range(MAX_FAILED_LOGINS_PER_ADDRESS):
        with pytest.raises(LoginRejected):
            attempt(session, wechat, f"guess-{n}", **where)


def test_guessed_codes_are_allowed_until_the_limit_then_refused_for_the_window(
    session: Session, lockouts: Lockouts
) -> None:
    wechat = FakeChannel("wechat")
    use_up_the_allowance(session, wechat)
    assert lockouts.events == []
    code, _ = wechat.issue_code("o-1")
    with pytest.raises(TooManyRequests) as refused:
        attempt(session, wechat, code, minutes=5)
    assert refused.value.code == "session.too_many_attempts"
    assert refused.value.retry_after == (LOGIN_WINDOW - timedelta(minutes=5)).total_seconds()
    [event] = lockouts.events
    assert (event.limit, event.source) == (LOGIN_LIMIT, ADDRESS)
    with pytest.raises(TooManyRequests):
        attempt(session, wechat, code, minutes=6)
    assert len(lockouts.events) == 1  # once per window, not once per refusal
    assert wechat.used == set()  # refused before the channel was asked
    assert attempt(session, wechat, code, minutes=15).resident.id is not None


def test_the_allowance_is_per_app_and_per_address(session: Session) -> None:
    wechat = FakeChannel("wechat")
    use_up_the_allowance(session, wechat)
    for where in ({"app_id": OA}, {"address": "198.51.100.7"}):
        code, _ = wechat.issue_code("o-1")
        assert attempt(session, wechat, code, **where).resident.id is not None


def test_a_good_login_takes_its_attempt_back(session: Session) -> None:
    wechat = FakeChannel("wechat")
    for _ in range(MAX_FAILED_LOGINS_PER_ADDRESS + 1):
        code, _ = wechat.issue_code("o-1")
        attempt(session, wechat, code)
    use_up_the_allowance(session, wechat)


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one client holds a /64: its addresses are one source
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen through an IPv6 socket
        (None, "unknown"),
        ("", "unknown"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_attempts_are_counted_per_ipv4_address_or_ipv6_64(address: str | None, source: str) -> None:
    assert source_of(address) == source
