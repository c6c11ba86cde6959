"""Everything the emulated platforms remember, built once per sandbox instance."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.bill_discrepancies import DiscrepancyBook
from sandbox.bill_downloads import BillDownloads
from sandbox.car_move import TrafficPoliceSystems
from sandbox.car_move import build_traffic_police_systems
from sandbox.chat_push import MessageIds
from sandbox.codes import CodeBook
from sandbox.faults import FaultBoard
from sandbox.followers import Followers
from sandbox.grants import GrantStore
from sandbox.housing_fund import HousingFundSystems
from sandbox.housing_fund import build_housing_fund_systems
from sandbox.keys import SandboxKeys
from sandbox.keys import load_or_create_keys
from sandbox.official_account_keys import OfficialAccountKeys
from sandbox.official_account_keys import load_or_create_official_account_keys
from sandbox.outbox import Outbox
from sandbox.outpatient import Outpatient
from sandbox.outpatient import build_outpatient
from sandbox.pay_clock import PayClock
from sandbox.pay_keys import WeChatPayKeys
from sandbox.pay_keys import load_or_create_wechat_pay_keys
from sandbox.pay_ledger import PayLedger
from sandbox.pay_notifications import Notifier
from sandbox.payments import PaymentBook
from sandbox.quota import MinuteQuota
from sandbox.residents import AlipayResidents
from sandbox.residents import WeChatResidents
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.settings import SandboxConfig
from sandbox.shenzhen_health_wire import SIGNATURE_WINDOW_SECONDS
from sandbox.subscriptions import SubscriptionBook
from sandbox.tokens import AccessTokens


@dataclass(frozen=True)
class LoginGrant:
    """What a WeChat login code stands for."""

    openid: str
    scope: str  # "snsapi_base"/"snsapi_userinfo" for official accounts; "" for mini-programs


@dataclass(frozen=True)
class CertQuery:
    """The identity a merchant asked Alipay to compare (alipay.user.certdoc.certverify.preconsult)."""

    user_name: str
    cert_no: str
    mobile: str | None


@dataclass(frozen=True)
class World:
    """The sandbox's whole memory; every store is safe to use from many request threads."""

    config: SandboxConfig
    keys: SandboxKeys
    app_tokens: AccessTokens
    wechat_people: WeChatResidents
    alipay_people: AlipayResidents
    login_codes: CodeBook
    phone_codes: CodeBook
    auth_codes: CodeBook
    verify_ids: CodeBook
    wechat_oauth: GrantStore
    alipay_oauth: GrantStore
    login_quota: MinuteQuota
    faults: FaultBoard
    outbox: Outbox
    housing_fund: HousingFundSystems
    car_move: TrafficPoliceSystems
    subscriptions: SubscriptionBook
    outpatient: Outpatient
    wechat_pay_keys: dict[str, WeChatPayKeys]  # mch_id -> the merchant's credentials
    payments: PaymentBook
    pay_clock: PayClock
    notifier: Notifier
    bill_discrepancies: DiscrepancyBook
    bill_downloads: BillDownloads
    official_account_keys: dict[str, OfficialAccountKeys]  # app_id -> the account's token and EncodingAESKey
    followers: Followers
    message_ids: MessageIds


def build_world(config: SandboxConfig) -> World:
    """Load or create the credentials and start with empty stores."""
    ttl, codes = config.token_ttl_seconds, config.code_ttl_seconds
    pay_clock = PayClock()
    return World(
        config=config,
        keys=load_or_create_keys(config.state_dir, [app.app_id for app in config.wechat_apps]),
        app_tokens=AccessTokens(ttl, config.token_grace_seconds),
        wechat_people=WeChatResidents(),
        alipay_people=AlipayResidents(),
        login_codes=CodeBook(codes),
        phone_codes=CodeBook(codes),
        auth_codes=CodeBook(codes),
        verify_ids=CodeBook(codes),
        wechat_oauth=GrantStore("", ttl, config.refresh_ttl_seconds, rotate_refresh=False),
        alipay_oauth=GrantStore("authusrB", ttl, config.refresh_ttl_seconds, rotate_refresh=True),
        login_quota=MinuteQuota(config.login_rate_limit_per_minute),
        faults=FaultBoard(),
        outbox=Outbox(),
        housing_fund=build_housing_fund_systems(config),
        car_move=build_traffic_police_systems(config),
        subscriptions=SubscriptionBook(),
        outpatient=build_outpatient(
            config.state_dir, config.outpatient_hold_seconds, config.outpatient_order_seconds, SIGNATURE_WINDOW_SECONDS
        ),
        wechat_pay_keys=load_or_create_wechat_pay_keys(
            config.state_dir, [merchant.mch_id for merchant in config.wechat_pay_merchants]
        ),
        payments=PaymentBook(PayLedger()),
        pay_clock=pay_clock,
        notifier=Notifier(pay_clock, config.notify_compression, config.notify_timeout_seconds),
        bill_discrepancies=DiscrepancyBook(),
        bill_downloads=BillDownloads(),
        official_account_keys=load_or_create_official_account_keys(
            config.state_dir, [app.app_id for app in config.wechat_apps if app.kind == OFFICIAL_ACCOUNT]
        ),
        followers=Followers(),
        message_ids=MessageIds(),
    )
