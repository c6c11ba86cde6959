"""One structured log line per request, with a request id that errors quote back."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import secrets
import sys
import threading
import time
from typing import Any
from typing import TextIO

from flask import Flask
from flask import Response
from flask import g
from flask import request

from identity.masking import redact

log = logging.getLogger("citytiles.requests")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
# Every ID or mobile number redact() masks is a run of at least 11 digits: a line without one is left as it is.
_MAY_HOLD_NUMBERS = re.compile(r"\d{11}")
_STANDARD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
# How long the writer lets lines gather after the first of a batch.
GATHER_SECONDS = 0.02


class JSONFormatter(logging.Formatter):
    """Format a record as one JSON object, including the structured fields passed as `extra`."""

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        entry: dict[str, Any] = {
            "at": self._formatted_second(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Defence in depth: whatever slipped into a message, ID and mobile numbers leave masked.
        line = _ENCODER.encode(entry)
        return redact(line) if _MAY_HOLD_NUMBERS.search(line) else line

    def _formatted_second(self, record: logging.LogRecord) -> str:
        # Every line of one second shares its time stamp: format it once (a request log writes thousands).
        second, text = self._second
        if int(record.created) != second:
            text = self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
            self._second = (int(record.created), text)
        return text


class BatchedLineHandler(logging.Handler):
    """Formats in the caller's thread; one writer thread writes what has queued up, in one write.

    A write and flush per request, under the handler's lock, made every request thread queue for a
    system call; batching keeps the lines whole and in order at a fraction of the calls.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.writer: threading.Thread | None = None
        self.started = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line; start the writer on first use (never at import, and after a fork)."""
        try:
            self.lines.put(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never fail the request
            self.handleError(record)
            return
        if self.writer is None or not self.writer.is_alive():
            with self.started:
                if self.writer is None or not self.writer.is_alive():
                    self.writer = threading.Thread(target=self._write, name="citytiles-log-writer", daemon=True)
                    self.writer.start()
                    atexit.register(self.drain)

    def _write(self) -> None:
        while True:
            batch = [self.lines.get()]
            # Let a busy second's lines gather: a writer woken by every line cost each request a
            # thread switch (a seventh of a payment callback's CPU), while 20 ms late costs nothing.
            time.sleep(GATHER_SECONDS)
            while len(batch) < 1000:
                try:
                    batch.append(self.lines.get_nowait())
                except queue.Empty:
                    break
            self._put(batch)

    def _put(self, batch: list[str | None]) -> None:
        try:
            self.stream.write("".join(line for line in batch if line))
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr at shutdown: nothing left to tell

    def drain(self) -> None:
        """Write whatever is still queued (at exit, and for tests that read the stream)."""
        batch: list[str | None] = []
        while True:
            try:
                batch.append(self.lines.get_nowait())
            except queue.Empty:
                break
        self._put(batch)


def configure_logging(level: str) -> None:
    """Send citytiles' logs to stderr as JSON lines."""
    logger = logging.getLogger("citytiles")
    if not any(isinstance(h.formatter, JSONFormatter) for h in logger.handlers):
        handler = BatchedLineHandler(sys.stderr)
        handler.setFormatter(JSONFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def request_id_for(incoming: str) -> str:
    """The caller's request id if it is safe to echo, else a new one."""
    return incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)


def log_request(
    request_id: str | None, method: str, path: str, endpoint: str | None, status: int, started: float
) -> None:
    """The one line a request leaves: who asked for what, what came of it, how long it took."""
    if not log.isEnabledFor(logging.INFO):
        return
    # The path only: query strings may carry personal data and never reach the log.
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "endpoint": endpoint,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    # log.info() would first walk the stack for a file and line the JSON line never shows: a
    # quarter of the logging cost on the most-hit endpoint, so the record is made directly.
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None, extra=fields))


def init_request_log(app: Flask) -> None:
    """Stamp each request with an id and log its outcome when it ends."""

    @app.before_request
    def start_request() -> None:
        """Take the caller's request id if it is safe to echo, else make one; start the clock."""
        g.request_id = request_id_for(request.headers.get("X-Request-Id", ""))
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        """Return the request id and log the outcome."""
        response.headers["X-Request-Id"] = g.get("request_id", "")
        log_request(
            g.get("request_id"),
            request.method,
            request.path,
            request.endpoint,
            response.status_code,
            g.get("started", time.perf_counter()),
        )
        return response
