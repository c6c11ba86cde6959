"""Typed settings built from an environment mapping; nothing is read at import time."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SECRET_KEY = "citytiles-development-secret-key-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'citytiles.db'}"
DEFAULT_SEED = PROJECT_ROOT / "config" / "cities.toml"
APP_ENVS = ("development", "test", "production")
DEFAULT_CHANNEL_APPS = PROJECT_ROOT / "config" / "channels.toml"
DEFAULT_NOTICE_TEMPLATES = PROJECT_ROOT / "config" / "notice_templates.toml"
DEFAULT_UPSTREAM_SECRET_FILES = PROJECT_ROOT / "config" / "upstream_secrets.toml"
# Development-only PII keys; production refuses to start with them.
DEFAULT_PII_KEYS = "dev1:ZGV2ZWxvcG1lbnQtb25seS1waWkta2V5LTMyLWJ5dGU="
DEFAULT_PII_LOOKUP_KEY = "ZGV2ZWxvcG1lbnQtb25seS1sb29rdXAta2V5LTMyYnk="
# Applied with fullmatch: ASCII digits only, nothing before or after.
_WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_DECIMAL_NUMBER = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


class UnsafeConfiguration(Exception):
    """Start-up refused: the configuration is not safe for production."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"refusing to start with APP_ENV=production:\n{listed}")


@dataclass(frozen=True)
class ChannelSettings:
    """Where the channels' servers are; the demo points both at the sandbox."""

    wechat_api_base_url: str = "https://api.weixin.qq.com"
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    wechat_pay_base_url: str = "https://api.mch.weixin.qq.com"


