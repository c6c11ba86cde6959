"""One structured line per request, with nothing personal in it."""

from __future__ import annotations

import json
import logging

import pytest

from app.request_log import _MAY_HOLD_NUMBERS
from app.request_log import JSONFormatter
from identity.masking import redact
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")


def test_one_json_line_per_request_without_the_query_string(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="citytiles.requests")
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        api.get("/api/v1/cities/330100/services?channel=wechat", headers={"X-Request-Id": "trace-0001"})
        api.get("/api/v1/cities/999999/services?channel=wechat", expected=404)
        api.get("/api/v1/cities/330100/services?channel=wechat&phone=13812345678", expected=422)
    finally:
        logger.removeHandler(caplog.handler)
    records = [r for r in caplog.records if r.name == "citytiles.requests"]
    assert len(records) == 3
    first = json.loads(JSONFormatter().format(records[0]))
    assert first["request_id"] == "trace-0001"
    assert first["method"] == "GET" and first["path"] == "/api/v1/cities/330100/services" and first["status"] == 200
    assert isinstance(first["duration_ms"], float)
    assert json.loads(JSONFormatter().format(records[1]))["status"] == 404
    assert "13812345678" not in caplog.text


def test_formatter_masks_id_and_mobile_numbers_that_slip_into_a_message() -> None:
    record = logging.LogRecord(
        "citytiles", logging.INFO, __file__, 1, "bound 11010519491231002X to 13812345678", (), None
    )
    line = JSONFormatter().format(record)
    assert "1101**********002X" in line and "138****5678" in line
    assert "11010519491231002X" not in line and "13812345678" not in line


def test_lines_the_formatter_skips_are_lines_redact_would_leave_alone() -> None:
    # The formatter skips redact() for lines without an 11-digit run; if redact ever masks numbers
    # written with separators, this fails and the shortcut in app/request_log.py must change with it.
    numbers = ["11010519491231002X", "110105491231002", "13812345678", "19912345678"]
    for number in numbers:
        for separator in ("", " ", "-", "."):
            for cut in range(1, len(number)):
                written = number[:cut] + separator + number[cut:]
                line = f'{{"message": "seen {written} here", "path": "/api/v1/cities/330100/services"}}'
                assert redact(line) == line or _MAY_HOLD_NUMBERS.search(line), written


def test_batched_lines_arrive_whole_and_in_order_from_many_threads() -> None:
    import io
    import logging
    import threading
    import time

    from app.request_log import BatchedLineHandler

    stream = io.StringIO()
    handler = BatchedLineHandler(stream)
    handler.setFormatter(logging.Formatter("%(threadName)s %(message)s"))
    logger = logging.getLogger("citytiles.test.batched")
    logger.addHandler(handler)
    logger.propagate = False

    def write(name: str) -> None:
        for index in range(300):
            logger.warning("line %05d", index)

    threads = [threading.Thread(target=write, args=(str(n),), name=f"t{n}") for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 1800 and time.monotonic() < deadline:
        time.sleep(0.01)
    handler.drain()
    logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1800
    for name in (f"t{n}" for n in range(6)):
        mine = [line.split()[-1] for line in lines if line.startswith(name + " ")]
        assert mine == [f"{index:05d}" for index in range(300)]  # whole lines, each thread's in order
