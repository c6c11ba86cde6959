"""The Flask delivery layer: the only package that imports Flask."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from app.background import build_tasks
from app.callback_lane import serve_callbacks_ahead
from app.catalogue_news import build_catalogue_news
from app.catalogue_pages import CataloguePages
from app.chat_services import ChatServices
from app.cli import register_cli
from app.console import init_console
from app.cookie_session import SessionCookieWhenSent
from app.db_session import get_session
from app.db_session import init_db_session
from app.errors import register_errors
from app.fulfilment import build_fee_desk
from app.fulfilment import build_reconciler
from app.fulfilment import build_sweeper
from app.fulfilment import outbox_handlers
from app.http_headers import init_http_headers
from app.request_log import configure_logging
from app.request_log import init_request_log
from app.routes import register_routes
from app.service_figures import build_tally
from app.service_figures import init_service_figures
from app.wiring import ChannelAdapters
from app.wiring import build_attempt_counter
from app.wiring import build_channel_adapters
from app.wiring import build_outbound
from app.wiring import upstream_environ
from billing.outbox import carry_out
from billing.payments import erase_payer
from chat.conversation import CHAT_ANSWER
from chat.conversation import Desk
from chat.conversation import carry_out as answer_chat_message
from chat.conversation import erase_chat
from city_services.car_move.owners import erase_car_moves
from city_services.car_move.rules import car_move_uses
from city_services.catalogue import CatalogueCache
from city_services.connections import stored_connections
from city_services.degradation import BreakerWatch
from city_services.housing_fund.service import erase_fund_lookups
from city_services.notices import Notices
from city_services.notices import erase_notice_data
from city_services.notices import read_templates
from city_services.outpatient.limits import appointment_uses
from city_services.outpatient.service import erase_appointments
from city_services.seeding import read_seed
from city_services.upstream_pool import Upstreams
from city_services.upstreams import ConnectionSetting
from city_services.upstreams import production_problems as connection_problems
from config import Settings
from config import UnsafeConfiguration
from database.engine import make_engine
from database.engine import make_session_factory
from identity.allowances import Allowances
from identity.vault import Vault


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def stored_connections_if_readable(engine: Engine) -> list[ConnectionSetting]:
    """After seeding the database is the truth, so production checks what operators stored too."""
    try:
        with make_session_factory(engine)() as session:
            return stored_connections(session)
    except SQLAlchemyError as error:
        # Not migrated yet, or unreachable: /readyz reports it, and `flask migrate` must still start.
        logging.getLogger("citytiles").warning("stored upstream connections not checked: %s", type(error).__name__)
        return []


def connections_in_force(settings: Settings, engine: Engine) -> list[ConnectionSetting]:
    """The stored connections, and the seed's for city × services not stored yet (seeding never overwrites)."""
    stored = stored_connections_if_readable(engine)
    in_force = {(c.city, c.service) for c in stored}
    seeded = read_seed(settings.catalogue_seed).connections
    return [c for c in seeded if (c.city, c.service) not in in_force] + stored


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    channels: ChannelAdapters | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the application from settings; refuse unsafe production configuration.

    :param channels: ready-made channel adapters (tests pass fakes); built from settings otherwise.
    :param environ: where upstream adapters read the secrets their connections name; the process
        environment unless given.
    """
    environ = environ if environ is not None else os.environ
    settings = settings or Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    serve_callbacks_ahead(app)  # inside ProxyFix: what the lane hands Flask has the client's real address
    if settings.trusted_proxy_hops:
        # Behind proxies, the client is what the trusted hops say; without any, X-Forwarded-For
        # is the client's own claim and ignored, or anyone could pick the address they are counted as.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.session_interface = SessionCookieWhenSent()
    outbound = build_outbound(settings)
    channels = channels if channels is not None else build_channel_adapters(settings, outbound)
    engine = make_engine(settings.database_url)
    if settings.is_production:
        connections = connection_problems(connections_in_force(settings, engine), environ)
        problems = settings.production_problems() + connections + list(channels.problems)
        if problems:
            engine.dispose()
            raise UnsafeConfiguration(problems)
    # In development a missing secret leaves that app out rather than stopping flask commands.
    for problem in channels.problems:
        logging.getLogger("citytiles.channels").warning("channel app left out: %s", problem)
    session_factory = make_session_factory(engine)
    notices = Notices(channels.messengers, read_templates(settings.notice_templates_file))
    breaker_watch = BreakerWatch(outbound.breakers)
    # A breaker this process opens or closes shows on its tiles at once; other workers' within a second.
    outbound.breakers.on_change = breaker_watch.heard
    catalogue_news = build_catalogue_news(settings, engine, session_factory)
    vault = Vault.from_settings(settings.pii_keys, settings.pii_active_key, settings.pii_lookup_key)
    allowances = Allowances(vault, carriers=(car_move_uses, appointment_uses))
    upstreams = Upstreams(outbound, upstream_environ(settings, environ))
    fee_desk = build_fee_desk(channels, upstreams, notices, settings.public_url, clock)
    reconciler = build_reconciler(channels, fee_desk)
    handlers = outbox_handlers(fee_desk, reconciler)

    def carry_out_due() -> int:
        with session_factory() as session:
            return carry_out(session, handlers, clock)

    tasks = build_tasks(settings, carry_out_due)
    chat_desk = Desk(
        accounts=channels.chat_accounts,
        channels=channels.chats,
        services=ChatServices(app, lambda: app.extensions["catalogue_cache"].snapshot(get_session)),
        vault=vault,
        clock=clock,
    )

    def answer_chat(session: Session, ref: str) -> None:
        # The use-cases read the app's catalogue, upstreams and notices: inside its context.
        with app.app_context():
            answer_chat_message(session, chat_desk, ref)

    handlers[CHAT_ANSWER] = answer_chat
    app.extensions.update(
        settings=settings,
        environ=environ,
        engine=engine,
        session_factory=session_factory,
        clock=clock,
        catalogue_news=catalogue_news,
        catalogue_cache=CatalogueCache(catalogue_news),
        catalogue_pages=CataloguePages(),
        vault=vault,
        allowances=allowances,
        channels=channels,
        outbound=outbound,
        upstreams=upstreams,
        fee_desk=fee_desk,
        sweeper=build_sweeper(fee_desk),
        outbox_handlers=handlers,
        reconciler=reconciler,
        tasks=tasks,
        chat_desk=chat_desk,
        breaker_watch=breaker_watch,
        # Each package's erase function for a person's data. What still counts against the person's limits
        # is kept first, while their requests, appointments and channel accounts can still be read.
        erasers=(
            allowances.carry_over,
            erase_notice_data,
            erase_fund_lookups,
            erase_car_moves,
            erase_appointments,
            erase_payer,
            erase_chat,
        ),
        notice_templates=notices.templates,
        notices=notices,
        attempts=build_attempt_counter(settings, engine),
        tally=build_tally(engine, session_factory),
    )
    init_db_session(app)
    init_request_log(app)
    init_service_figures(app)
    init_http_headers(app)
    register_errors(app)
    register_routes(app)
    init_console(app, settings)
    register_cli(app)
    return app
