"""The PII vault: authenticated encryption with key ids, keyed lookup hashes, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from dataclasses import field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "v1"


class VaultError(Exception):
    """A ciphertext could not be opened: unknown key, wrong field, or tampered with."""


@dataclass(frozen=True)
class Vault:
    """Encrypts personal data field by field; the field name is bound in, so ciphertexts cannot be swapped."""

    keys: dict[str, bytes] = field(repr=False)
    active_key_id: str
    lookup_key: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, keys: str, active_key_id: str, lookup_key: str) -> Vault:
        """Parse `keyid:base64,...`; every key must be 32 bytes and the active one present."""
        parsed = {}
        for item in filter(None, (part.strip() for part in keys.split(","))):
            key_id, _, encoded = item.partition(":")
            parsed[key_id] = base64.b64decode(encoded)
        if any(len(key) != 32 for key in parsed.values()) or active_key_id not in parsed:
            raise ValueError("PII_KEYS needs 32-byte keys, and PII_ACTIVE_KEY must name one of them")
        lookup = base64.b64decode(lookup_key)
        if len(lookup) < 32:
            raise ValueError("PII_LOOKUP_KEY needs at least 32 bytes, or ID numbers could be guessed from lookups")
        return cls(parsed, active_key_id, lookup)

    def seal(self, purpose: str, plaintext: str) -> str:
        """Encrypt under the active key: `v1:<key id>:<base64 nonce+ciphertext>`."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.active_key_id]).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{FORMAT}:{self.active_key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, purpose: str, ciphertext: str) -> str:
        """Decrypt with whichever key sealed it."""
        try:
            version, key_id, encoded = ciphertext.split(":", 2)
            raw = base64.b64decode(encoded)
            key = self.keys[key_id]
        except (ValueError, KeyError) as error:
            raise VaultError("ciphertext is malformed or sealed with an unknown key") from error
        if version != FORMAT:
            raise VaultError(f"unknown ciphertext format {version}")
        if len(raw) < 12:
            raise VaultError("ciphertext is too short to hold its nonce")  # AESGCM would raise ValueError
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        except InvalidTag as error:
            raise VaultError("ciphertext was tampered with or belongs to another field") from error

    def needs_resealing(self, ciphertext: str) -> bool:
        """Whether a ciphertext was sealed with a key other than the active one."""
        parts = ciphertext.split(":", 2)
        if len(parts) != 3:
            raise VaultError("ciphertext is malformed")
        return parts[1] != self.active_key_id

    def lookup(self, purpose: str, value: str) -> str:
        """A keyed hash for equality lookups, so the database never holds a guessable digest."""
        # Unlike the sealing keys, the lookup key cannot rotate in place: stored lookups would stop matching.
        return hmac.new(self.lookup_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
