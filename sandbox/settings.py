"""What the sandbox emulates: the channel apps it knows and the clocks of its credentials."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

MINI_PROGRAM = "miniprogram"
OFFICIAL_ACCOUNT = "official_account"
# Alipay app kinds: a mini-program, or a life account (生活号) that users follow and message.
ALIPAY_MINI_PROGRAM = "mini_program"
LIFE_ACCOUNT = "life_account"


@dataclass(frozen=True)
class WeChatApp:
    """One WeChat app registered with the emulated platform."""

    app_id: str
    kind: str  # MINI_PROGRAM or OFFICIAL_ACCOUNT: decides which login API its codes serve
    name: str
    # Apps bound to the same Open Platform account share a unionid space: one person, one
    # unionid across them, but a different openid per app. None means no unionid at all.
    unionid_space: str | None = None
    # An official account's original id (原始ID, gh_...): the ToUserName of the messages users send it.
    original_id: str | None = None


# The demo merchant's Alipay account (PID, "seller_id"): the partner that collects the apps' trades.
DEMO_ALIPAY_SELLER_ID = "2088721000000017"


@dataclass(frozen=True)
class AlipayApp:
    """One Alipay app registered with the emulated open platform."""

    app_id: str
    name: str
    seller_id: str = DEMO_ALIPAY_SELLER_ID  # the merchant account its trades are paid into
    kind: str = ALIPAY_MINI_PROGRAM  # or LIFE_ACCOUNT


@dataclass(frozen=True)
class WeChatPayMerchant:
    """One WeChat Pay merchant account (商户号) and the apps bound to it (商户号绑定APPID)."""

    mch_id: str
    name: str
    app_ids: tuple[str, ...]


def default_wechat_apps() -> tuple[WeChatApp, ...]:
    """The demo WeChat mini-program and official account, bound to one Open Platform account."""
    return (
        WeChatApp("wx7c1b5d1e2f3a4b50", MINI_PROGRAM, "城市服务 (mini-program)", "citytiles-open-platform"),
        WeChatApp(
            "wx9a8b7c6d5e4f3a20",
            OFFICIAL_ACCOUNT,
            "城市服务 (official account)",
            "citytiles-open-platform",
            original_id="gh_3f5a7c9e1b2d",
        ),
    )


def default_alipay_apps() -> tuple[AlipayApp, ...]:
    """The demo Alipay mini-program and life account."""
    return (
        AlipayApp("2021004100000001", "城市服务 (Alipay mini-program)"),
        AlipayApp("2021004100000002", "城市服务 (Alipay life account)", kind=LIFE_ACCOUNT),
    )


def default_wechat_pay_merchants() -> tuple[WeChatPayMerchant, ...]:
    """The demo merchant, bound to the demo mini-program and official account."""
    return (WeChatPayMerchant("1900000109", "城市服务 (demo merchant)", ("wx7c1b5d1e2f3a4b50", "wx9a8b7c6d5e4f3a20")),)


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
    wechat_pay_merchants: tuple[WeChatPayMerchant, ...] = field(default_factory=default_wechat_pay_merchants)
    # Payment notifications are retried on the channels' schedules (WeChat Pay 15 s ... 6 h, Alipay
    # 4 min ... 15 h) divided by this factor: 60 turns hours into minutes for a demo; tests use far more.
    notify_compression: float = 60.0
    # A notification not answered within this long is a failed delivery (WeChat asks for 5 s).
    notify_timeout_seconds: float = 5.0
    # A WeChat Pay refund is PROCESSING this long before it settles by itself (unless a helper decides).
    refund_settle_seconds: float = 3.0
    # A bill's download URL works this long (WeChat Pay: 5 minutes; Alipay: 30 seconds).
    wechat_bill_url_seconds: float = 300.0
    alipay_bill_url_seconds: float = 30.0
    # Chat: WeChat waits this long for citytiles to answer a pushed message before trying again (5 s,
    # 3 tries in all); the Alipay life account waits as long. Tests shorten it.
    chat_reply_timeout_seconds: float = 5.0
    # An official account may send a user customer-service messages this long after the user last
    # messaged it (WeChat: 48 hours); tests shorten it.
    chat_window_seconds: float = 48 * 3600

    def wechat_app(self, app_id: str) -> WeChatApp | None:
        """The WeChat app with this id, if configured."""
        return next((app for app in self.wechat_apps if app.app_id == app_id), None)

    def alipay_app(self, app_id: str) -> AlipayApp | None:
        """The Alipay app with this id, if configured."""
        return next((app for app in self.alipay_apps if app.app_id == app_id), None)

    def wechat_pay_merchant(self, mch_id: str) -> WeChatPayMerchant | None:
        """The WeChat Pay merchant with this mch_id, if configured."""
        return next((merchant for merchant in self.wechat_pay_merchants if merchant.mch_id == mch_id), None)
