"""python-alipay-sdk's client, pointed at the configured gateway."""
from __future__ import annotations

from alipay import AliPay
from alipay.utils import AliPayConfig


def make_alipay(app_id: str, app_private_key: str, alipay_public_key: str, *, gateway_url: str, timeout: float) -> AliPay:
    """Build the client; the gateway override is the SDK's private attribute, set here and nowhere else."""
    client = AliPay(
        appid=app_id,
        app_notify_url=None,
        app_private_key_string=app_private_key,
        alipay_public_key_string=alipay_public_key,
        sign_type="RSA2",
        config=AliPayConfig(timeout=timeout),
    )
    client._gateway = gateway_url
    return client
