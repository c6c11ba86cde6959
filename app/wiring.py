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
from city_services.notices import Messenger
from config import Settings
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
    """Logins and phone sources per app id, real-name verifiers per channel.

    :param problems: apps left out because their secrets could not be read, one line each.
    """

    logins: dict[str, ChannelLogin] = field(default_factory=dict)
    verifiers: dict[str, RealNameVerifier] = field(default_factory=dict)
    phones: dict[str, PhoneNumbers] = field(default_factory=dict)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    # The merchant that collects payments for each app id.
    payments: dict[str, PaymentGateway] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def merchant(self, channel: str, merchant_id: str) -> PaymentGateway | None:
        """The gateway a channel's notifications for this merchant are read with."""
        return next((g for g in self.payments.values() if g.channel == channel and g.merchant_id == merchant_id), None)


class MissingSecret(Exception):
    """An app's secret is not where its entry says."""


# WeChat's production identity check is its face verification, which needs a client-side step
# not built yet; the sandbox's check must never be what production relies on.
VERIFIED_IN_PRODUCTION = ("alipay",)


def read_channel_apps(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The channel apps file: `[[wechat]]` and `[[alipay]]` entries; empty when the file is absent."""
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def read_secret(entry: dict[str, Any], name: str) -> str:
    """A secret named by an app entry: `<name>_env` (an environment variable's name) or `<name>_file`."""
    if f"{name}_env" in entry:
        value = os.environ.get(entry[f"{name}_env"])
        if not value:
            raise MissingSecret(f"environment variable {entry[f'{name}_env']} for {entry['app_id']} is not set")
        return value
    path = Path(entry[f"{name}_file"])
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.exists():
        raise MissingSecret(
            f"{path} for {entry['app_id']} does not exist (the demo's sandbox writes it on first start)"
        )
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
    problems: list[str] = []
    builders = {"wechat": build_wechat, "alipay": build_alipay}
    for channel, build in builders.items():
        entries = []
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
        if channel in VERIFIED_IN_PRODUCTION or not settings.is_production:
            verifiers[channel] = built.verifier
    return ChannelAdapters(
        logins=logins, verifiers=verifiers, phones=phones, messengers=messengers, problems=tuple(problems)
    )


def _secrets_of(channel: str, entry: dict[str, Any]) -> dict[str, str]:
    names = {"wechat": ("secret",), "alipay": ("app_private_key", "alipay_public_key")}[channel]
    return {name: read_secret(entry, name) for name in names}


def build_attempt_counter(settings: Settings, engine: Engine) -> AttemptCounter:
    """Abuse-limit counters every worker shares: in Redis when REDIS_URL is set, else in the database."""
    secret = counter_secret(settings.secret_key)
    if settings.redis_url:
        from app.redis_attempts import RedisAttempts

        return RedisAttempts.from_url(settings.redis_url, secret)
    return DatabaseAttempts(engine, secret)
