"""Bill files waiting to be downloaded, each behind a token of its own that stops working after a while.

A file is made when its download URL is asked for, and kept as made: the hash the channel announced
(WeChat's hash_value) must match what the merchant downloads, however much money moves in between.
A token opens one file only (for the merchant it was issued to) and can be used again until it expires,
so a download cut short can be retried.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class BillFile:
    """A made bill: its bytes as served, for whom, until when."""

    channel: str
    merchant: str
    content: bytes
    media_type: str
    file_name: str
    expires_at: float


@dataclass
class BillDownloads:
    """Issued download tokens and their files."""

    _files: dict[str, BillFile] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, file: BillFile) -> str:
        """A new token for file (URL-safe, 64 characters)."""
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._forget_expired(time.time())
            self._files[token] = file
        return token

    def fetch(self, token: str, channel: str) -> BillFile | None:
        """The file behind token, if it is a live token of channel."""
        with self._lock:
            found = self._files.get(token)
        if found is None or found.channel != channel or time.time() >= found.expires_at:
            return None
        return found

    def _forget_expired(self, now: float) -> None:
        for token in [t for t, found in self._files.items() if found.expires_at <= now]:
            del self._files[token]
