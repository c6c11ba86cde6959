"""Each official account's server credentials (服务器配置), generated on first start, reused later.

    wechat/<app_id>.token    The server token: 32 ASCII letters and digits. Signs every message WeChat
                             pushes (signature, msg_signature) and every encrypted passive reply.
    wechat/<app_id>.aes_key  The EncodingAESKey: 43 ASCII letters and digits; base64-decoded with one
                             "=" appended it is the 32-byte AES key of safe mode (消息加密).

Both are shared secrets: citytiles reads the same files. Text files have no trailing newline, and a
file that exists is never regenerated.
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from sandbox.keys import _write_once

_PRIVATE = 0o600
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class OfficialAccountKeys:
    """One official account's token and EncodingAESKey, and where they live."""

    app_id: str
    token: str
    token_file: Path
    encoding_aes_key: str
    encoding_aes_key_file: Path

    @property
    def aes_key(self) -> bytes:
        """The 32-byte AES key the EncodingAESKey stands for."""
        return base64.b64decode(self.encoding_aes_key + "=")


def load_or_create_official_account_keys(state_dir: Path, app_ids: list[str]) -> dict[str, OfficialAccountKeys]:
    """Read every official account's server credentials from state_dir, generating the missing ones."""
    return {app_id: _load_or_create(Path(state_dir) / "wechat", app_id) for app_id in app_ids}


def _load_or_create(folder: Path, app_id: str) -> OfficialAccountKeys:
    token_file, aes_key_file = folder / f"{app_id}.token", folder / f"{app_id}.aes_key"
    token = _write_once(token_file, _random(32).encode(), _PRIVATE).decode().strip()
    aes_key = _write_once(aes_key_file, _random(43).encode(), _PRIVATE).decode().strip()
    return OfficialAccountKeys(app_id, token, token_file, aes_key, aes_key_file)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
