"""What every business package shares about storage: the model base, sessions, one commit point."""

from __future__ import annotations

from database.base import Base
from database.transaction import end_reads
from database.transaction import transaction

__all__ = ["Base", "end_reads", "transaction"]
