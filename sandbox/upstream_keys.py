"""Credentials of the emulated city upstream systems: generated on first start, reused later.

State-directory layout (paths relative to `state_dir`, next to the channel keys of sandbox.keys):

    upstreams/hangzhou_gjj.secret                   HMAC-SHA256 key citytiles signs hangzhou_gjj requests
                                                    with (64 hex chars; the key is this text as ASCII).
    upstreams/shenzhen_gjj.client_secret            client secret for shenzhen_gjj's token endpoint.
    upstreams/zhejiang_traffic_police.app_secret    appSecret for zhejiang_traffic_police's token endpoint.
    upstreams/guangdong_traffic_police.secret       HMAC-SHA256 key for guangdong_traffic_police
                                                    request signatures (the key is this text as ASCII).

Each system shares its secret with the caller, so the file is both the sandbox's copy and the one
citytiles' demo configuration reads. The matching public ids (appid, clientId, appKey, key id) are
fixed, listed in CLIENT_IDS and in sandbox/README.md. Files are written without a trailing newline
and never regenerated, so restarts keep every credential.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.keys import _write_once

_PRIVATE = 0o600

# system -> (file name under upstreams/, the caller's public id, how a new secret is made)
_CREDENTIALS: dict[str, tuple[str, str, Callable[[], str]]] = {
    "hangzhou_gjj": ("hangzhou_gjj.secret", "HZGJJ-CT-0001", lambda: secrets.token_hex(32)),
    "shenzhen_gjj": ("shenzhen_gjj.client_secret", "citytiles-szgjj", lambda: secrets.token_urlsafe(32)),
    "zhejiang_traffic_police": ("zhejiang_traffic_police.app_secret", "ZJJJ0571CT01", lambda: secrets.token_hex(16)),
    "guangdong_traffic_police": ("guangdong_traffic_police.secret", "GDTP-CT-0001", lambda: secrets.token_hex(32)),
}
CLIENT_IDS = {system: client_id for system, (_, client_id, _) in _CREDENTIALS.items()}


@dataclass(frozen=True)
class UpstreamCredential:
    """One system's caller credential: the public id and the shared secret, and where the secret lives."""

    system: str
    client_id: str
    secret: str
    path: Path


def upstream_secret_path(state_dir: Path, system: str) -> Path:
    """The file holding system's secret."""
    return Path(state_dir) / "upstreams" / _CREDENTIALS[system][0]


def load_or_create_upstream_credentials(state_dir: Path, systems: tuple[str, ...]) -> dict[str, UpstreamCredential]:
    """The credentials of the named systems, generating the secrets that are missing."""
    loaded = {}
    for system in systems:
        _, client_id, new_secret = _CREDENTIALS[system]
        path = upstream_secret_path(state_dir, system)
        secret = _write_once(path, new_secret().encode("ascii"), _PRIVATE).decode("ascii").strip()
        loaded[system] = UpstreamCredential(system, client_id, secret, path)
    return loaded
