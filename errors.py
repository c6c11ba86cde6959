"""Errors the business packages raise; each carries a stable code and a kind, never an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A failure a caller can act on, identified by a stable dotted code."""

    kind = "invalid"

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    """The thing asked for does not exist, or the caller may not know that it does."""

    kind = "not_found"


class Invalid(DomainError):
    """The request is well-formed but its content breaks a business rule."""

    kind = "invalid"


class Conflict(DomainError):
    """The request conflicts with the current state of the thing it names."""

    kind = "conflict"


class Unauthenticated(DomainError):
    """The caller did not prove who it is, or its proof is no longer valid."""

    kind = "unauthenticated"


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    kind = "forbidden"


class TooManyRequests(DomainError):
    """The caller must slow down; retry_after says for how long, in seconds."""

    kind = "too_many_requests"

    def __init__(self, code: str, message: str, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, details)
        self.retry_after = retry_after


class UpstreamUnavailable(DomainError):
    """An upstream or channel could not be reached; the same call may succeed later."""

    kind = "unavailable"

    def __init__(self, code: str, message: str, retry_after: int = 30, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, details)
        self.retry_after = retry_after


class UpstreamRejected(DomainError):
    """An upstream answered, and its answer is final: the resident must change something, not retry.

    The kind says which: "not_found" (no such account or slot), "conflict" (the slot is gone, the
    account is sealed) or "invalid" (the upstream refuses what was asked, e.g. a name mismatch).
    """

    def __init__(self, code: str, message: str, kind: str = "invalid", details: dict[str, Any] | None = None) -> None:
        if kind not in REJECTION_KINDS:
            raise ValueError(f"an upstream rejection is one of {REJECTION_KINDS}, not {kind!r}")
        super().__init__(code, message, details)
        self.kind = kind


REJECTION_KINDS = ("not_found", "conflict", "invalid")
