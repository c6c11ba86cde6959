"""Alipay's side of a life account, written here from the protocol (not from citytiles' code).

Alipay signs each push (RSA2, its platform key) over every form field but sign and sign_type,
sorted by key, `key=value` joined with `&`, raw values. citytiles answers in XML signed with the
app's key over `<response>…</response>`, and sends replies to the open-platform gateway.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

LIFE_ACCOUNT = "2021004100000002"
CHECK, NOTIFY = "alipay.service.check", "alipay.mobile.public.message.notify"
CUSTOM_SEND = "alipay.open.public.message.custom.send"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def new_user_id() -> str:
    """An Alipay user id: 2088 and 12 digits."""
    return "2088" + "".join(secrets.choice("0123456789") for _ in range(12))


def sign(key: rsa.RSAPrivateKey, text: str) -> str:
    """RSA2: SHA256withRSA, PKCS#1 v1.5, base64."""
    return base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def verifies(key: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    """Whether the RSA2 signature of text is the key's."""
    try:
        key.verify(base64.b64decode(signature), text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Keys:
    """The sandbox's Alipay keys: the platform's private key, the app public key Alipay holds."""

    platform: rsa.RSAPrivateKey
    app_public: rsa.RSAPublicKey

    @classmethod
    def of(cls, state_dir: Path) -> Keys:
        """Read from the sandbox's state directory."""
        platform = serialization.load_pem_private_key(
            (state_dir / "alipay" / "platform_private_key.pem").read_bytes(), None
        )
        app_public = serialization.load_pem_public_key((state_dir / "alipay" / "app_public_key.pem").read_bytes())
        assert isinstance(platform, rsa.RSAPrivateKey) and isinstance(app_public, rsa.RSAPublicKey)
        return cls(platform, app_public)

    def app_public_base64(self) -> str:
        """The app public key as the gateway check must answer it: DER SubjectPublicKeyInfo, base64, one line."""
        der = self.app_public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()


@dataclass(frozen=True)
class Pusher:
    """Signs pushes to one life account, as Alipay's servers do."""

    keys: Keys
    app_id: str = LIFE_ACCOUNT

    def form(self, service: str, xml: str, *, sign_with: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        """The signed form of a push."""
        fields = {"service": service, "charset": "UTF-8", "biz_content": xml}
        signed = "&".join(f"{key}={value}" for key, value in sorted(fields.items()))
        return {**fields, "sign_type": "RSA2", "sign": sign(sign_with or self.keys.platform, signed)}

    def check(self, user: str) -> str:
        """The gateway check's XML (verifygw)."""
        return self.xml(user, "event", EventType="verifygw")

    def text(self, user: str, content: str, msg_id: str | None = None) -> str:
        """A text message's XML."""
        text = f"<Text><Content><![CDATA[{content}]]></Content></Text>"
        return self.xml(user, "text", None, text, MsgId=msg_id or str(secrets.randbits(62)))

    def event(self, user: str, event: str, key: str = "", *, created: int | None = None) -> str:
        """An event's XML (follow, unfollow, click with its menu key)."""
        return self.xml(user, "event", created, "", EventType=event, **({"ActionParam": key} if key else {}))

    def location(self, user: str, latitude: float, longitude: float) -> str:
        """A location message's XML."""
        return self.xml(
            user, "location", None, "", MsgId=str(secrets.randbits(62)), Latitude=str(latitude),
            Longitude=str(longitude), Label="杭州市西湖区",
        )  # fmt: skip

    def xml(self, user: str, kind: str, created: int | None = None, tail: str = "", **fields: str) -> str:
        """A push's XML: the account, the sender, the time in milliseconds, the type, the fields, then the tail."""
        cells = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items()) + tail
        return (
            f"<XML><AppId><![CDATA[{self.app_id}]]></AppId><FromUserId><![CDATA[{user}]]></FromUserId>"
            f"<CreateTime><![CDATA[{created or int(time.time() * 1000)}]]></CreateTime>"
            f"<MsgType><![CDATA[{kind}]]></MsgType>{cells}</XML>"
        )


def encoded(form: dict[str, str]) -> bytes:
    """The form as Alipay posts it."""
    return urlencode(form).encode()


def answer_of(keys: Keys, body: str) -> str:
    """What is inside <response> of citytiles' answer, once its signature is the app's."""
    found = re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?><alipay>(<response>(.*)</response>)'
        r"<sign>([A-Za-z0-9+/=]+)</sign><sign_type>RSA2</sign_type></alipay>",
        body,
        flags=re.S,
    )
    assert found is not None, body
    assert verifies(keys.app_public, found.group(1), found.group(3)), "the answer is not signed by the app's key"
    return found.group(2)


@dataclass
class Gateway:
    """Alipay's open-platform gateway for custom.send: checks the app's signature, answers as told, keeps the sends."""

    keys: Keys
    answer: dict[str, Any] = field(default_factory=lambda: {"code": "10000", "msg": "Success"})
    status: int = 200
    sent: list[dict[str, Any]] = field(default_factory=list)
    # The answer signed by another key than Alipay's, or not signed at all (as Alipay answers some errors).
    signed_by: rsa.RSAPrivateKey | None = None
    unsigned: bool = False

    def __call__(self, environ: Any, start_response: Any) -> Any:
        params = dict(parse_qsl(Request(environ).get_data(as_text=True), keep_blank_values=True))
        signed = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
        assert verifies(self.keys.app_public, signed, params.get("sign", "")), "the request is not the app's"
        assert params["method"] == CUSTOM_SEND and params["app_id"] == LIFE_ACCOUNT, params
        self.sent.append(json.loads(params["biz_content"]))
        inner = json.dumps(self.answer, ensure_ascii=False)
        signature = "" if self.unsigned else f',"sign":"{sign(self.signed_by or self.keys.platform, inner)}"'
        body = f'{{"alipay_open_public_message_custom_send_response":{inner}{signature}}}'

        return Response(body, status=self.status, content_type="text/html;charset=utf-8")(environ, start_response)


@contextmanager
def serving(gateway: Gateway) -> Iterator[str]:
    """The gateway on loopback in a thread; its URL."""
    server = make_server("127.0.0.1", 0, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/gateway.do"
    finally:
        server.shutdown()
        thread.join(5)
