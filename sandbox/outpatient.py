"""The emulated outpatient systems' state, and what their HTTP fronts share.

Two systems, each with its own hospitals, ledger and protocol:
* zheyi_his (sandbox/zheyi_his.py): an IHE-scheduling-like FHIR API with an API key;
* shenzhen_health_platform (sandbox/shenzhen_health.py): a signed JSON platform.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask import request
from werkzeug.exceptions import HTTPException

from sandbox.faults import Effect
from sandbox.faults import FaultBoard
from sandbox.outbox import BEIJING
from sandbox.outpatient_catalogue import Catalogue
from sandbox.outpatient_keys import OutpatientCredentials
from sandbox.outpatient_keys import load_or_create_outpatient_credentials
from sandbox.outpatient_ledger import SlotLedger
from sandbox.outpatient_seeds import shenzhen_catalogue
from sandbox.outpatient_seeds import zheyi_catalogue

ZHEYI_HIS, SHENZHEN_HEALTH_PLATFORM = "zheyi_his", "shenzhen_health_platform"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class OutpatientSystem:
    """One hospital system: what it offers and who holds what."""

    name: str
    catalogue: Catalogue
    ledger: SlotLedger


class NonceBook:
    """Nonces seen within the last `ttl_seconds`: a signed request is refused the second time."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str) -> bool:
        """Record nonce; False when it was already used inside the window."""
        now = time.time()
        with self._lock:
            for old in [n for n, at in self._seen.items() if at <= now - self.ttl_seconds]:
                del self._seen[old]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


@dataclass(frozen=True)
class Outpatient:
    """Both outpatient systems and their credentials."""

    credentials: OutpatientCredentials
    zheyi_his: OutpatientSystem
    shenzhen_health_platform: OutpatientSystem
    shenzhen_nonces: NonceBook

    def system(self, name: str) -> OutpatientSystem | None:
        """The system with this name, if any."""
        return {ZHEYI_HIS: self.zheyi_his, SHENZHEN_HEALTH_PLATFORM: self.shenzhen_health_platform}.get(name)


def build_outpatient(state_dir: Path, hold_seconds: float, order_seconds: float, signature_window: float) -> Outpatient:
    """Load or create the credentials; seed both systems with empty ledgers."""
    return Outpatient(
        credentials=load_or_create_outpatient_credentials(state_dir),
        zheyi_his=OutpatientSystem(ZHEYI_HIS, zheyi_catalogue(), SlotLedger(hold_seconds, _appointment_id)),
        shenzhen_health_platform=OutpatientSystem(
            SHENZHEN_HEALTH_PLATFORM, shenzhen_catalogue(), SlotLedger(order_seconds, _order_no)
        ),
        # A nonce is remembered as long as its timestamp could still be accepted, and then some.
        shenzhen_nonces=NonceBook(2 * signature_window),
    )


def take_fault(faults: FaultBoard, target: str) -> Effect | None:
    """The armed fault for this call, already acted out if it is "slow"; None to carry on."""
    effect = faults.take(target)
    if effect is not None and effect.mode == "slow":
        time.sleep(effect.delay_seconds)
        return None
    return effect


def methods_elsewhere(catch_all: str) -> list[str]:
    """Methods other routes serve at this request's path (an empty list means the path is unknown)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != catch_all:
            allowed.append(method)
    return allowed


def _appointment_id() -> str:
    return "apt-" + secrets.token_hex(8)


def _order_no() -> str:
    # 20 digits, as the platform prints them: the time of the order, then a random tail.
    return datetime.now(BEIJING).strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**6):06d}"
