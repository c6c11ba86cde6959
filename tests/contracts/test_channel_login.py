"""One ChannelLogin contract, run over the fake and over each real adapter against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.wiring import build_channel_adapters
from errors import UpstreamUnavailable
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.ports import ChannelLogin
from identity.ports import LoginRejected
from tests.conftest import Sandbox

MINI, OA, ALIPAY = "wx7c1b5d1e2f3a4b50", "wx9a8b7c6d5e4f3a20", "2021004100000001"


@dataclass
class LoginSubject:
    """An adapter under test, a way to get codes for a person, and a way to make the channel fail."""

    login: ChannelLogin
    issue: Callable[[str], tuple[str, str | None]]  # person -> (code, unionid the channel knows)
    break_channel: Callable[[], None]


def fake_subject(channel: str, app_id: str) -> LoginSubject:
    fake = FakeChannel(channel)

    def issue(person: str) -> tuple[str, str | None]:
        return fake.issue_code(f"ext-{person}", unionid=f"union-{person}")[0], f"union-{person}"

    return LoginSubject(
        FakeLogin(fake, app_id),
        issue,
        lambda: fake.fail_next(UpstreamUnavailable("channel.unavailable", "down")),
    )


def sandbox_subject(sandbox: Sandbox, tmp_path: Path, app_id: str) -> LoginSubject:
    adapters = build_channel_adapters(sandbox.channel_settings(tmp_path))
    channel = "alipay" if app_id == ALIPAY else "wechat"

    def issue(person: str) -> tuple[str, str | None]:
        if channel == "alipay":
            user_id = "2088" + str(abs(hash(person)) % 10**12).zfill(12)
            body = sandbox.alipay_code(user_id=user_id)
            return body["auth_code"], body["user_id"]
        body = sandbox.wechat_code(app_id, unionid=f"union-{person}-{tmp_path.name}")
        return body["code"], body.get("unionid")

    target = {MINI: "wechat.jscode2session", OA: "wechat.oauth2", ALIPAY: "alipay.oauth"}[app_id]
    return LoginSubject(
        adapters.logins[app_id],
        issue,
        lambda: sandbox.helper("POST", "faults", json={"target": target, "mode": "down", "times": 1}),
    )


@pytest.fixture(params=["fake-wechat", "fake-alipay", "wechat-mini-program", "wechat-official-account", "alipay"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> LoginSubject:
    builders: dict[str, Callable[[], LoginSubject]] = {
        "fake-wechat": lambda: fake_subject("wechat", MINI),
        "fake-alipay": lambda: fake_subject("alipay", ALIPAY),
        "wechat-mini-program": lambda: sandbox_subject(request.getfixturevalue("clean_sandbox"), tmp_path, MINI),
        "wechat-official-account": lambda: sandbox_subject(request.getfixturevalue("clean_sandbox"), tmp_path, OA),
        "alipay": lambda: sandbox_subject(request.getfixturevalue("clean_sandbox"), tmp_path, ALIPAY),
    }
    return builders[request.param]()


def test_a_code_names_the_user_and_the_same_person_twice_is_the_same_user(subject: LoginSubject) -> None:
    code, unionid = subject.issue("ada")
    user = subject.login.exchange_code(code)
    assert (user.channel, user.app_id) == (subject.login.channel, subject.login.app_id)
    assert user.external_id and user.unionid == unionid
    again = subject.login.exchange_code(subject.issue("ada")[0])
    assert again.external_id == user.external_id
    other = subject.login.exchange_code(subject.issue("bob")[0])
    assert other.external_id != user.external_id


def test_a_code_works_once(subject: LoginSubject) -> None:
    code, _ = subject.issue("ada")
    subject.login.exchange_code(code)
    with pytest.raises(LoginRejected) as rejected:
        subject.login.exchange_code(code)
    assert rejected.value.code in {"session.code_used", "session.code_invalid"}


def test_an_unknown_code_is_rejected_as_invalid(subject: LoginSubject) -> None:
    with pytest.raises(LoginRejected) as rejected:
        subject.login.exchange_code("no-such-code-0000")
    assert rejected.value.code == "session.code_invalid"


def test_a_channel_that_is_down_is_unavailable_not_a_crash(subject: LoginSubject) -> None:
    subject.break_channel()
    with pytest.raises(UpstreamUnavailable) as unavailable:
        subject.login.exchange_code(subject.issue("ada")[0])
    assert unavailable.value.code == "channel.unavailable" and unavailable.value.retry_after > 0


def test_secrets_stay_out_of_the_users_repr(subject: LoginSubject) -> None:
    user = subject.login.exchange_code(subject.issue("ada")[0])
    if user.secret:
        assert user.secret not in repr(user)
