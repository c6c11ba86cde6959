"""A stand-in citytiles for the chat tests: it checks the platforms' pushes with its own code and answers from a script.

It reads the credentials from the sandbox's state directory as citytiles does, checks WeChat's
signatures and opens safe-mode messages with hashlib and cryptography (never the sandbox's
functions), and checks Alipay's form with python-alipay-sdk's verify. Each push is answered by the
next scripted answer, else by the default: `success` for WeChat, a signed acknowledgement (or the
gateway check's answer) for Alipay.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from alipay import AliPay
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes
from flask import Flask
from flask import Response
from flask import request
from werkzeug.serving import make_server

OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ORIGINAL_ID = "gh_3f5a7c9e1b2d"
LIFE_ACCOUNT = "2021004100000002"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


@dataclass(frozen=True)
class Heard:
    """One push as the stand-in read it."""

    channel: str  # wechat or alipay
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    signature_ok: bool  # WeChat: signature (and msg_signature, and the app id inside); Alipay: the SDK's verify
    xml: str  # WeChat: the plain message XML (decrypted in safe mode); Alipay: biz_content
    at: float

    @property
    def fields(self) -> dict[str, str]:
        """The message's elements by tag (Alipay's Text/Content as Content)."""
        root = ElementTree.fromstring(self.xml)
        found = {child.tag: child.text or "" for child in root}
        content = root.find("Text/Content")
        if content is not None:
            found["Content"] = content.text or ""
        return found


Answer = tuple[int, bytes, float]  # status, body, seconds to think before answering
Script = Callable[["StandIn", Heard], Answer]


@dataclass
class StandIn:
    """The stand-in's state: what it heard and how it will answer."""

    base: str
    state_dir: Path | None = None
    heard: list[Heard] = field(default_factory=list)
    script: list[Script] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_with(self, *answers: Script) -> None:
        """Answer the next pushes with answers, in order, then with the defaults; forget what was heard."""
        with self.lock:
            self.script, self.heard = list(answers), []

    def take(self, heard: Heard) -> Script | None:
        """Record a push; the scripted answer for it, if any."""
        with self.lock:
            self.heard.append(heard)
            return self.script.pop(0) if self.script else None

    def credential(self, name: str) -> str:
        """A credential file from the sandbox's state directory, as citytiles reads it."""
        assert self.state_dir is not None
        return (self.state_dir / name).read_text()

    @property
    def token(self) -> str:
        """The official account's server token."""
        return self.credential(f"wechat/{OFFICIAL_ACCOUNT}.token")

    @property
    def aes_key(self) -> bytes:
        """The official account's AES key."""
        return base64.b64decode(self.credential(f"wechat/{OFFICIAL_ACCOUNT}.aes_key") + "=")

    @property
    def app_private_key(self) -> rsa.RSAPrivateKey:
        """The Alipay app private key citytiles signs with."""
        key = serialization.load_pem_private_key(self.credential("public/alipay_app_private_key.pem").encode(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key


def sha1_of_sorted(*parts: str) -> str:
    """WeChat's signature: sha1 hex of the sorted parts joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def seal(aes_key: bytes, app_id: str, xml: str) -> str:
    """Safe-mode encryption, written from WeChat's description (16 random bytes, length, XML, app id, PKCS#7/32)."""
    message = xml.encode()
    plain = secrets.token_bytes(16) + len(message).to_bytes(4, "big") + message + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def open_sealed(aes_key: bytes, text: str) -> tuple[str, str]:
    """The XML and the app id inside a safe-mode Encrypt text."""
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(text)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    length = int.from_bytes(plain[16:20], "big")
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def rsa2(key: rsa.RSAPrivateKey, text: str) -> str:
    """SHA256withRSA, base64."""
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def app_public_key_text(key: rsa.RSAPrivateKey) -> str:
    """The app public key as the gateway check answers it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def passive_text(content: str, to: str | None = None, sender: str = ORIGINAL_ID) -> Script:
    """A plain text reply to the user who wrote (or to `to`), from `sender`."""

    def answer(stand_in: StandIn, heard: Heard) -> Answer:
        return 200, reply_xml(content, to or heard.fields["FromUserName"], sender).encode(), 0.0

    return answer


def reply_xml(content: str, to: str, sender: str = ORIGINAL_ID) -> str:
    """A passive text reply's XML."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content></xml>"
    )


def encrypted_text(content: str, bad_signature: bool = False, app_id: str = OFFICIAL_ACCOUNT) -> Script:
    """An encrypted text reply to the user who wrote, signed (or not quite) with the token."""

    def answer(stand_in: StandIn, heard: Heard) -> Answer:
        sealed = seal(stand_in.aes_key, app_id, reply_xml(content, heard.fields["FromUserName"]))
        timestamp, nonce = str(int(time.time())), "1320562132"
        signature = sha1_of_sorted(stand_in.token, timestamp, nonce, sealed)
        if bad_signature:
            signature = sha1_of_sorted(stand_in.token, timestamp, nonce, sealed + "x")
        body = (
            f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
        return 200, body.encode(), 0.0

    return answer


def plain(body: bytes | str, status: int = 200, delay: float = 0.0) -> Script:
    """Answer exactly this."""
    raw = body.encode() if isinstance(body, str) else body
    return lambda stand_in, heard: (status, raw, delay)


def slow(seconds: float, then: Script | None = None) -> Script:
    """Think for seconds, then answer as `then` would (or as the default)."""

    def answer(stand_in: StandIn, heard: Heard) -> Answer:
        status, body, _ = (then or _default)(stand_in, heard)
        return status, body, seconds

    return answer


def alipay_answer(
    biz_content: str | None = None, success: str = "true", key: rsa.RSAPrivateKey | None = None, tamper: bool = False
) -> Script:
    """citytiles' gateway answer: <response> signed with the app private key (or another key, or tampered after)."""

    def answer(stand_in: StandIn, heard: Heard) -> Answer:
        inner = f"<biz_content>{biz_content}</biz_content>" if biz_content is not None else ""
        response = f"<response>{inner}<success>{success}</success></response>"
        sign = rsa2(key or stand_in.app_private_key, response)
        if tamper:
            response = response.replace(success, "true ")
        body = f"{XML_DECLARATION}<alipay>{response}<sign>{sign}</sign><sign_type>RSA2</sign_type></alipay>"
        return 200, body.encode(), 0.0

    return answer


def _default(stand_in: StandIn, heard: Heard) -> Answer:
    if heard.channel == "wechat":
        return 200, b"success", 0.0
    if heard.form.get("service") == "alipay.service.check":
        return alipay_answer(app_public_key_text(stand_in.app_private_key))(stand_in, heard)
    return alipay_answer()(stand_in, heard)


def start_stand_in() -> tuple[StandIn, Callable[[], None]]:
    """The stand-in on 127.0.0.1 in a thread, and the function that stops it."""
    app = Flask("stand_in_citytiles")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    stand_in = StandIn(f"http://127.0.0.1:{server.server_port}")

    def answered(heard: Heard) -> Response:
        status, body, delay = (stand_in.take(heard) or _default)(stand_in, heard)
        time.sleep(delay)
        return Response(body, status=status, content_type="text/xml; charset=utf-8")

    @app.get("/channels/wechat/<app_id>/messages")
    def wechat_check(app_id: str) -> Response:
        query = request.args.to_dict()
        heard = Heard("wechat", "GET", query, dict(request.headers), b"", {}, _wechat_signed(stand_in, query), "", 0)
        scripted = stand_in.take(heard)
        if scripted is not None:
            status, body, delay = scripted(stand_in, heard)
            time.sleep(delay)
            return Response(body, status=status)
        return Response(query.get("echostr", "") if heard.signature_ok else "", status=200, content_type="text/plain")

    @app.post("/channels/wechat/<app_id>/messages")
    def wechat_message(app_id: str) -> Response:
        query, body = request.args.to_dict(), request.get_data()
        ok, xml = _wechat_signed(stand_in, query), body.decode()
        if query.get("encrypt_type") == "aes":
            sealed = ElementTree.fromstring(body).findtext("Encrypt") or ""
            ok = ok and query.get("msg_signature") == sha1_of_sorted(
                stand_in.token, query["timestamp"], query["nonce"], sealed
            )
            xml, inside_app_id = open_sealed(stand_in.aes_key, sealed)
            ok = ok and inside_app_id == app_id
        return answered(Heard("wechat", "POST", query, dict(request.headers), body, {}, ok, xml, time.time()))

    @app.post("/channels/alipay/<app_id>/gateway")
    def alipay_gateway(app_id: str) -> Response:
        form = request.form.to_dict()
        unsigned = dict(form)
        sign = unsigned.pop("sign", "")
        sdk = AliPay(
            appid=app_id,
            app_private_key_string=stand_in.credential("public/alipay_app_private_key.pem"),
            alipay_public_key_string=stand_in.credential("public/alipay_public_key.pem"),
            sign_type="RSA2",
        )
        ok = sdk.verify(unsigned, sign)
        heard = Heard(
            "alipay",
            "POST",
            {},
            dict(request.headers),
            request.get_data(),
            form,
            ok,
            form.get("biz_content", ""),
            time.time(),
        )
        return answered(heard)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stand_in, stop


def _wechat_signed(stand_in: StandIn, query: dict[str, str]) -> bool:
    expected = sha1_of_sorted(stand_in.token, query.get("timestamp", ""), query.get("nonce", ""))
    return query.get("signature") == expected


def chat(sandbox: Any, status: int = 200, **body: Any) -> dict[str, Any]:
    """POST /_sandbox/chat, check the status, return the JSON."""
    response = sandbox.helper("POST", "chat", json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer
