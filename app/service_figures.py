"""Counting resident service calls for the cities' figures: which ones count, and what counts as success.

A request is a call by a signed-in resident that reached a tile the city offers on their channel
(app/service_calls.py notes it), whether the tile gate let it through or turned it away (maintenance,
off hours). It succeeded when the answer was 2xx; any 4xx or 5xx, the resident's mistake or ours or
the upstream's, is a request that did not. Latency is the whole request, as the request log times it.
"""

from __future__ import annotations

import time

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from city_services.figures.tally import Tally


def build_tally(engine: Engine, sessions: sessionmaker[Session]) -> Tally:
    """The process's tally of figures, writing through the app's sessions; it ends when the engine does."""
    tally = Tally(sessions)
    event.listen(engine, "engine_disposed", lambda _: tally.close())
    return tally


def note_service_call(city: str, service: str, channel: str) -> None:
    """Mark this request as a call of the city's service, counted when its answer is known."""
    g.service_call = (city, service, channel)


def init_service_figures(app: Flask) -> None:
    """Count each noted service call once its response is ready."""

    @app.after_request
    def count_service_call(response: Response) -> Response:
        """Add the call, its outcome and its duration to the tally."""
        call = g.get("service_call")
        if call is not None:
            now = time.perf_counter()
            elapsed_ms = (now - g.get("started", now)) * 1000
            city, service, channel = call
            succeeded = 200 <= response.status_code < 300
            current_app.extensions["tally"].count_request(
                city, service, channel, current_app.extensions["clock"](), elapsed_ms, succeeded
            )
        return response
