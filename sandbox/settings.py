"""What the sandbox emulates: the channel apps it knows and the clocks of its credentials."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

MINI_PROGRAM = "miniprogram"
OFFICIAL_ACCOUNT = "official_account"


@dataclass(frozen=True)
class WeChatApp:
    """One WeChat app registered with the emulated platform."""

    app_id: str
    kind: str  # MINI_PROGRAM or OFFICIAL_ACCOUNT: decides which login API its codes serve
    name: str
    # Apps bound to the same Open Platform account share a unionid space: one person, one
    # unionid across them, but a different openid per app. None means no unionid at all.
    unionid_space: str | None = None


@dataclass(frozen=True)
class AlipayApp:
    """One Alipay app registered with the emulated open platform."""

    app_id: str
    name: str


def default_wechat_apps() -> tuple[WeChatApp, ...]:
    """The demo WeChat mini-program and official account, bound to one Open Platform account."""
    return (
        WeChatApp("wx7c1b5d1e2f3a4b50", MINI_PROGRAM, "城市服务 (mini-program)", "citytiles-open-platform"),
        WeChatApp("wx9a8b7c6d5e4f3a20", OFFICIAL_ACCOUNT, "城市服务 (official account)", "citytiles-open-platform"),
    )


def default_alipay_apps() -> tuple[AlipayApp, ...]:
    """The demo Alipay mini-program."""
    return (AlipayApp("2021004100000001", "城市服务 (Alipay mini-program)"),)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox needs; tests shorten the clocks."""

    state_dir: Path
    citytiles_url: str = "http://127.0.0.1:8000"
    wechat_apps: tuple[WeChatApp, ...] = field(default_factory=default_wechat_apps)
    alipay_apps: tuple[AlipayApp, ...] = field(default_factory=default_alipay_apps)
    # WeChat access tokens and Alipay auth tokens live this long (WeChat: 7200 s).
    token_ttl_seconds: int = 7200
    # A token replaced by a newer one keeps working this long (WeChat: about 5 minutes).
    token_grace_seconds: int = 300
    # Login codes, phone codes and verify ids are single-use and live this long (WeChat: 5 min).
    code_ttl_seconds: int = 300
    # jscode2session answers 45011 past this many exchanges per user per minute (WeChat: 100).
    login_rate_limit_per_minute: int = 100
    # Refresh tokens (WeChat OAuth, Alipay) live this long (both: about 30 days).
    refresh_ttl_seconds: int = 30 * 24 * 3600
    proxy_timeout_seconds: float = 10.0
    # City upstream systems (housing fund, traffic police): bearer/access tokens live this long,
    # signed requests may be this far off the sandbox's clock, and car-move tickets advance by
    # themselves every car_move_step_seconds (0: only the helper moves them).
    upstream_token_ttl_seconds: int = 7200
    upstream_clock_skew_seconds: int = 300
    car_move_step_seconds: float = 0.0
    car_move_monthly_limit: int = 5
    # A zheyi_his hold keeps its slot this long unless booked; a shenzhen_health_platform order
    # for a paid slot keeps it this long unless confirmed.
    outpatient_hold_seconds: float = 300
    outpatient_order_seconds: float = 900

    def wechat_app(self, app_id: str) -> WeChatApp | None:
        """The WeChat app with this id, if configured."""
        return next((app for app in self.wechat_apps if app.app_id == app_id), None)

    def alipay_app(self, app_id: str) -> AlipayApp | None:
        """The Alipay app with this id, if configured."""
        return next((app for app in self.alipay_apps if app.app_id == app_id), None)
