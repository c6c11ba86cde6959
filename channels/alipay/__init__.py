"""Alipay through python-alipay-sdk: mini-program login, certified-identity checks, notices, payments, life accounts."""

from __future__ import annotations

from typing import Any

from alipay import AliPay

from billing.gateway import PaymentGateway
from channels import ChannelBundle
from channels.alipay.chat import LifeAccountChat
from channels.alipay.client import make_alipay
from channels.alipay.identity import AlipayRealNames
from channels.alipay.login import AlipayLogin
from channels.alipay.notices import AlipayTemplateMessages
from channels.alipay.payments import AlipayPayGateway
from channels.calls import ChannelCalls
from channels.calls import PaymentCalls
from chat.accounts import Account
from config import Settings
from config.merchants import AlipayMerchant
from identity.ports import ChannelLogin
from outbound.calls import Outbound

# An app's kind: a mini-program logs residents in and sends them notices; a life account (生活号) chats.
MINI_PROGRAM, LIFE_ACCOUNT = "mini_program", "life_account"
KINDS = (MINI_PROGRAM, LIFE_ACCOUNT)


def build_alipay(settings: Settings, apps: list[dict[str, Any]], outbound: Outbound) -> ChannelBundle:
    """Adapters for each configured Alipay app; `apps` entries carry app_id, kind and key PEMs."""
    for app in apps:
        if _kind(app) not in KINDS:
            raise ValueError(f"unknown Alipay app kind {app['kind']!r} for {app['app_id']}")
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
    minis = {app["app_id"]: clients[app["app_id"]] for app in apps if _kind(app) == MINI_PROGRAM}
    lives = [app for app in apps if _kind(app) == LIFE_ACCOUNT]
    logins: dict[str, ChannelLogin] = {app_id: AlipayLogin(client, calls) for app_id, client in minis.items()}
    return ChannelBundle(
        logins=logins,
        verifier=AlipayRealNames(minis, calls),
        messengers={app_id: AlipayTemplateMessages(client, calls) for app_id, client in minis.items()},
        chats={
            app["app_id"]: LifeAccountChat(
                app["app_id"], clients[app["app_id"]], app["secrets"]["app_private_key"], calls
            )
            for app in lives
        },
        # Alipay takes no reply in the answer to its push: every reply is a message of its own.
        chat_accounts={
            app["app_id"]: Account(
                "alipay",
                app["app_id"],
                app["city"],
                language=app.get("language", "zh-CN"),
                mini_program_app_id=app.get("mini_program"),
                passive=False,
            )
            for app in lives
        },
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


def _kind(app: dict[str, Any]) -> str:
    # Entries written before life accounts existed name no kind: they are mini-programs.
    return str(app.get("kind", MINI_PROGRAM))
