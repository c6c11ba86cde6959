"""One structured line per request, with nothing personal in it."""

from __future__ import annotations

import json
import logging

import pytest

from app.request_log import JSONFormatter
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
