"""How the emulated upstream systems admit callers: access tokens, replay guards, signatures, faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import Response
from flask import request

from sandbox.faults import FaultBoard
from sandbox.outage import answer_down

VALID = "valid"
EXPIRED = "expired"
INVALID = "invalid"

BUSY = "busy"  # the fault says: answer the system's own "system busy" error


@dataclass
class IssuedTokens:
    """Access tokens one system issues to its callers; each lives ttl_seconds, several may be live at once."""

    ttl_seconds: int
    _expiry: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, client_id: str) -> str:
        """A new token for client_id."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            # Dead tokens are kept an hour so that late callers still hear "expired", not "invalid".
            for dead in [t for t, (_, ends) in self._expiry.items() if ends < now - 3600]:
                del self._expiry[dead]
            self._expiry[token] = (client_id, now + self.ttl_seconds)
        return token

    def check(self, token: str) -> str:
        """VALID, EXPIRED or INVALID."""
        with self._lock:
            found = self._expiry.get(token)
        if found is None:
            return INVALID
        return VALID if time.time() < found[1] else EXPIRED


@dataclass
class NonceLedger:
    """Nonces seen within the signature window; a second use of one is a replay."""

    window_seconds: int
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use(self, nonce: str) -> bool:
        """Record nonce; False when it was already used inside the window."""
        now = time.time()
        with self._lock:
            for old in [n for n, at in self._seen.items() if at < now - 2 * self.window_seconds]:
                del self._seen[old]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def hmac_sha256_hex(secret: str, text: str) -> str:
    """Lower-case hex HMAC-SHA256 of the UTF-8 text, keyed with the secret's ASCII bytes."""
    return hmac.new(secret.encode("ascii"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def same_signature(expected: str, given: str) -> bool:
    """Constant-time comparison, ignoring the case of hex digits."""
    return hmac.compare_digest(expected.lower().encode(), given.lower().encode("utf-8", "replace"))


def same_secret(given: str, secret: str) -> bool:
    """Constant-time comparison of a presented secret (any JSON string, even a lone surrogate) with ours."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), secret.encode("ascii"))


def act_out_fault(faults: FaultBoard, target: str) -> Response | str | None:
    """Apply an armed fault: None to carry on, a Response to send instead ("down"), or BUSY."""
    effect = faults.take(target)
    if effect is None:
        return None
    if effect.mode == "slow":
        # Each request sleeps in its own server thread, so a slow system still serves calls in parallel.
        time.sleep(effect.delay_seconds)
        return None
    if effect.mode == "down":
        return answer_down(effect)
    return BUSY


class MalformedBody(ValueError):
    """A request body that is not one JSON object sent as application/json."""


def json_object_body() -> dict[str, Any]:
    """The request body as a JSON object, or MalformedBody saying what is wrong with it."""
    if request.mimetype != "application/json":
        raise MalformedBody("Content-Type must be application/json")
    try:
        body = json.loads(request.get_data(cache=True), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedBody("the body is not a JSON object")
    return body


def _refuse_constant(name: str) -> float:
    # Python's json reads NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not JSON")
