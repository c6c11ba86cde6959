"""The merchants citytiles collects payments through, as typed configuration read from the channel apps file.

A `[[wechat_pay]]` entry is one WeChat Pay merchant (mch_id) and the WeChat apps it collects for;
an `[[alipay]]` app entry with `pays = true` collects into its `seller_id`. Secrets are never
written in the file: each names the file (`*_file`) or environment variable (`*_env`) that holds
it, as the apps do. A merchant whose secret is missing or malformed is a MerchantProblem: left out
in development, refused in production (the same list as the apps' missing secrets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field

# Applied with fullmatch.
_MCH_ID = re.compile(r"[0-9]{6,32}")
_SERIAL = re.compile(r"[0-9A-Fa-f]{8,64}")
_APIV3_KEY = re.compile(r"[A-Za-z0-9]{32}")
_PUBLIC_KEY_ID = re.compile(r"PUB_KEY_ID_[A-Za-z0-9]{1,64}")
_ALIPAY_USER_ID = re.compile(r"2088[0-9]{12}")


class MerchantProblem(ValueError):
    """A merchant's secret that is there but cannot be used; the message names the field, never its value."""


@dataclass(frozen=True)
class WeChatPayMerchant:
    """One WeChat Pay API v3 merchant in public-key mode, and the WeChat apps it collects for."""

    mch_id: str
    app_ids: tuple[str, ...]
    merchant_serial: str
    wechatpay_public_key_id: str
    # PKCS#8 PEM: wechatpayv3 wraps what it is given in BEGIN PRIVATE KEY.
    merchant_private_key: str = field(repr=False)
    apiv3_key: str = field(repr=False)
    wechatpay_public_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _MCH_ID.fullmatch(self.mch_id):
            raise ValueError(f"wechat_pay mch_id must be 6 to 32 digits, not {self.mch_id!r}")
        if not self.app_ids or not all(isinstance(app_id, str) and app_id for app_id in self.app_ids):
            raise ValueError(f"wechat_pay merchant {self.mch_id} must name the app_ids it collects for")
        checks = (
            ("merchant_serial", _SERIAL.fullmatch(self.merchant_serial)),
            ("wechatpay_public_key_id", _PUBLIC_KEY_ID.fullmatch(self.wechatpay_public_key_id)),
            ("apiv3_key", _APIV3_KEY.fullmatch(self.apiv3_key)),
            ("merchant_private_key", "-----BEGIN PRIVATE KEY-----" in self.merchant_private_key),
            ("wechatpay_public_key", "-----BEGIN PUBLIC KEY-----" in self.wechatpay_public_key),
        )
        malformed = [name for name, fine in checks if not fine]
        if malformed:
            raise MerchantProblem(f"wechat_pay merchant {self.mch_id}: malformed {', '.join(malformed)}")


@dataclass(frozen=True)
class AlipayMerchant:
    """An Alipay app that takes payments, and the seller (PID) its trades must be paid into."""

    app_id: str
    seller_id: str
    app_private_key: str = field(repr=False)
    alipay_public_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _ALIPAY_USER_ID.fullmatch(self.seller_id):
            raise ValueError(f"alipay app {self.app_id} pays into seller_id 2088 and 12 digits, not {self.seller_id!r}")
