"""Builds the adapters citytiles talks to the outside world through; the only importer of channels/."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from billing.gateway import PaymentGateway
from chat.accounts import Account
from chat.ports import ChatChannel
from city_services.notices import Messenger
from config import Settings
from config.merchants import AlipayMerchant
from config.merchants import MerchantProblem
from config.merchants import WeChatPayMerchant
from config.settings import PROJECT_ROOT
from identity.attempt_counts import DatabaseAttempts
from identity.attempts import AttemptCounter
from identity.attempts import counter_secret
from identity.ports import ChannelLogin
from identity.ports import PhoneNumbers
from identity.ports import RealNameVerifier
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MemoryCallLog


@dataclass(frozen=True)
class ChannelAdapters:
    """Logins and phone sources per app id, real-name verifiers per channel, payment gateways per app id.

    :param problems: apps and merchants left out because their secrets could not be read, one line each.
    """

    logins: dict[str, ChannelLogin] = field(default_factory=dict)
    verifiers: dict[str, RealNameVerifier] = field(default_factory=dict)
    phones: dict[str, PhoneNumbers] = field(default_factory=dict)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    # Official and life accounts: the adapter each chats through, and what each serves.
    chats: dict[str, ChatChannel] = field(default_factory=dict)
    chat_accounts: dict[str, Account] = field(default_factory=dict)
    # The merchant that collects payments for each app id.
    payments: dict[str, PaymentGateway] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def merchant(self, channel: str, merchant_id: str) -> PaymentGateway | None:
        """The gateway a channel's notifications for this merchant are read with."""
        return next((g for g in self.payments.values() if g.channel == channel and g.merchant_id == merchant_id), None)


class MissingSecret(Exception):
    """An app's or a merchant's secret is not where its entry says."""


# WeChat's production identity check is its face verification, which needs a client-side step
# not built yet; the sandbox's check must never be what production relies on.
VERIFIED_IN_PRODUCTION = ("alipay",)


def read_channel_apps(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The channel apps file: `[[wechat]]`, `[[alipay]]` and `[[wechat_pay]]` entries; empty when the file is absent."""
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def read_secret(entry: dict[str, Any], name: str) -> str:
    """A secret named by an app or merchant entry: `<name>_env` (an environment variable's name) or `<name>_file`."""
    owner = entry.get("app_id") or f"merchant {entry.get('mch_id')}"
    if f"{name}_env" in entry:
        value = os.environ.get(entry[f"{name}_env"])
        if not value:
            raise MissingSecret(f"environment variable {entry[f'{name}_env']} for {owner} is not set")
        return value
    if f"{name}_file" not in entry:
        raise MissingSecret(f"{owner} names neither {name}_env nor {name}_file")
    path = Path(entry[f"{name}_file"])
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.exists():
        raise MissingSecret(f"{path} for {owner} does not exist (the demo's sandbox writes it on first start)")
    return path.read_text(encoding="utf-8").strip() + ("\n" if name.endswith("key") else "")


class SecretsFromFiles(Mapping[str, str]):
    """The environment, and outside production the demo's secret files for variables it does not set."""

    def __init__(self, environ: Mapping[str, str], files: Mapping[str, Path]) -> None:
        self._environ = environ
        self._files = files

    def __getitem__(self, name: str) -> str:
        if name in self._environ:
            return self._environ[name]
        path = self._files.get(name)
        # Read at each use: the sandbox may write its files after citytiles has started.
        if path is None or not path.is_file():
            raise KeyError(name)
        return path.read_text(encoding="utf-8").strip()

    def __iter__(self) -> Iterator[str]:
        return iter({*self._environ, *self._files})

    def __len__(self) -> int:
        return len({*self._environ, *self._files})


def upstream_environ(settings: Settings, environ: Mapping[str, str]) -> Mapping[str, str]:
    """Where upstream adapters read the secrets their connections name."""
    if settings.is_production or not settings.upstream_secret_files.is_file():
        return environ
    named = tomllib.loads(settings.upstream_secret_files.read_text(encoding="utf-8"))
    files = {
        name: (PROJECT_ROOT / path if not Path(path).is_absolute() else Path(path)) for name, path in named.items()
    }
    return SecretsFromFiles(environ, files)


def build_outbound(settings: Settings) -> Outbound:
    """This process's way out: breakers and call figures in Redis when REDIS_URL is set, else in memory."""
    if settings.redis_url:
        from outbound.redis_breaker import RedisBreakerStore
        from outbound.redis_health import RedisCallLog

        return Outbound(
            Breakers(RedisBreakerStore.from_url(settings.redis_url)),
            Bulkheads(),
            RedisCallLog.from_url(settings.redis_url),
        )
    return Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), MemoryCallLog())


