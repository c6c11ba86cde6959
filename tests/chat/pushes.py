"""WeChat's side of an official-account push, written here from the protocol (not from citytiles' code)."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path

from wechatpy.crypto import WeChatCrypto

OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ORIGINAL_ID = "gh_3f5a7c9e1b2d"


@dataclass(frozen=True)
class Pusher:
    """Signs (and in safe mode encrypts) pushes to one official account, as WeChat's servers do."""

    token: str
    aes_key: str
    app_id: str = OFFICIAL_ACCOUNT
    original_id: str = ORIGINAL_ID

    def query(self, *, at: int | None = None, encrypt: str | None = None) -> dict[str, str]:
        """The query string of a push: signature over token, timestamp and nonce (and msg_signature)."""
        timestamp, nonce = str(at if at is not None else int(time.time())), secrets.token_hex(5)
        signed = {"timestamp": timestamp, "nonce": nonce, "signature": _sha1(self.token, timestamp, nonce)}
        if encrypt is not None:
            signed |= {"encrypt_type": "aes", "msg_signature": _sha1(self.token, timestamp, nonce, encrypt)}
        return signed

    def text(self, openid: str, content: str, msg_id: int | None = None, *, created: int | None = None) -> str:
        """A text message's XML."""
        return self._xml(openid, "text", created, Content=content, MsgId=str(msg_id or secrets.randbits(62)))

    def event(self, openid: str, event: str, key: str = "", *, created: int | None = None) -> str:
        """An event's XML (subscribe, unsubscribe, CLICK)."""
        return self._xml(openid, "event", created, Event=event, EventKey=key)

    def location(self, openid: str, latitude: float, longitude: float, msg_id: int | None = None) -> str:
        """A location message's XML."""
        return self._xml(
            openid, "location", None, Location_X=str(latitude), Location_Y=str(longitude), Scale="15",
            Label="杭州市西湖区", MsgId=str(msg_id or secrets.randbits(62)),
        )  # fmt: skip

    def encrypted(self, xml: str) -> tuple[str, dict[str, str]]:
        """The safe-mode body of a message and its query."""
        sealed = WeChatCrypto(self.token, self.aes_key, self.app_id).encrypt_message(xml, "n0nce")
        encrypt = sealed.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        to = f"<ToUserName><![CDATA[{self.original_id}]]></ToUserName>"
        body = f"<xml>{to}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return body, self.query(encrypt=encrypt)

    def opened(self, reply: str) -> str:
        """An encrypted passive reply, its signature checked and opened."""
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        stamp = reply.split("<TimeStamp>")[1].split("</TimeStamp>")[0]
        nonce = reply.split("<Nonce><![CDATA[")[1].split("]]>")[0]
        signature = reply.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        return str(crypto.decrypt_message(reply, signature, stamp, nonce))

    def _xml(self, openid: str, kind: str, created: int | None, **fields: str) -> str:
        cells = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items())
        return (
            f"<xml><ToUserName><![CDATA[{self.original_id}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
            f"</FromUserName><CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]>"
            f"</MsgType>{cells}</xml>"
        )


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def new_openid() -> str:
    """An openid as WeChat writes them: 28 characters."""
    return "o" + "".join(secrets.choice(string.ascii_letters + string.digits + "_-") for _ in range(27))


def pusher_of(state_dir: Path) -> Pusher:
    """WeChat's side of the demo official account: the token and key the sandbox wrote for it."""
    folder = state_dir / "wechat"
    return Pusher(
        (folder / f"{OFFICIAL_ACCOUNT}.token").read_text(encoding="utf-8"),
        (folder / f"{OFFICIAL_ACCOUNT}.aes_key").read_text(encoding="utf-8"),
    )
