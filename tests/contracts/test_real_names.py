"""One RealNameVerifier and PhoneNumbers contract, over the fakes and the real adapters against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.wiring import build_channel_adapters
from errors import Invalid
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.fake_channels import FakePhones
from identity.fake_channels import FakeRealNames
from identity.ports import ChannelLogin
from identity.ports import ChannelUser
from identity.ports import LoginRejected
from identity.ports import PhoneNumbers
from identity.ports import RealNameClaim
from identity.ports import RealNameUnavailable
from identity.ports import RealNameVerifier
from tests.conftest import Sandbox

NAME, ID_NUMBER, PHONE = "王小明", "11010519491231002X", "13912345678"
MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"


@dataclass
class VerifierSubject:
    """A verifier, and a way to sign in a person the channel knows with a given certified identity."""

    verifier: RealNameVerifier
    sign_in: Callable[[dict[str, str]], ChannelUser]


def claim(user: ChannelUser, name: str = NAME, id_number: str = ID_NUMBER) -> RealNameClaim:
    return RealNameClaim(user.channel, user.app_id, user.external_id, user.secret, name, id_number)


def fake_subject(channel: str, app_id: str) -> VerifierSubject:
    fake = FakeChannel(channel)
    login = FakeLogin(fake, app_id)
    return VerifierSubject(FakeRealNames(fake), lambda person: login.exchange_code(fake.issue_code(**person)[0]))


def sandbox_subject(sandbox: Sandbox, tmp_path: Path, channel: str) -> VerifierSubject:
    adapters = build_channel_adapters(sandbox.channel_settings(tmp_path))
    app_id = MINI if channel == "wechat" else ALIPAY
    login: ChannelLogin = adapters.logins[app_id]

    def sign_in(person: dict[str, str]) -> ChannelUser:
        code = (
            sandbox.wechat_code(**person)["code"] if channel == "wechat" else sandbox.alipay_code(**person)["auth_code"]
        )
        return login.exchange_code(code)

    return VerifierSubject(adapters.verifiers[channel], sign_in)


@pytest.fixture(params=["fake-wechat", "fake-alipay", "wechat", "alipay"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> VerifierSubject:
    if request.param.startswith("fake-"):
        channel = request.param.removeprefix("fake-")
        return fake_subject(channel, MINI if channel == "wechat" else ALIPAY)
    return sandbox_subject(request.getfixturevalue("clean_sandbox"), tmp_path, request.param)


def test_the_certified_name_and_id_number_match(subject: VerifierSubject) -> None:
    user = subject.sign_in({"real_name": NAME, "id_number": ID_NUMBER})
    result = subject.verifier.verify(claim(user))
    assert result.matched and result.verifier == subject.verifier.name


@pytest.mark.parametrize(("name", "id_number"), [("王小红", ID_NUMBER), (NAME, "440524198001010013")])
def test_a_different_name_or_number_does_not_match(subject: VerifierSubject, name: str, id_number: str) -> None:
    user = subject.sign_in({"real_name": NAME, "id_number": ID_NUMBER})
    assert not subject.verifier.verify(claim(user, name, id_number)).matched


def test_a_user_without_a_certified_identity_is_unavailable(subject: VerifierSubject) -> None:
    user = subject.sign_in({})
    with pytest.raises(RealNameUnavailable):
        subject.verifier.verify(claim(user))


@dataclass
class PhoneSubject:
    phones: PhoneNumbers
    issue: Callable[[], tuple[str, str]]  # -> (phone code, external id of its owner)


@pytest.fixture(params=["fake", "wechat"])
def phone_subject(request: pytest.FixtureRequest, tmp_path: Path) -> PhoneSubject:
    if request.param == "fake":
        fake = FakeChannel("wechat")
        return PhoneSubject(FakePhones(fake), lambda: fake.issue_code("o-phone", phone=PHONE))
    sandbox: Sandbox = request.getfixturevalue("clean_sandbox")
    adapters = build_channel_adapters(sandbox.channel_settings(tmp_path))

    def issue() -> tuple[str, str]:
        body = sandbox.wechat_code(phone=PHONE)
        return body["phone_code"], body["openid"]

    return PhoneSubject(adapters.phones[MINI], issue)


def test_a_phone_code_gives_the_verified_number_once(phone_subject: PhoneSubject) -> None:
    code, owner = phone_subject.issue()
    assert phone_subject.phones.phone_number(code, owner) == PHONE
    with pytest.raises(Invalid) as rejected:
        phone_subject.phones.phone_number(code, owner)
    assert rejected.value.code == "identity.phone_code_invalid"


def test_a_bad_phone_code_is_rejected(phone_subject: PhoneSubject) -> None:
    with pytest.raises(Invalid) as rejected:
        phone_subject.phones.phone_number("not-a-code", "o-phone")
    assert rejected.value.code == "identity.phone_code_invalid"


def test_a_phone_code_issued_to_someone_else_is_rejected(phone_subject: PhoneSubject) -> None:
    code, _owner = phone_subject.issue()
    with pytest.raises(Invalid) as rejected:
        phone_subject.phones.phone_number(code, "o-somebody-else")
    assert rejected.value.code == "identity.phone_code_invalid"


def test_a_lapsed_alipay_authorisation_asks_the_resident_to_log_in_again(tmp_path: Path) -> None:
    import time

    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig
    from tests.conftest import Sandbox as RunningSandbox

    base, stop = serve_in_thread(SandboxConfig(state_dir=tmp_path / "state", token_ttl_seconds=1))
    try:
        short_lived = RunningSandbox(base, tmp_path / "state")
        subject = sandbox_subject(short_lived, tmp_path, "alipay")
        user = subject.sign_in({"real_name": NAME, "id_number": ID_NUMBER})
        time.sleep(1.5)
        with pytest.raises(LoginRejected) as rejected:
            subject.verifier.verify(claim(user))
        assert rejected.value.code == "identity.channel_login_expired"
    finally:
        stop()


def test_production_wires_no_wechat_verifier_until_face_verification_exists(sandbox: Sandbox, tmp_path: Path) -> None:
    from dataclasses import replace

    adapters = build_channel_adapters(replace(sandbox.channel_settings(tmp_path), app_env="production"))
    assert set(adapters.verifiers) == {"alipay"}
    assert MINI in adapters.logins
