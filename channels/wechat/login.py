"""WeChat logins: mini-program jscode2session and official-account web authorisation."""

from __future__ import annotations

from typing import Any

from wechatpy.exceptions import WeChatException

from channels.calls import ChannelCalls
from channels.calls import answer_fields
from channels.wechat.client import CheckedOAuth
from channels.wechat.client import StableTokenClient
from channels.wechat.client import TimeoutSession
from channels.wechat.errors import from_wechat
from errors import UpstreamUnavailable
from identity.ports import ChannelUser


class MiniProgramLogin:
    """wx.login code → openid, unionid and session_key, through jscode2session."""

    name = "wechat_mini_program"
    channel = "wechat"

    def __init__(self, client: StableTokenClient, calls: ChannelCalls) -> None:
        self.client = client
        self.calls = calls
        self.app_id = client.appid

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; the session_key stays on the server."""

        def attempt() -> dict[str, Any]:
            try:
                result = self.client.wxa.code_to_session(code)
            except WeChatException as error:
                raise from_wechat(error) from error
            return answer_fields("wechat", "jscode2session", result, "openid")

        result = self.calls.call(self.app_id, "jscode2session", attempt)
        return ChannelUser(
            "wechat", self.app_id, result["openid"], result.get("unionid"), secret=result.get("session_key")
        )


class OfficialAccountLogin:
    """Official-account web authorisation code → openid (and unionid under snsapi_userinfo)."""

    name = "wechat_official_account"
    channel = "wechat"

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        base_url: str,
        timeout: float,
        calls: ChannelCalls,
        followers: StableTokenClient | None = None,
    ) -> None:
        self.app_id, self.secret, self.base_url, self.timeout = app_id, secret, base_url.rstrip("/"), timeout
        self.calls = calls
        # snsapi_base gives no unionid; for a follower of the account cgi-bin/user/info does.
        self.followers = followers

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; a fresh WeChatOAuth per call because it keeps the result on itself."""
        oauth = CheckedOAuth(self.app_id, self.secret, redirect_uri="", scope="snsapi_base")
        oauth.API_BASE_URL = self.base_url + "/"
        oauth.OAUTH_BASE_URL = self.base_url + "/connect/"
        oauth._http = TimeoutSession(self.timeout)  # WeChatOAuth sets no timeout of its own

        def attempt() -> dict[str, Any]:
            try:
                result = oauth.fetch_access_token(code)
            except WeChatException as error:
                raise from_wechat(error) from error
            return answer_fields("wechat", "oauth2_access_token", result, "openid")

        result = self.calls.call(self.app_id, "oauth2_access_token", attempt)
        unionid = result.get("unionid") or self._follower_unionid(result["openid"])
        return ChannelUser("wechat", self.app_id, result["openid"], unionid)

    def _follower_unionid(self, openid: str) -> str | None:
        """The unionid WeChat gives for a follower; None for anyone else, or when it cannot be asked now."""
        client = self.followers
        if client is None:
            return None

        def attempt() -> dict[str, Any]:
            try:
                return dict(client.user.get(openid))
            except WeChatException as error:
                raise from_wechat(error) from error

        try:
            found = self.calls.call(self.app_id, "user_info", attempt)
        except UpstreamUnavailable:
            return None  # the login goes on; the follower's next message or login joins them
        unionid = found.get("unionid") if found.get("subscribe") == 1 else None
        return unionid if isinstance(unionid, str) and unionid else None
