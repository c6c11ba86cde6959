"""Who holds which slot: holds that expire by themselves, bookings, cancellations. Never oversells.

One lock guards the whole ledger, so counting a slot's places and taking one are a single step
however many request threads hold at once. Expiry is settled under the same lock before every
read or change, which makes an expired hold give its place back without any background thread.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace

from sandbox.outpatient_catalogue import Slot
from sandbox.outpatient_catalogue import beijing_time

HELD, BOOKED, CANCELLED, EXPIRED = "held", "booked", "cancelled", "expired"
ACTIVE = (HELD, BOOKED)

# Why the ledger refused; each system words these in its own error format.
SLOT_UNAVAILABLE = "slot_unavailable"  # no place left, or the slot has started
DUPLICATE = "duplicate"  # the patient already holds a place in this department that day
NOT_FOUND = "not_found"
HOLD_EXPIRED = "hold_expired"
HOLD_CANCELLED = "hold_cancelled"
REFERENCE_TAKEN = "reference_taken"  # the caller's reference names another slot or patient


class LedgerRefusal(Exception):
    """The ledger cannot do what was asked; reason is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Hold:
    """One patient's place on one slot, from the hold to its end."""

    hold_id: str
    slot: Slot
    patient: str  # a digest of the ID number: enough to spot duplicates, nothing to leak
    state: str
    created_at: float
    expires_at: float | None  # the deadline of a hold (kept after it is settled); None if booked at once
    closed_at: float | None = None  # when it was booked, cancelled or expired
    reference: str | None = None  # the caller's own order number, for retries

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API (no patient data)."""
        return {
            "id": self.hold_id,
            "state": self.state,
            "reference": self.reference,
            "created_at": beijing_time(self.created_at),
            "expires_at": beijing_time(self.expires_at),
            "closed_at": beijing_time(self.closed_at),
        }


def patient_digest(id_number: str) -> str:
    """What the ledger keeps of a patient: a one-way digest of the ID number."""
    return hashlib.sha256(("outpatient:" + id_number).encode()).hexdigest()


class SlotLedger:
    """Every hold of one system."""

    def __init__(self, hold_seconds: float, new_id: Callable[[], str]) -> None:
        self.hold_seconds = hold_seconds
        self._new_id = new_id
        self._holds: dict[str, Hold] = {}
        self._by_slot: dict[str, list[Hold]] = {}
        self._by_reference: dict[str, Hold] = {}
        self._by_patient: dict[str, list[Hold]] = {}
        self._pending: set[str] = set()  # ids of HELD holds, the only ones that can expire
        self._lock = threading.Lock()

    def hold(self, slot: Slot, patient: str, reference: str | None = None, settled: bool = False) -> Hold:
        """Take a place on slot for patient: HELD until the hold expires, or BOOKED at once if settled."""
        now = time.time()
        with self._lock:
            self._expire(now)
            if reference is not None and reference in self._by_reference:
                earlier = self._by_reference[reference]
                if earlier.slot.slot_id != slot.slot_id or earlier.patient != patient:
                    raise LedgerRefusal(REFERENCE_TAKEN)
                return replace(earlier)  # a retry of the same request
            if slot.start.timestamp() <= now or self._taken(slot.slot_id) >= slot.capacity:
                raise LedgerRefusal(SLOT_UNAVAILABLE)
            if self._same_visit(slot, patient):
                raise LedgerRefusal(DUPLICATE)
            hold_id = self._new_id()
            while hold_id in self._holds:
                hold_id = self._new_id()
            if settled:
                hold = Hold(hold_id, slot, patient, BOOKED, now, None, now, reference)
            else:
                hold = Hold(hold_id, slot, patient, HELD, now, now + self.hold_seconds, None, reference)
            self._holds[hold_id] = hold
            self._by_slot.setdefault(slot.slot_id, []).append(hold)
            self._by_patient.setdefault(patient, []).append(hold)
            if not settled:
                self._pending.add(hold_id)
            if reference is not None:
                self._by_reference[reference] = hold
            return replace(hold)

    def book(self, hold_id: str) -> Hold:
        """Turn a hold into a booking; booking a booking again changes nothing."""
        with self._lock:
            hold = self._find(hold_id)
            if hold.state == CANCELLED:
                raise LedgerRefusal(HOLD_CANCELLED)
            if hold.state == HELD:
                hold.state, hold.closed_at = BOOKED, time.time()
                self._pending.discard(hold_id)
            return replace(hold)

    def cancel(self, hold_id: str) -> Hold:
        """Give a held or booked place back; cancelling twice changes nothing."""
        with self._lock:
            hold = self._find(hold_id)
            if hold.state in ACTIVE:
                hold.state, hold.closed_at = CANCELLED, time.time()
                self._pending.discard(hold_id)
            return replace(hold)

    def look_up(self, hold_id: str) -> Hold:
        """The hold as it stands now."""
        with self._lock:
            self._expire(time.time())
            hold = self._holds.get(hold_id)
            if hold is None:
                raise LedgerRefusal(NOT_FOUND)
            return replace(hold)

    def remaining(self, slot: Slot) -> int:
        """Places left on slot."""
        with self._lock:
            self._expire(time.time())
            return max(slot.capacity - self._taken(slot.slot_id), 0)

    def holds_on(self, slot_id: str) -> list[Hold]:
        """Every hold ever taken on slot_id, oldest first."""
        with self._lock:
            self._expire(time.time())
            return [replace(hold) for hold in self._by_slot.get(slot_id, [])]

    def clear(self) -> None:
        """Forget every hold, giving every place back."""
        with self._lock:
            self._holds.clear()
            self._by_slot.clear()
            self._by_reference.clear()
            self._by_patient.clear()
            self._pending.clear()

    def _find(self, hold_id: str) -> Hold:
        """The hold for a change: refused when unknown or expired."""
        self._expire(time.time())
        hold = self._holds.get(hold_id)
        if hold is None:
            raise LedgerRefusal(NOT_FOUND)
        if hold.state == EXPIRED:
            raise LedgerRefusal(HOLD_EXPIRED)
        return hold

    def _taken(self, slot_id: str) -> int:
        return sum(1 for hold in self._by_slot.get(slot_id, []) if hold.state in ACTIVE)

    def _same_visit(self, slot: Slot, patient: str) -> bool:
        # 同一就诊人同一科室同一天只能预约一次: one active place per patient, department and day.
        return any(
            hold.state in ACTIVE
            and hold.slot.hospital.code == slot.hospital.code
            and hold.slot.department.code == slot.department.code
            and hold.slot.start.date() == slot.start.date()
            for hold in self._by_patient.get(patient, [])
        )

    def _expire(self, now: float) -> None:
        for hold_id in [h for h in self._pending if (self._holds[h].expires_at or 0) <= now]:
            hold = self._holds[hold_id]
            hold.state, hold.closed_at = EXPIRED, hold.expires_at
            self._pending.discard(hold_id)
