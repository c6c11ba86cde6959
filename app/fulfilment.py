"""What a paid payment fulfils, by purpose (billing never imports the services), and the outbox's handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.wiring import ChannelAdapters
from billing.gateway import PaymentGateway
from billing.models import Payment
from billing.notifications import FULFIL
from billing.outbox import Handler
from billing.reconciliation.runs import RECONCILE
from billing.reconciliation.runs import Reconciler
from billing.reconciliation.runs import carry_out_task
from billing.sweeps import Sweeper
from city_services.notices import Notices
from city_services.outpatient.fees import FeeDesk
from city_services.outpatient.fees import fee_tasks
from city_services.outpatient.fees import fulfil_paid_fee
from city_services.outpatient.fulfilment import not_booked
from city_services.upstream_pool import Upstreams
from errors import UpstreamUnavailable

CALLBACK_PATHS = {"wechat": "wechat-pay", "alipay": "alipay"}


def notify_url(public_url: str, gateway: PaymentGateway) -> str:
    """Where a merchant's channel sends its notifications."""
    return f"{public_url}/callbacks/{CALLBACK_PATHS[gateway.channel]}/{gateway.merchant_id}"


def build_fee_desk(
    channels: ChannelAdapters, upstreams: Upstreams, notices: Notices, public_url: str, clock: Callable[[], datetime]
) -> FeeDesk:
    """The outpatient saga's view of the outside world."""

    def gateway_for(payment: Payment) -> PaymentGateway:
        gateway = channels.merchant(payment.channel, payment.merchant_id)
        if gateway is None:
            # The merchant was removed from the configuration: retry until it is back, never drop the money.
            raise UpstreamUnavailable("billing.channel_unavailable", "The payment's merchant is not configured.")
        return gateway

    return FeeDesk(
        provider_for=lambda session, city: upstreams.provider(session, city, "outpatient"),
        gateway_for=gateway_for,
        notify_url_for=lambda gateway: notify_url(public_url, gateway),
        notices=notices,
        clock=clock,
    )


def build_sweeper(desk: FeeDesk) -> Sweeper:
    """The payment sweeps' view of the outside world: the same merchants and callback URLs as the saga's."""
    return Sweeper(gateway_for=desk.gateway_for, notify_url_for=desk.notify_url_for, clock=desk.clock)


def build_reconciler(channels: ChannelAdapters, desk: FeeDesk) -> Reconciler:
    """Reconciliation's view of the outside world: every configured merchant, and the hospitals' records."""

    def gateway_for(channel: str, merchant_id: str) -> PaymentGateway:
        gateway = channels.merchant(channel, merchant_id)
        if gateway is None:
            raise UpstreamUnavailable("billing.channel_unavailable", "The merchant is not configured.")
        return gateway

    def merchants() -> list[tuple[str, str]]:
        return sorted({(gateway.channel, gateway.merchant_id) for gateway in channels.payments.values()})

    return Reconciler(
        gateway_for=gateway_for,
        merchants=merchants,
        clock=desk.clock,
        # What each purpose's delivery is checked against (billing never imports the services).
        checks={"outpatient": lambda session, paid: not_booked(session, desk.provider_for, paid)},
    )


def outbox_handlers(desk: FeeDesk, reconciler: Reconciler) -> dict[str, Handler]:
    """Each outbox task kind's handler; a paid payment goes to its purpose's fulfilment."""
    fulfilments: dict[str, Callable[[Session, FeeDesk, str], None]] = {"outpatient": fulfil_paid_fee}

    def fulfil(session: Session, out_trade_no: str) -> None:
        purpose = session.scalar(select(Payment.purpose).where(Payment.out_trade_no == out_trade_no))
        if purpose in fulfilments:
            fulfilments[purpose](session, desk, out_trade_no)

    return {
        FULFIL: fulfil,
        RECONCILE: lambda session, ref: carry_out_task(session, reconciler, ref),
        **fee_tasks(desk),
    }
