"""WeChat official-account message signatures and safe mode (消息加密), as the platform computes them.

* signature = sha1 hex of the sorted, concatenated strings: (token, timestamp, nonce) for `signature`,
  (token, timestamp, nonce, Encrypt) for `msg_signature` and an encrypted reply's MsgSignature.
* Safe mode: AES-256-CBC with key = base64decode(EncodingAESKey + "=") and IV = key[:16], over
  16 random bytes + the XML's length (4 bytes, big-endian) + the XML (UTF-8) + the app id, padded
  PKCS#7 to a 32-byte block (WeChat's block size, not AES's 16); the result is base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes

BLOCK = 32


class UndecryptableMessage(ValueError):
    """Encrypted text that safe mode cannot open."""


def wechat_signature(*parts: str) -> str:
    """sha1 hex of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def encrypt(aes_key: bytes, app_id: str, xml: str) -> str:
    """The base64 Encrypt text of xml, for app_id."""
    message = xml.encode("utf-8")
    plain = secrets.token_bytes(16) + len(message).to_bytes(4, "big") + message + app_id.encode("utf-8")
    padding = BLOCK - len(plain) % BLOCK
    plain += bytes([padding]) * padding
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt(aes_key: bytes, encrypted: str) -> tuple[str, str]:
    """The XML and the app id inside an Encrypt text, or UndecryptableMessage."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise UndecryptableMessage("Encrypt is not base64") from None
    if not raw or len(raw) % 16:
        raise UndecryptableMessage("Encrypt is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    padding = plain[-1]
    if not 1 <= padding <= BLOCK or plain[-padding:] != bytes([padding]) * padding:
        raise UndecryptableMessage("bad padding")
    plain = plain[:-padding]
    if len(plain) < 20:
        raise UndecryptableMessage("too short")
    length = int.from_bytes(plain[16:20], "big")
    if 20 + length > len(plain):
        raise UndecryptableMessage("the length runs past the end")
    try:
        return plain[20 : 20 + length].decode("utf-8"), plain[20 + length :].decode("utf-8")
    except UnicodeDecodeError:
        raise UndecryptableMessage("not UTF-8") from None
