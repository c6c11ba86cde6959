"""What identity needs from the channels, declared here and implemented in channels/."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

from errors import Invalid
from errors import TooManyRequests
from errors import Unauthenticated


@dataclass(frozen=True)
class ChannelUser:
    """Who a login code belongs to, as the channel says.

    :param unionid: WeChat unionid, or Alipay user_id: the same person across the channel's apps.
    :param secret: WeChat session_key or Alipay auth token; kept sealed on the server.
    """

    channel: str
    app_id: str
    external_id: str
    unionid: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RealNameClaim:
    """A name and ID number a resident gave, to check against the channel's certified identity."""

    channel: str
    app_id: str
    external_id: str
    secret: str | None = field(repr=False)
    name: str = field(repr=False)
    id_number: str = field(repr=False)


@dataclass(frozen=True)
class RealNameResult:
    """The channel's answer: does the claim match the identity it certified?"""

    matched: bool
    verifier: str
    reason: str | None = None


class ChannelLogin(Protocol):
    """Turns a channel login code into a ChannelUser, for one channel app."""

    name: str
    channel: str
    app_id: str

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange a one-time login code; raises LoginRejected or UpstreamUnavailable."""


class RealNameVerifier(Protocol):
    """Checks a real-name claim against the identity the channel certified."""

    name: str

    def verify(self, claim: RealNameClaim) -> RealNameResult:
        """Compare; raises RealNameUnavailable when the channel knows no certified identity."""


class PhoneNumbers(Protocol):
    """Turns a phone-number authorisation code into the number the channel verified."""

    name: str

    def phone_number(self, code: str, external_id: str) -> str:
        """Exchange the code; raises LoginRejected for a bad code."""


class LoginRejected(Unauthenticated):
    """The channel refused a login or authorisation code (invalid, expired or already used)."""


class ChannelRateLimited(TooManyRequests):
    """The channel is limiting this user or app; try again later."""


class RealNameUnavailable(Invalid):
    """The channel holds no certified identity for this user."""
