"""User authorisations: WeChat web-auth (OAuth2) tokens and Alipay auth tokens, with refresh tokens."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field

VALID = "valid"
EXPIRED = "expired"
INVALID = "invalid"


@dataclass(frozen=True)
class Grant:
    """What an access token stands for: one user's consent to one app."""

    app_id: str
    subject: str  # WeChat openid or Alipay user_id
    scope: str
    started_at: float


@dataclass
class _Issued:
    grant: Grant
    expires_at: float


@dataclass
class GrantStore:
    """Issues access/refresh token pairs and answers what a token is worth."""

    prefix: str
    ttl_seconds: int
    refresh_ttl_seconds: int
    rotate_refresh: bool  # Alipay hands out a new refresh token on refresh; WeChat keeps the old one
    _access: dict[str, _Issued] = field(default_factory=dict)
    _refresh: dict[str, _Issued] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, app_id: str, subject: str, scope: str) -> tuple[str, str, Grant]:
        """A new (access_token, refresh_token, grant) for subject in app_id."""
        now = time.time()
        grant = Grant(app_id, subject, scope, now)
        access, refresh = self._token(), self._token()
        with self._lock:
            self._access[access] = _Issued(grant, now + self.ttl_seconds)
            self._refresh[refresh] = _Issued(grant, now + self.refresh_ttl_seconds)
        return access, refresh, grant

    def check(self, access_token: str) -> tuple[str, Grant | None]:
        """(VALID|EXPIRED|INVALID, grant) for an access token."""
        with self._lock:
            issued = self._access.get(access_token)
        if issued is None:
            return INVALID, None
        if time.time() >= issued.expires_at:
            return EXPIRED, issued.grant
        return VALID, issued.grant

    def refresh(self, app_id: str, refresh_token: str) -> tuple[str, str, Grant] | None:
        """A new access token (and refresh token, if rotating) for a live refresh token of app_id."""
        now = time.time()
        with self._lock:
            issued = self._refresh.get(refresh_token)
            if issued is None or issued.grant.app_id != app_id or now >= issued.expires_at:
                return None
            access = self._token()
            self._access[access] = _Issued(issued.grant, now + self.ttl_seconds)
            if not self.rotate_refresh:
                return access, refresh_token, issued.grant
            del self._refresh[refresh_token]
            new_refresh = self._token()
            self._refresh[new_refresh] = _Issued(issued.grant, now + self.refresh_ttl_seconds)
            return access, new_refresh, issued.grant

    def _token(self) -> str:
        return self.prefix + secrets.token_hex(16)
