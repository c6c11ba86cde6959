"""Credentials of the emulated outpatient systems, generated into the state directory on first start.

    outpatient/zheyi_his.api_key                          zheyi_his API key (X-Api-Key header):
                                                          43 URL-safe base64 characters.
    outpatient/shenzhen_health_platform/<app_id>.secret   shenzhen_health_platform app secret, the
                                                          HMAC-SHA256 key of request signatures:
                                                          64 hex characters.

Both are shared secrets, so citytiles' demo configuration reads the same files the sandbox
checks against. Like every credential of the sandbox, a file that exists is never regenerated.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sandbox.keys import _write_once

# The one app registered with the emulated 健康深圳 platform.
SHENZHEN_APP_ID = "szjk_citytiles_demo"
_PRIVATE = 0o600


@dataclass(frozen=True)
class OutpatientCredentials:
    """The outpatient systems' secrets and where they live."""

    zheyi_api_key: str
    zheyi_api_key_file: Path
    shenzhen_app_id: str
    shenzhen_app_secret: str
    shenzhen_app_secret_file: Path


def load_or_create_outpatient_credentials(state_dir: Path) -> OutpatientCredentials:
    """Read both systems' secrets from state_dir, generating the ones that are missing."""
    folder = Path(state_dir) / "outpatient"
    api_key_file = folder / "zheyi_his.api_key"
    secret_file = folder / "shenzhen_health_platform" / f"{SHENZHEN_APP_ID}.secret"
    api_key = _write_once(api_key_file, secrets.token_urlsafe(32).encode(), _PRIVATE).decode().strip()
    secret = _write_once(secret_file, secrets.token_hex(32).encode(), _PRIVATE).decode().strip()
    return OutpatientCredentials(api_key, api_key_file, SHENZHEN_APP_ID, secret, secret_file)