def build_channel_adapters(settings: Settings, outbound: Outbound | None = None) -> ChannelAdapters:
    """Real channel adapters for every app in the channel apps file, pointed at the configured base URLs."""
    apps = read_channel_apps(settings.channel_apps_file)
    if not apps:
        return ChannelAdapters()
    outbound = outbound or build_outbound(settings)
    from channels.alipay import build_alipay
    from channels.wechat import build_wechat

    logins: dict[str, ChannelLogin] = {}
    verifiers: dict[str, RealNameVerifier] = {}
    phones: dict[str, PhoneNumbers] = {}
    messengers: dict[str, Messenger] = {}
    chats: dict[str, ChatChannel] = {}
    chat_accounts: dict[str, Account] = {}
    problems: list[str] = []
    builders = {"wechat": build_wechat, "alipay": build_alipay}
    read_entries: dict[str, list[dict[str, Any]]] = {}
    for channel, build in builders.items():
        entries = read_entries.setdefault(channel, [])
        for entry in apps.get(channel, []):
            try:
                entries.append({**entry, "secrets": _secrets_of(channel, entry)})
            except MissingSecret as missing:
                problems.append(str(missing))
        if not entries:
            continue
        built = build(settings, entries, outbound)
        logins.update(built.logins)
        phones.update(built.phones)
        messengers.update(built.messengers)
        chats.update(built.chats)
        chat_accounts.update(built.chat_accounts)
        if channel in VERIFIED_IN_PRODUCTION or not settings.is_production:
            verifiers[channel] = built.verifier
    payments = _payments(settings, apps, read_entries["alipay"], outbound, problems)
    return ChannelAdapters(
        logins=logins,
        verifiers=verifiers,
        phones=phones,
        messengers=messengers,
        chats=chats,
        chat_accounts=chat_accounts,
        payments=payments,
        problems=tuple(problems),
    )


def read_wechat_pay_merchant(entry: dict[str, Any], wechat_apps: set[str]) -> WeChatPayMerchant:
    """A `[[wechat_pay]]` entry with its secrets read; MissingSecret or MerchantProblem when one cannot be used."""
    app_ids = entry.get("app_ids")
    if not isinstance(app_ids, list) or not set(app_ids) <= wechat_apps:
        raise ValueError(f"wechat_pay merchant {entry.get('mch_id')}: app_ids must be [[wechat]] apps of this file")
    return WeChatPayMerchant(
        mch_id=str(entry.get("mch_id", "")),
        app_ids=tuple(app_ids),
        merchant_serial=_plain_or_secret(entry, "merchant_serial"),
        wechatpay_public_key_id=_plain_or_secret(entry, "wechatpay_public_key_id"),
        merchant_private_key=read_secret(entry, "merchant_private_key"),
        # A shared secret used as its 32 characters: no line ending may come with it.
        apiv3_key=read_secret(entry, "apiv3_key").strip(),
        wechatpay_public_key=read_secret(entry, "wechatpay_public_key"),
    )


def _plain_or_secret(entry: dict[str, Any], name: str) -> str:
    """A value that is not secret (a serial, a key id): written in the entry, or read like a secret."""
    value = entry[name] if name in entry else read_secret(entry, name)
    return str(value).strip()


def _payments(
    settings: Settings,
    apps: dict[str, list[dict[str, Any]]],
    alipay_entries: list[dict[str, Any]],
    outbound: Outbound,
    problems: list[str],
) -> dict[str, PaymentGateway]:
    """The gateway each app collects through: its WeChat Pay merchant, or for an Alipay app that pays, its own."""
    from channels.alipay import alipay_pay_gateway
    from channels.wechat import wechat_pay_gateway

    payments: dict[str, PaymentGateway] = {}
    wechat_apps = {entry["app_id"] for entry in apps.get("wechat", [])}
    for entry in apps.get("wechat_pay", []):
        try:
            merchant = read_wechat_pay_merchant(entry, wechat_apps)
            gateway = wechat_pay_gateway(settings, merchant, outbound)
        except (MissingSecret, MerchantProblem) as unusable:
            problems.append(str(unusable))
            continue
        for app_id in merchant.app_ids:
            if app_id in payments:
                raise ValueError(f"WeChat app {app_id} is collected for by two merchants")
            payments[app_id] = gateway
    for entry in alipay_entries:
        if entry.get("pays"):
            merchant_of_app = AlipayMerchant(
                app_id=entry["app_id"],
                seller_id=str(entry.get("seller_id", "")),
                app_private_key=entry["secrets"]["app_private_key"],
                alipay_public_key=entry["secrets"]["alipay_public_key"],
            )
            payments[entry["app_id"]] = alipay_pay_gateway(settings, merchant_of_app, outbound)
    return payments


def _secrets_of(channel: str, entry: dict[str, Any]) -> dict[str, str]:
    names = {"wechat": ("secret",), "alipay": ("app_private_key", "alipay_public_key")}[channel]
    secrets = {name: read_secret(entry, name) for name in names}
    # An official account that chats: its server token and message key (EncodingAESKey), used as written.
    if entry.get("kind") == "official_account" and ("token_file" in entry or "token_env" in entry):
        for name in ("token", "encoding_aes_key"):
            secrets[name] = read_secret(entry, name).strip()
    return secrets


def build_attempt_counter(settings: Settings, engine: Engine) -> AttemptCounter:
    """Abuse-limit counters every worker shares: in Redis when REDIS_URL is set, else in the database."""
    secret = counter_secret(settings.secret_key)
    if settings.redis_url:
        from app.redis_attempts import RedisAttempts

        return RedisAttempts.from_url(settings.redis_url, secret)
    return DatabaseAttempts(engine, secret)
