"""WeChat's phone-number exchange and certified-identity check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wechatpy.exceptions import WeChatException

from channels.calls import ChannelCalls
from channels.calls import answer_fields
from channels.wechat.client import StableTokenClient
from channels.wechat.errors import from_wechat
from errors import DomainError
from errors import Invalid
from identity.ports import RealNameClaim
from identity.ports import RealNameResult
from identity.ports import RealNameUnavailable

PHONE_CODE_ERRORS: dict[int, Callable[[], DomainError]] = {
    40029: lambda: Invalid("identity.phone_code_invalid", "This phone authorisation code is not valid.")
}


class WeChatPhoneNumbers:
    """getPhoneNumber button code → the number WeChat verified (wxa/business/getuserphonenumber)."""

    name = "wechat_phone_number"

    def __init__(self, client: StableTokenClient, calls: ChannelCalls) -> None:
        self.client = client
        self.calls = calls

    def phone_number(self, code: str, external_id: str) -> str:
        """wechatpy 1.8 has no wrapper for this API, so post it through the client (token handling included)."""

        def attempt() -> str:
            try:
                result = self.client.post(
                    "wxa/business/getuserphonenumber",
                    api_base_url=self.client.base_url + "/",
                    # With the openid, WeChat refuses a code that was issued to someone else.
                    data={"code": code, "openid": external_id},
                )
            except WeChatException as error:
                raise from_wechat(error, PHONE_CODE_ERRORS) from error
            info = answer_fields("wechat", "getuserphonenumber", result, "phone_info")["phone_info"]
            phone: str = answer_fields("wechat", "getuserphonenumber", info, "purePhoneNumber")["purePhoneNumber"]
            return phone

        return self.calls.call(self.client.appid, "getuserphonenumber", attempt)


class WeChatRealNames:
    """Asks WeChat whether a name and ID number match the identity it certified for the user.

    The sandbox serves this as /cgi-bin/sandbox/realname/check; against production WeChat the same
    port is met by the city-services face verification result (cityservice/face/identify/getinfo).
    """

    name = "wechat_certified_identity"

    def __init__(self, clients: dict[str, StableTokenClient], calls: ChannelCalls) -> None:
        self.clients = clients
        self.calls = calls

    def verify(self, claim: RealNameClaim) -> RealNameResult:
        """Compare the claim with WeChat's certified identity for this openid."""
        client = self.clients[claim.app_id]

        def attempt() -> Any:
            try:
                result = client.post(
                    "sandbox/realname/check",
                    data={"openid": claim.external_id, "real_name": claim.name, "id_number": claim.id_number},
                )
            except WeChatException as error:
                raise from_wechat(error) from error
            return answer_fields("wechat", "realname_check", result, "verify_result")["verify_result"]

        verdict = self.calls.call(claim.app_id, "realname_check", attempt)
        if verdict == "no_real_name":
            raise RealNameUnavailable("identity.real_name_unavailable", "WeChat holds no verified identity for you.")
        return RealNameResult(
            matched=verdict == "match", verifier=self.name, reason=None if verdict == "match" else verdict
        )
