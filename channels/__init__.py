"""The channels citytiles plugs into: one package per channel, each implementing identity's ports."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from identity.ports import ChannelLogin
from identity.ports import PhoneNumbers
from identity.ports import RealNameVerifier


@dataclass(frozen=True)
class ChannelBundle:
    """What one channel offers: a login per app, a real-name verifier, and phone numbers per app."""

    logins: dict[str, ChannelLogin]
    verifier: RealNameVerifier
    phones: dict[str, PhoneNumbers] = field(default_factory=dict)
