"""The simulated people who use WeChat and Alipay, and what each channel knows about them.

A WeChat person has one unionid per Open Platform account (a "unionid space") and one openid per
app. An Alipay user has one global user_id (2088 + 12 digits) and one open_id per app. Each
person carries the certified identity the channel holds (real name, ID number, phone), which the
real-name checks compare against.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
from dataclasses import dataclass
from dataclasses import field

from sandbox.settings import WeChatApp

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"

# What the channels issue and certify, matched in full. ASCII digits only: \d (and str.isdigit)
# also take full-width, Arabic-Indic and other scripts' digits, which no channel issues.
WECHAT_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")
ALIPAY_USER_ID = re.compile(r"2088[0-9]{12}")
ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
PHONE = re.compile(r"1[0-9]{10}")
# As citytiles reads names: CJK ideographs (rare characters live in the extension planes) or Latin.
REAL_NAME = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f·]{2,30}|[A-Za-z][A-Za-z .'-]{1,59}")


class ResidentConflict(ValueError):
    """The ids a caller gave describe two different people."""


class InvalidIdentity(ValueError):
    """An id or certified identity field no channel would hold."""

    def __init__(self, field_name: str, pattern: re.Pattern[str]) -> None:
        super().__init__(f"{field_name} has the wrong format")
        self.field_name, self.reason = field_name, f"must match {pattern.pattern}"


@dataclass
class Identity:
    """The certified identity a channel holds for a person; None where the channel knows nothing."""

    real_name: str | None = None
    id_number: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        _check("real_name", self.real_name, REAL_NAME)
        _check("id_number", self.id_number, ID_NUMBER)
        _check("phone", self.phone, PHONE)

    def update(self, other: Identity) -> None:
        """Overwrite the fields other gives, keep the others."""
        self.real_name = other.real_name if other.real_name is not None else self.real_name
        self.id_number = other.id_number if other.id_number is not None else self.id_number
        self.phone = other.phone if other.phone is not None else self.phone


@dataclass
class WeChatPerson:
    """One person as WeChat knows them."""

    space: str
    unionid: str
    nickname: str
    identity: Identity = field(default_factory=Identity)
    openids: dict[str, str] = field(default_factory=dict)


@dataclass
class AlipayUser:
    """One Alipay account."""

    user_id: str
    nick_name: str
    identity: Identity = field(default_factory=Identity)
    open_ids: dict[str, str] = field(default_factory=dict)


class WeChatResidents:
    """Every simulated WeChat person, indexed by (app, openid) and by (space, unionid)."""

    def __init__(self) -> None:
        self._by_openid: dict[tuple[str, str], WeChatPerson] = {}
        self._by_unionid: dict[tuple[str, str], WeChatPerson] = {}
        self._lock = threading.Lock()

    def enrol(
        self, app: WeChatApp, openid: str | None, unionid: str | None, identity: Identity
    ) -> tuple[WeChatPerson, str]:
        """Find or create the person these ids name in app; return them and their openid there."""
        _check("openid", openid, WECHAT_ID)
        _check("unionid", unionid, WECHAT_ID)
        if unionid is not None and app.unionid_space is None:
            raise ResidentConflict(f"app {app.app_id} is bound to no Open Platform account, so it has no unionid")
        # Apps without an Open Platform account still need a space; people there are per app.
        space = app.unionid_space or f"app:{app.app_id}"
        with self._lock:
            person = self._by_openid.get((app.app_id, openid)) if openid else None
            if person is not None and unionid is not None and person.unionid != unionid:
                raise ResidentConflict(f"openid {openid} belongs to a person with another unionid")
            if person is None and unionid is not None:
                person = self._by_unionid.get((space, unionid))
            if person is None:
                person = WeChatPerson(space, unionid or _wechat_id(), nickname="微信用户")
                self._by_unionid[(space, person.unionid)] = person
            known = person.openids.get(app.app_id)
            if openid and known and known != openid:
                raise ResidentConflict(f"unionid {person.unionid} already has openid {known} in {app.app_id}")
            openid = known or openid or _wechat_id()
            person.openids[app.app_id] = openid
            self._by_openid[(app.app_id, openid)] = person
            person.identity.update(identity)
            return person, openid

    def find(self, app_id: str, openid: str) -> WeChatPerson | None:
        """The person behind openid in app_id, if any."""
        with self._lock:
            return self._by_openid.get((app_id, openid))


class AlipayResidents:
    """Every simulated Alipay user, indexed by user_id and by (app, open_id)."""

    def __init__(self) -> None:
        self._by_user_id: dict[str, AlipayUser] = {}
        self._by_open_id: dict[tuple[str, str], AlipayUser] = {}
        self._lock = threading.Lock()

    def enrol(
        self, app_id: str, user_id: str | None, nick_name: str | None, identity: Identity
    ) -> tuple[AlipayUser, str]:
        """Find or create the user; return them and their open_id in app_id."""
        _check("user_id", user_id, ALIPAY_USER_ID)
        with self._lock:
            user = self._by_user_id.get(user_id) if user_id else None
            if user is None:
                user = AlipayUser(user_id or self._new_user_id(), nick_name="支付宝用户")
                self._by_user_id[user.user_id] = user
            if nick_name is not None:
                user.nick_name = nick_name
            user.identity.update(identity)
            open_id = user.open_ids.get(app_id)
            if open_id is None:
                open_id = "0" + "".join(secrets.choice(string.digits) for _ in range(2)) + _random(_ALNUM, 44)
                user.open_ids[app_id] = open_id
                self._by_open_id[(app_id, open_id)] = user
            return user, open_id

    def find(self, user_id: str) -> AlipayUser | None:
        """The user with this user_id, if any."""
        with self._lock:
            return self._by_user_id.get(user_id)

    def find_by_open_id(self, app_id: str, open_id: str) -> AlipayUser | None:
        """The user behind open_id in app_id, if any."""
        with self._lock:
            return self._by_open_id.get((app_id, open_id))

    def _new_user_id(self) -> str:
        while True:
            candidate = "2088" + "".join(secrets.choice(string.digits) for _ in range(12))
            if candidate not in self._by_user_id:
                return candidate


def _check(field_name: str, value: str | None, pattern: re.Pattern[str]) -> None:
    if value is not None and not pattern.fullmatch(value):
        raise InvalidIdentity(field_name, pattern)


def _wechat_id() -> str:
    # openids and unionids look like "o" + 27 URL-safe characters.
    return "o" + _random(_URLSAFE, 27)


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
