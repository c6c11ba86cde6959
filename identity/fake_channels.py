"""In-memory channel adapters for fast tests and local runs; the contract suite keeps them honest."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from dataclasses import field

from errors import Invalid
from identity.ports import ChannelUser
from identity.ports import LoginRejected
from identity.ports import RealNameClaim
from identity.ports import RealNameResult
from identity.ports import RealNameUnavailable


@dataclass
class FakeChannel:
    """One simulated channel: its users' certified identities and the codes it has issued."""

    channel: str
    users: dict[str, dict[str, str | None]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    failures: list[Exception] = field(default_factory=list)

    def issue_code(
        self,
        external_id: str | None = None,
        *,
        unionid: str | None = None,
        real_name: str | None = None,
        id_number: str | None = None,
        phone: str | None = None,
    ) -> tuple[str, str]:
        """Create or update a user and give out a one-time code for them, as the front end's login call would."""
        external_id = external_id or "fake-" + secrets.token_hex(8)
        user = self.users.setdefault(external_id, {})
        user.update(
            {
                k: v
                for k, v in {"unionid": unionid, "real_name": real_name, "id_number": id_number, "phone": phone}.items()
                if v
            }
        )
        code = "code-" + secrets.token_hex(8)
        self.codes[code] = external_id
        return code, external_id

    def fail_next(self, error: Exception) -> None:
        """Make the next call raise this error, as an unreachable or refusing channel would."""
        self.failures.append(error)

    def redeem(self, code: str) -> str:
        """The user a code was issued for; each code works once."""
        if self.failures:
            raise self.failures.pop(0)
        if code in self.used:
            raise LoginRejected("session.code_used", "This login code has already been used.")
        if code not in self.codes:
            raise LoginRejected("session.code_invalid", "This login code is invalid or has expired.")
        self.used.add(code)
        return self.codes[code]


@dataclass
class FakeLogin:
    """ChannelLogin over a FakeChannel for one app."""

    fake: FakeChannel
    app_id: str
    name: str = "fake"

    @property
    def channel(self) -> str:
        """The fake channel's name."""
        return self.fake.channel

    def exchange_code(self, code: str) -> ChannelUser:
        """Redeem a code issued by the fake channel."""
        external_id = self.fake.redeem(code)
        unionid = self.fake.users[external_id].get("unionid")
        return ChannelUser(self.fake.channel, self.app_id, external_id, unionid, secret="fake-session-" + external_id)


@dataclass
class FakeRealNames:
    """RealNameVerifier over a FakeChannel's certified identities."""

    fake: FakeChannel
    name: str = "fake_real_name"
    # How many times the channel was asked, so tests can tell a refusal made before asking.
    calls: int = 0

    def verify(self, claim: RealNameClaim) -> RealNameResult:
        """Match the claim against the user's certified name and ID number."""
        self.calls += 1
        if self.fake.failures:
            raise self.fake.failures.pop(0)
        user = self.fake.users.get(claim.external_id, {})
        if not user.get("id_number"):
            raise RealNameUnavailable(
                "identity.real_name_unavailable", "The channel holds no verified identity for you."
            )
        matched = user.get("real_name") == claim.name and user.get("id_number") == claim.id_number
        return RealNameResult(matched=matched, verifier=self.name, reason=None if matched else "mismatch")


@dataclass
class FakePhones:
    """PhoneNumbers over a FakeChannel: codes are issued with issue_code(phone=...)."""

    fake: FakeChannel
    name: str = "fake_phone"

    def phone_number(self, code: str, external_id: str) -> str:
        """The phone of the user the code was issued for."""
        try:
            owner = self.fake.redeem(code)
        except LoginRejected:
            owner = None
        phone = self.fake.users[owner].get("phone") if owner else None
        if owner != external_id or not phone:
            raise Invalid("identity.phone_code_invalid", "This phone authorisation code is not valid.")
        return phone
