"""Every call to the outside world, made one way: bulkhead, breaker, timeout, retries for safe reads, one log line.

What a failure means is decided here, once:
* the upstream's final answer (`UpstreamRejected`: no such account, slot gone; or another of our
  DomainErrors an adapter maps an answer to, such as a refused login code) is a good call for the
  breaker and goes to the resident as it is;
* no usable answer (`UpstreamUnavailable` from the adapter: unreadable, unsigned, "system busy";
  or a transport failure: refused, reset, timed out, an HTTP error status) counts against the
  breaker, is retried when the call is a safe read, and reaches the caller as UpstreamUnavailable;
* anything else is a bug in our code: it propagates untouched (a 500, logged with its trace) and
  neither opens the breaker nor is retried.
"""

from __future__ import annotations

import http.client
import logging
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.error import URLError

import requests
from tenacity import RetryCallState
from tenacity import Retrying
from tenacity import retry_if_exception
from tenacity import stop_after_attempt
from tenacity import wait_exponential_jitter

from errors import DomainError
from errors import UpstreamUnavailable
from outbound.breaker import REFUSE
from outbound.breaker import TRIAL
from outbound.breaker import Breakers
from outbound.breaker import BreakerView
from outbound.bulkhead import Bulkheads
from outbound.health import CallLog
from outbound.health import CallRecord
from outbound.health import HealthFigures
from outbound.health import figures_of
from outbound.policy import CallPolicy

T = TypeVar("T")
log = logging.getLogger("citytiles.outbound")

# What the network, HTTP and the SDKs' HTTP layers raise when the far side gives no usable answer.
TRANSPORT_FAILURES: tuple[type[BaseException], ...] = (
    requests.RequestException,
    URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    ssl.SSLError,
)
# Backoff between attempts of a safe read: short, because a resident is waiting.
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 1.0
# Operators' health figures cover the last hour.
HEALTH_WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class ConnectionHealth:
    """What operators see of one connection."""

    breaker: BreakerView
    figures: HealthFigures


class Outbound:
    """The one way out: built once per process by wiring, shared by every adapter."""

    def __init__(
        self,
        breakers: Breakers,
        bulkheads: Bulkheads,
        call_log: CallLog,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.breakers = breakers
        self.bulkheads = bulkheads
        self.call_log = call_log
        self.sleep = sleep

    def call(
        self,
        connection: str,
        operation: str,
        policy: CallPolicy,
        attempt: Callable[[], T],
        *,
        safe: bool = False,
        unavailable_code: str = "upstream.unavailable",
    ) -> T:
        """Run attempt (which does the I/O with policy.timeout_seconds) under the connection's limits."""
        started = time.perf_counter()
        outcome, attempts = "ok", 0

        def one_attempt() -> T:
            nonlocal attempts
            admission = self.breakers.admit(connection, policy.reset_seconds, _trial_seconds(policy))
            if admission.verdict == REFUSE:
                raise _BreakerOpen(unavailable_code, max(1, math.ceil(admission.retry_after)))
            attempts += 1
            return self._attempt(connection, policy, attempt, unavailable_code, trial=admission.verdict == TRIAL)

        retrying = Retrying(
            retry=retry_if_exception(_worth_retrying),
            stop=stop_after_attempt(1 + (policy.read_retries if safe else 0)),
            wait=wait_exponential_jitter(
                multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS, jitter=FIRST_BACKOFF_SECONDS
            ),
            sleep=self.sleep,
            reraise=True,
            before_sleep=_note_retry(connection, operation),
        )
        try:
            with self.bulkheads.place(connection, policy.max_concurrent_calls):
                return retrying(one_attempt)
        except BaseException as error:
            outcome = _outcome_of(error)
            raise
        finally:
            log.info(
                "outbound call",
                extra={
                    "connection": connection,
                    "operation": operation,
                    "outcome": outcome,
                    "attempts": attempts,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

    def health(self, connection: str, *, window_seconds: float = HEALTH_WINDOW_SECONDS) -> ConnectionHealth:
        """The connection's breaker now and its calls' figures over the window (every worker's, with Redis)."""
        return ConnectionHealth(
            self.breakers.view(connection),
            figures_of(self.call_log.recent(connection, time.time() - window_seconds)),
        )

    def _attempt(
        self, connection: str, policy: CallPolicy, attempt: Callable[[], T], unavailable_code: str, *, trial: bool
    ) -> T:
        """One try, recorded for the breaker and the health figures."""
        started = time.perf_counter()
        try:
            result = attempt()
        except UpstreamUnavailable as error:
            self._finish(connection, started, error.code)
            self.breakers.failed(connection, policy.failure_threshold, policy.reset_seconds)
            raise
        except DomainError:
            # A final answer (UpstreamRejected, a refused login code): the far side works.
            self._finish(connection, started, "ok")
            self.breakers.succeeded(connection)
            raise
        except TRANSPORT_FAILURES as error:
            self._finish(connection, started, _transport_outcome(error))
            self.breakers.failed(connection, policy.failure_threshold, policy.reset_seconds)
            raise UpstreamUnavailable(
                unavailable_code, "The service cannot be reached right now.", retry_after=_retry_after(policy)
            ) from error
        except Exception:
            # A bug of ours: the breaker is left alone (a trial claim simply lapses), the caller sees a 500.
            log.exception("outbound call failed in our own code", extra={"connection": connection, "trial": trial})
            raise
        self._finish(connection, started, "ok")
        self.breakers.succeeded(connection)
        return result

    def _finish(self, connection: str, started: float, outcome: str) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        try:
            self.call_log.record(connection, CallRecord(time.time(), round(duration_ms, 1), outcome))
        except Exception:  # noqa: BLE001 - figures are best effort; the resident's call must not fail for them
            log.warning("could not record an outbound call", extra={"connection": connection}, exc_info=True)


class _BreakerOpen(UpstreamUnavailable):
    """Refused without calling: the connection's breaker is open."""

    def __init__(self, code: str, retry_after: int) -> None:
        super().__init__(code, "The service is unavailable right now; please try again later.", retry_after)


def _worth_retrying(error: BaseException) -> bool:
    """Only a failed attempt is retried; an open breaker, a busy bulkhead or a final answer are not."""
    return isinstance(error, UpstreamUnavailable) and not isinstance(error, _BreakerOpen)


def _trial_seconds(policy: CallPolicy) -> float:
    """How long one trial call may take before another caller may try instead."""
    return policy.timeout_seconds * 2 + 1


def _retry_after(policy: CallPolicy) -> int:
    """What to tell a caller after a failed call: about when the breaker would let a trial through."""
    return max(1, math.ceil(min(policy.reset_seconds, 30)))


def _transport_outcome(error: BaseException) -> str:
    """A short name for a transport failure, for logs and figures (never the message: it may hold a URL)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"http_{error.response.status_code}"
    if isinstance(error, requests.Timeout | TimeoutError):
        return "timeout"
    return type(error).__name__


def _outcome_of(error: BaseException) -> str:
    if isinstance(error, _BreakerOpen):
        return "breaker_open"
    if isinstance(error, DomainError):
        return error.code
    return type(error).__name__


def _note_retry(connection: str, operation: str) -> Callable[[RetryCallState], None]:
    def note(state: RetryCallState) -> None:
        log.info(
            "outbound call retried",
            extra={"connection": connection, "operation": operation, "attempt": state.attempt_number},
        )

    return note