@dataclass(frozen=True)
class Settings:
    """Everything citytiles needs to start, read once from the environment."""

    app_env: str = "development"
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    catalogue_seed: Path = DEFAULT_SEED
    staff_token_minutes: int = 480
    resident_token_minutes: int = 1440
    # Anti-scalping: live outpatient holds and appointments a resident may make in seven days.
    outpatient_weekly_limit: int = 3
    channel_apps_file: Path = DEFAULT_CHANNEL_APPS
    notice_templates_file: Path = DEFAULT_NOTICE_TEMPLATES
    # How long a housing-fund answer is kept (sealed) for the same question; 0 asks the centre every time.
    housing_fund_cache_seconds: int = 180
    # Outside production: files to read upstream secrets from when the environment does not set them.
    upstream_secret_files: Path = DEFAULT_UPSTREAM_SECRET_FILES
    channel_timeout_seconds: float = 5.0
    # How long a chat push waits for its reply before WeChat gets "success" and the reply comes later
    # (WeChat gives up at 5 s and retries; the answer must be on its way back well before).
    chat_reply_seconds: float = 4.0
    # "keyid:base64key,..." (AES-256 keys); the active one encrypts, all of them decrypt.
    pii_keys: str = field(default=DEFAULT_PII_KEYS, repr=False)
    pii_active_key: str = "dev1"
    pii_lookup_key: str = field(default=DEFAULT_PII_LOOKUP_KEY, repr=False)
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    # Proxies in front of citytiles that append to X-Forwarded-For; their entries are trusted to
    # name the client, whose address abuse limits count against. 0: the socket's peer is the client.
    trusted_proxy_hops: int = 0
    channels: ChannelSettings = field(default_factory=ChannelSettings)
    # Where the channels reach citytiles: payment notifications go to <public_url>/callbacks/...
    public_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping, with safe development defaults."""
        app_env = environ.get("APP_ENV", "development").strip().lower()
        if app_env not in APP_ENVS:
            raise UnsafeConfiguration([f"APP_ENV must be one of {', '.join(APP_ENVS)}, not {app_env!r}"])
        proxy_hops = int(environ.get("TRUSTED_PROXY_HOPS", "0"))
        if proxy_hops < 0:
            raise UnsafeConfiguration([f"TRUSTED_PROXY_HOPS must be 0 or more, not {proxy_hops}"])
        return cls(
            app_env=app_env,
            secret_key=environ.get("SECRET_KEY", DEFAULT_SECRET_KEY),
            database_url=environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=environ.get("REDIS_URL") or None,
            catalogue_seed=Path(environ.get("CATALOGUE_SEED", str(DEFAULT_SEED))),
            staff_token_minutes=whole_number(environ, "STAFF_TOKEN_MINUTES", 480),
            resident_token_minutes=whole_number(environ, "RESIDENT_TOKEN_MINUTES", 1440),
            outpatient_weekly_limit=whole_number(environ, "OUTPATIENT_WEEKLY_LIMIT", 3),
            channel_apps_file=Path(environ.get("CHANNEL_APPS_FILE", str(DEFAULT_CHANNEL_APPS))),
            housing_fund_cache_seconds=whole_number(environ, "HOUSING_FUND_CACHE_SECONDS", 180, zero=True),
            notice_templates_file=Path(environ.get("NOTICE_TEMPLATES_FILE", str(DEFAULT_NOTICE_TEMPLATES))),
            upstream_secret_files=Path(environ.get("UPSTREAM_SECRET_FILES", str(DEFAULT_UPSTREAM_SECRET_FILES))),
            channel_timeout_seconds=decimal_number(environ, "CHANNEL_TIMEOUT_SECONDS", 5.0),
            chat_reply_seconds=decimal_number(environ, "CHAT_REPLY_SECONDS", 4.0),
            pii_keys=environ.get("PII_KEYS", DEFAULT_PII_KEYS),
            pii_active_key=environ.get("PII_ACTIVE_KEY", "dev1"),
            pii_lookup_key=environ.get("PII_LOOKUP_KEY", DEFAULT_PII_LOOKUP_KEY),
            max_body_bytes=whole_number(environ, "MAX_BODY_BYTES", 64 * 1024),
            log_level=environ.get("LOG_LEVEL", "INFO").upper(),
            trusted_proxy_hops=proxy_hops,
            channels=ChannelSettings(
                wechat_api_base_url=environ.get("WECHAT_API_BASE_URL", ChannelSettings.wechat_api_base_url),
                alipay_gateway_url=environ.get("ALIPAY_GATEWAY_URL", ChannelSettings.alipay_gateway_url),
                wechat_pay_base_url=environ.get("WECHAT_PAY_BASE_URL", ChannelSettings.wechat_pay_base_url),
            ),
            public_url=environ.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        )

    @property
    def is_production(self) -> bool:
        """Whether start-up must refuse unsafe configuration."""
        return self.app_env == "production"

    def production_problems(self) -> list[str]:
        """List every reason these settings are unsafe for production; empty when they are safe.

        Upstream connections are checked by their own Params (city_services/upstreams.py), channel apps
        by their loader: each where it is declared.
        """
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY is the development default or shorter than 32 characters")
        development_key = DEFAULT_PII_KEYS.partition(":")[2]
        if development_key in self.pii_keys or self.pii_lookup_key == DEFAULT_PII_LOOKUP_KEY:
            problems.append("PII_KEYS or PII_LOOKUP_KEY holds the development key")
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL points at SQLite; production needs PostgreSQL")
        channel_urls = {
            "WECHAT_API_BASE_URL": self.channels.wechat_api_base_url,
            "ALIPAY_GATEWAY_URL": self.channels.alipay_gateway_url,
            "WECHAT_PAY_BASE_URL": self.channels.wechat_pay_base_url,
            "PUBLIC_URL": self.public_url,
        }
        for name, url in channel_urls.items():
            if not is_public_https(url):
                problems.append(f"{name} is not a public HTTPS URL (sandbox or plain HTTP): {url}")
        return problems


def whole_number(environ: Mapping[str, str], name: str, default: int, *, zero: bool = False) -> int:
    """A positive whole number from the environment, in ASCII digits: int() would also take "４８０" or " 480\n".

    :param zero: 0 is allowed too (it switches something off).
    """
    raw = environ.get(name)
    if raw is None:
        return default
    if zero and raw == "0":
        return 0
    if _WHOLE_NUMBER.fullmatch(raw) is None:
        raise ValueError(f"{name} must be a positive whole number in ASCII digits, not {raw!r}")
    return int(raw)


def decimal_number(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive decimal number from the environment: float() would also take "nan", "inf" or "1e999"."""
    raw = environ.get(name)
    if raw is None:
        return default
    if _DECIMAL_NUMBER.fullmatch(raw) is None or float(raw) <= 0:
        raise ValueError(f"{name} must be a positive decimal number such as 2.5, not {raw!r}")
    return float(raw)


def is_public_https(url: str) -> bool:
    """Whether a URL is HTTPS to a public host: not loopback, private, a sandbox, or an address in disguise."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme != "https" or not host or "sandbox" in host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    address = _numeric_address(host)
    return address is None or address.is_global


def _numeric_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by number, in any of the forms resolvers accept (127.1, 0x7f000001, ...)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
