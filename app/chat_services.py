"""The use-cases chat reaches, as the resident API reaches them: the tile gate, the adapter, the figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from city_services.car_move import service as car_move
from city_services.car_move.service import NewRequest
from city_services.catalogue import CatalogueSnapshot
from city_services.housing_fund import provider as fund
from city_services.housing_fund.service import LookupRequest
from city_services.housing_fund.service import look_up
from city_services.service_gate import open_service
from errors import DomainError
from errors import NotFound
from identity.models import Resident


class ChatServices:
    """CityServices over this app's catalogue, upstreams, vault and notices; used inside its app context."""

    def __init__(self, app: Flask, catalogue: Callable[[], CatalogueSnapshot]) -> None:
        self.app = app
        self.catalogue = catalogue

    def fund_account(self, session: Session, resident: Resident, city: str, channel: str) -> Any:
        """The account lookup, recorded in the resident's data-access log like the API's."""
        extensions = self.app.extensions

        def lookup(provider: Any) -> Any:
            return look_up(
                session,
                resident,
                LookupRequest(city, fund.ACCOUNT, channel),
                provider=provider,
                vault=extensions["vault"],
                now=extensions["clock"](),
                keep_for=timedelta(seconds=extensions["settings"].housing_fund_cache_seconds),
            )

        return self._call(session, city, "housing_fund", channel, lookup)

    def ask_to_move(
        self,
        session: Session,
        resident: Resident,
        city: str,
        channel: str,
        plate: str,
        latitude: float,
        longitude: float,
    ) -> Any:
        """A car-move request under the API's quotas; the owner is told as the API tells them."""
        from app.routes.car_move import owner_notifier

        extensions = self.app.extensions

        def ask(provider: Any) -> Any:
            return car_move.ask_to_move(
                session,
                provider,
                extensions["vault"],
                resident,
                city,
                NewRequest(plate=plate, lat=latitude, lng=longitude),
                notify_owner=owner_notifier(),
                now=extensions["clock"](),
                channel=channel,
            )

        return self._call(session, city, "car_move", channel, ask)

    def _call(self, session: Session, city: str, service: str, channel: str, use: Callable[[Any], Any]) -> Any:
        """Through the tile gate for the channel, then the use-case; counted in the city's figures."""
        extensions = self.app.extensions
        started = time.perf_counter()
        succeeded = False
        try:
            open_service(self.catalogue(), city, service, channel, extensions["clock"]())
        except NotFound:
            raise
        except DomainError:
            self._count(city, service, channel, started, succeeded)
            raise
        try:
            provider = extensions["upstreams"].provider(session, city, service)
            answer = use(provider)
            succeeded = True
            return answer
        finally:
            self._count(city, service, channel, started, succeeded)

    def _count(self, city: str, service: str, channel: str, started: float, succeeded: bool) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.app.extensions["tally"].count_request(
            city, service, channel, self.app.extensions["clock"](), elapsed_ms, succeeded
        )
