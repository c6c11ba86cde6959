"""WeChat through wechatpy (logins, phone numbers, real-name checks, notices) and wechatpayv3 (payments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing.gateway import PaymentGateway
from channels import ChannelBundle
from channels.calls import ChannelCalls
from channels.calls import PaymentCalls
from channels.wechat.chat import OfficialAccountChat
from channels.wechat.client import StableTokenClient
from channels.wechat.client import token_storage
from channels.wechat.identity import WeChatPhoneNumbers
from channels.wechat.identity import WeChatRealNames
from channels.wechat.login import MiniProgramLogin
from channels.wechat.login import OfficialAccountLogin
from channels.wechat.notices import WeChatSubscribeMessages
from channels.wechat.payments import WeChatPayGateway
from channels.wechat.payments import make_wechat_pay
from chat.accounts import Account
from config import Settings
from config.merchants import WeChatPayMerchant
from identity.ports import ChannelLogin
from outbound.calls import Outbound

# App kind -> how its login is built from the app entry, its client and the settings.
LOGIN_KINDS: dict[str, Callable[[dict[str, Any], StableTokenClient, Settings, ChannelCalls], ChannelLogin]] = {
    "mini_program": lambda app, client, settings, calls: MiniProgramLogin(client, calls),
    "official_account": lambda app, client, settings, calls: OfficialAccountLogin(
        app["app_id"],
        app["secrets"]["secret"],
        base_url=settings.channels.wechat_api_base_url,
        timeout=settings.channel_timeout_seconds,
        calls=calls,
        followers=client,
    ),
}


def build_wechat(settings: Settings, apps: list[dict[str, Any]], outbound: Outbound) -> ChannelBundle:
    """Adapters for each configured WeChat app; `apps` entries carry app_id, kind and secrets."""
    storage = token_storage(settings.redis_url)
    calls = ChannelCalls(outbound, "wechat", settings.channel_timeout_seconds)
    clients = {
        app["app_id"]: StableTokenClient(
            app["app_id"],
            app["secrets"]["secret"],
            base_url=settings.channels.wechat_api_base_url,
            storage=storage,
            timeout=settings.channel_timeout_seconds,
        )
        for app in apps
    }
    for app in apps:
        if app["kind"] not in LOGIN_KINDS:
            raise ValueError(f"unknown WeChat app kind {app['kind']!r} for {app['app_id']}")
    return ChannelBundle(
        logins={app["app_id"]: LOGIN_KINDS[app["kind"]](app, clients[app["app_id"]], settings, calls) for app in apps},
        verifier=WeChatRealNames(clients, calls),
        # Only mini-programs have the getPhoneNumber button; each exchanges its own codes.
        phones={
            app["app_id"]: WeChatPhoneNumbers(clients[app["app_id"]], calls)
            for app in apps
            if app["kind"] == "mini_program"
        },
        # Subscribe messages are a mini-program's; an official account has no such templates.
        messengers={
            app["app_id"]: WeChatSubscribeMessages(clients[app["app_id"]], calls)
            for app in apps
            if app["kind"] == "mini_program"
        },
        # An official account chats once it has its server token and message key.
        chats={
            app["app_id"]: OfficialAccountChat(
                app["app_id"],
                app["original_id"],
                app["secrets"]["token"],
                app["secrets"]["encoding_aes_key"],
                clients[app["app_id"]],
                calls,
            )
            for app in apps
            if "token" in app["secrets"]
        },
        chat_accounts={
            app["app_id"]: Account(
                "wechat",
                app["app_id"],
                app["city"],
                language=app.get("language", "zh-CN"),
                mini_program_app_id=app.get("mini_program"),
            )
            for app in apps
            if "token" in app["secrets"]
        },
    )


def wechat_pay_gateway(settings: Settings, merchant: WeChatPayMerchant, outbound: Outbound) -> PaymentGateway:
    """One WeChat Pay merchant's gateway, a connection of its own, pointed at the configured WeChat Pay base URL."""
    timeout = settings.channel_timeout_seconds
    client = make_wechat_pay(merchant, base_url=settings.channels.wechat_pay_base_url, timeout=timeout)
    return WeChatPayGateway(client, merchant, PaymentCalls(outbound, f"channel.wechat_pay.{merchant.mch_id}", timeout))
