"""python-alipay-sdk's client, pointed at the configured gateway, sending requests as POSTs."""

from __future__ import annotations

from typing import Any
from urllib.request import Request
from urllib.request import urlopen

from alipay import AliPay
from alipay.exceptions import AliPayException
from alipay.exceptions import AliPayValidationError
from alipay.utils import AliPayConfig

from channels.calls import unreadable_answer


class PostingAliPay(AliPay):  # type: ignore[misc]  # python-alipay-sdk ships no types
    """The SDK's client, but every gateway call is a form POST.

    The SDK sends the whole signed request, biz_content included, as a GET query string; a name
    and ID number must not sit in a URL, where proxies and access logs keep them.
    """

    def verified_sync_response(self, data: dict[str, Any], response_type: str) -> Any:
        """Send the signed request in the body and verify the answer as the SDK does."""
        request = Request(
            self._gateway,
            data=self.sign_data(data).encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            method="POST",
        )
        with urlopen(request, timeout=self._config.timeout) as response:
            raw = response.read()
        try:
            return self._verify_and_return_sync_response(raw.decode("utf-8"), response_type)
        except (AliPayException, AliPayValidationError):
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            # Only the SDK's reading of a foreign answer runs in this try: what it trips over here
            # (not JSON, not an object, a signature that is not base64) is the answer's fault.
            raise unreadable_answer("alipay", response_type, None) from error


def make_alipay(
    app_id: str, app_private_key: str, alipay_public_key: str, *, gateway_url: str, timeout: float
) -> PostingAliPay:
    """Build the client; the gateway override is the SDK's private attribute, set here and nowhere else."""
    client = PostingAliPay(
        appid=app_id,
        app_notify_url=None,
        app_private_key_string=app_private_key,
        alipay_public_key_string=alipay_public_key,
        sign_type="RSA2",
        config=AliPayConfig(timeout=timeout),
    )
    client._gateway = gateway_url
    return client
