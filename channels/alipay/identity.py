"""Alipay's certified-identity comparison (alipay.user.certdoc.certverify.preconsult / consult)."""

from __future__ import annotations

from typing import Any

from alipay import AliPay

from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay
from channels.calls import ChannelCalls
from channels.calls import answer_fields
from errors import UpstreamUnavailable
from identity.ports import LoginRejected
from identity.ports import RealNameClaim
from identity.ports import RealNameResult
from identity.ports import RealNameUnavailable

NOT_CERTIFIED = "用户未实名认证"
# The auth token from login has lapsed: the resident must log in through Alipay again.
LAPSED = {
    sub_code: lambda: LoginRejected("identity.channel_login_expired", "Log in through Alipay again, then verify.")
    for sub_code in ("aop.invalid-auth-token", "aop.auth-token-time-out")
}


class AlipayRealNames:
    """Registers the claimed identity, then asks whether the user behind the auth token holds it."""

    name = "alipay_certdoc"

    def __init__(self, clients: dict[str, AliPay], calls: ChannelCalls) -> None:
        self.clients = clients
        self.calls = calls

    def verify(self, claim: RealNameClaim) -> RealNameResult:
        """Two gateway calls; the result says passed T or F."""
        client = self.clients[claim.app_id]

        def attempt() -> dict[str, Any]:
            try:
                registered = client.server_api(
                    "alipay.user.certdoc.certverify.preconsult",
                    biz_content={"user_name": claim.name, "cert_type": "IDENTITY_CARD", "cert_no": claim.id_number},
                )
                registered = answer_fields("alipay", "certverify.preconsult", registered, "code")
                if registered.get("code") != "10000" or not registered.get("verify_id"):
                    raise UpstreamUnavailable(
                        "channel.unavailable", "Alipay could not start the check.", retry_after=30
                    )
                verdict = client.server_api(
                    "alipay.user.certdoc.certverify.consult",
                    biz_content={"verify_id": registered["verify_id"]},
                    auth_token=claim.secret or "",
                )
            except SDK_FAILURES as error:
                raise from_alipay(error, claim.app_id, LAPSED) from error
            return answer_fields("alipay", "certverify.consult", verdict, "code")

        verdict = self.calls.call(claim.app_id, "certverify", attempt)
        if verdict.get("code") != "10000":
            # A signed business error comes back as data, not as an exception.
            lapsed = LAPSED.get(str(verdict.get("sub_code")))
            if lapsed is not None:
                raise lapsed()
            raise UpstreamUnavailable("channel.unavailable", "Alipay could not finish the check.", retry_after=30)
        if verdict.get("passed") == "T":
            return RealNameResult(matched=True, verifier=self.name)
        if verdict.get("fail_reason") == NOT_CERTIFIED:
            raise RealNameUnavailable("identity.real_name_unavailable", "Alipay holds no verified identity for you.")
        return RealNameResult(matched=False, verifier=self.name, reason="mismatch")
