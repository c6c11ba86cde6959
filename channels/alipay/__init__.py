"""Alipay through python-alipay-sdk: mini-program login, certified-identity checks, notices and payments."""

from __future__ import annotations

from typing import Any

from alipay import AliPay

from billing.gateway import PaymentGateway
from channels import ChannelBundle
from channels.alipay.client import make_alipay
from channels.alipay.identity import AlipayRealNames
from channels.alipay.login import AlipayLogin
from channels.alipay.notices import AlipayTemplateMessages
from channels.alipay.payments import AlipayPayGateway
from channels.calls import ChannelCalls
from channels.calls import PaymentCalls
from config import Settings
from config.merchants import AlipayMerchant
from identity.ports import ChannelLogin
from outbound.calls import Outbound


def build_alipay(settings: Settings, apps: list[dict[str, Any]], outbound: Outbound) -> ChannelBundle:
    """Adapters for each configured Alipay app; `apps` entries carry app_id and key PEMs."""
    clients: dict[str, AliPay] = {
        app["app_id"]: make_alipay(
            app["app_id"],
            app["secrets"]["app_private_key"],
            app["secrets"]["alipay_public_key"],
            gateway_url=settings.channels.alipay_gateway_url,
            timeout=settings.channel_timeout_seconds,
        )
        for app in apps
    }
    calls = ChannelCalls(outbound, "alipay", settings.channel_timeout_seconds)
    logins: dict[str, ChannelLogin] = {app_id: AlipayLogin(client, calls) for app_id, client in clients.items()}
    return ChannelBundle(
        logins=logins,
        verifier=AlipayRealNames(clients, calls),
        messengers={app_id: AlipayTemplateMessages(client, calls) for app_id, client in clients.items()},
    )


def alipay_pay_gateway(settings: Settings, merchant: AlipayMerchant, outbound: Outbound) -> PaymentGateway:
    """One paying Alipay app's gateway, a connection of its own, pointed at the configured gateway."""
    timeout = settings.channel_timeout_seconds
    client = make_alipay(
        merchant.app_id,
        merchant.app_private_key,
        merchant.alipay_public_key,
        gateway_url=settings.channels.alipay_gateway_url,
        timeout=timeout,
    )
    return AlipayPayGateway(client, merchant, PaymentCalls(outbound, f"channel.alipay_pay.{merchant.app_id}", timeout))
