"""WeChat through wechatpy: mini-program and official-account login, phone numbers, real-name checks."""
from __future__ import annotations

from typing import Any

from channels import ChannelBundle
from channels.wechat.client import StableTokenClient
from channels.wechat.client import token_storage
from channels.wechat.identity import WeChatPhoneNumbers
from channels.wechat.identity import WeChatRealNames
from channels.wechat.login import MiniProgramLogin
from channels.wechat.login import OfficialAccountLogin
from config import Settings
from identity.ports import ChannelLogin


def build_wechat(settings: Settings, apps: list[dict[str, Any]]) -> ChannelBundle:
    """Adapters for each configured WeChat app; `apps` entries carry app_id, kind and secrets."""
    storage = token_storage(settings.redis_url)
    base_url = settings.channels.wechat_api_base_url
    timeout = settings.channel_timeout_seconds
    clients = {
        app["app_id"]: StableTokenClient(
            app["app_id"], app["secrets"]["secret"], base_url=base_url, storage=storage, timeout=timeout
        )
        for app in apps
    }
    logins: dict[str, ChannelLogin] = {}
    phones = None
    for app in apps:
        if app["kind"] == "mini_program":
            logins[app["app_id"]] = MiniProgramLogin(clients[app["app_id"]])
            phones = phones or WeChatPhoneNumbers(clients[app["app_id"]])
        elif app["kind"] == "official_account":
            logins[app["app_id"]] = OfficialAccountLogin(
                app["app_id"], app["secrets"]["secret"], base_url=base_url, timeout=timeout
            )
        else:
            raise ValueError(f"unknown WeChat app kind {app['kind']!r} for {app['app_id']}")
    return ChannelBundle(logins=logins, verifier=WeChatRealNames(clients), phones=phones)
