"""Each process's adapters, one per city × service connection, rebuilt when an operator changes the connection."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.models import UpstreamConnection
from city_services.upstream_link import UpstreamLink
from city_services.upstream_link import connection_key
from city_services.upstreams import read_connection_params
from errors import Invalid
from errors import NotFound
from errors import UpstreamUnavailable
from outbound.calls import Outbound

log = logging.getLogger("citytiles.upstreams")


class Upstreams:
    """Builds an adapter the first time a connection is used and keeps it (its HTTP pool, its token) while unchanged."""

    def __init__(self, outbound: Outbound, environ: Mapping[str, str]) -> None:
        self.outbound = outbound
        self.environ = environ
        self._lock = threading.Lock()
        self._built: dict[tuple[str, str], tuple[str, Any]] = {}

    def provider(self, session: Session, city: str, service: str) -> Any:
        """The adapter a city's service talks to now, as its package's provider port."""
        row = session.scalar(
            select(UpstreamConnection).where(
                UpstreamConnection.city_code == city, UpstreamConnection.service_code == service
            )
        )
        if row is None:
            raise NotFound(
                "catalogue.connection_not_found",
                f"City {city} has no upstream connection for {service}.",
                {"city": city, "service": service},
            )
        version = json.dumps([row.adapter, row.params], sort_keys=True, ensure_ascii=False)
        built = self._built.get((city, service))
        if built is not None and built[0] == version:
            return built[1]
        with self._lock:
            built = self._built.get((city, service))
            if built is None or built[0] != version:
                built = (version, self._build(city, service, row.adapter, row.params))
                self._built[(city, service)] = built
        return built[1]

    def _build(self, city: str, service: str, adapter: str, raw: object) -> Any:
        try:
            params = read_connection_params(service, adapter, raw)
        except Invalid as error:
            # Every writer checks the parameters; a row that still cannot be read was written around them.
            log.error("unreadable upstream connection", extra={"city": city, "service": service, "problem": error.code})
            raise UpstreamUnavailable("upstream.unavailable", "The service is not configured; try later.") from None
        link = UpstreamLink(connection_key(city, service), params.policy(), self.outbound, self.environ)
        return params.connect(link)
