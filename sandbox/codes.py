"""Single-use, short-lived codes: WeChat login and phone codes, Alipay auth codes, verify ids."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

# What redeem() found out about a code, so each API can answer with its own error.
REDEEMED = "redeemed"
UNKNOWN = "unknown"  # never issued, expired, or issued for another app
USED = "used"


@dataclass
class _Code:
    app_id: str
    payload: Any
    expires_at: float
    used: bool = False


@dataclass
class CodeBook:
    """Issues codes bound to one app and one purpose, and redeems each at most once."""

    ttl_seconds: int
    _codes: dict[str, _Code] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, app_id: str, payload: Any, code: str | None = None) -> str:
        """A new code for app_id carrying payload."""
        now = time.time()
        code = code or secrets.token_hex(16)
        with self._lock:
            self._forget_expired(now)
            self._codes[code] = _Code(app_id, payload, now + self.ttl_seconds)
        return code

    def redeem(self, app_id: str, code: str) -> tuple[str, Any]:
        """(REDEEMED, payload) the first time; (USED, None) after; (UNKNOWN, None) otherwise."""
        now = time.time()
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.app_id != app_id or now >= found.expires_at:
                return UNKNOWN, None
            if found.used:
                return USED, None
            found.used = True
            return REDEEMED, found.payload

    def peek(self, app_id: str, code: str) -> Any | None:
        """The payload of a live code without using it up (for reusable ids such as verify_id)."""
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.app_id != app_id or time.time() >= found.expires_at:
                return None
            return found.payload

    def _forget_expired(self, now: float) -> None:
        # A used code stays known until it expires so a second use says "used", not "invalid".
        for code in [c for c, found in self._codes.items() if found.expires_at <= now]:
            del self._codes[code]
