"""The channels citytiles plugs into: one package per channel, each implementing identity's ports."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from chat.accounts import Account
from chat.ports import ChatChannel
from city_services.notices import Messenger
from identity.ports import ChannelLogin
from identity.ports import PhoneNumbers
from identity.ports import RealNameVerifier


@dataclass(frozen=True)
class ChannelBundle:
    """What one channel offers: a login per app, a real-name verifier, phone numbers, notices and chat per app."""

    logins: dict[str, ChannelLogin]
    verifier: RealNameVerifier
    phones: dict[str, PhoneNumbers] = field(default_factory=dict)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    # Official and life accounts: each one's channel adapter and what it serves.
    chats: dict[str, ChatChannel] = field(default_factory=dict)
    chat_accounts: dict[str, Account] = field(default_factory=dict)
