"""WeChat logins: mini-program jscode2session and official-account web authorisation."""

from __future__ import annotations

import requests
from wechatpy.exceptions import WeChatException
from wechatpy.oauth import WeChatOAuth

from channels.calls import answer_fields
from channels.calls import channel_call
from channels.wechat.client import StableTokenClient
from channels.wechat.client import TimeoutSession
from channels.wechat.errors import from_wechat
from identity.ports import ChannelUser


class MiniProgramLogin:
    """wx.login code → openid, unionid and session_key, through jscode2session."""

    name = "wechat_mini_program"
    channel = "wechat"

    def __init__(self, client: StableTokenClient) -> None:
        self.client = client
        self.app_id = client.appid

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; the session_key stays on the server."""
        with channel_call("wechat", "jscode2session", self.app_id):
            try:
                result = self.client.wxa.code_to_session(code)
            except (WeChatException, requests.RequestException, ValueError, KeyError) as error:
                raise from_wechat(error) from error
            result = answer_fields("wechat", "jscode2session", result, "openid")
        return ChannelUser(
            "wechat", self.app_id, result["openid"], result.get("unionid"), secret=result.get("session_key")
        )


class OfficialAccountLogin:
    """Official-account web authorisation code → openid (and unionid under snsapi_userinfo)."""

    name = "wechat_official_account"
    channel = "wechat"

    def __init__(self, app_id: str, secret: str, *, base_url: str, timeout: float) -> None:
        self.app_id, self.secret, self.base_url, self.timeout = app_id, secret, base_url.rstrip("/"), timeout

    def exchange_code(self, code: str) -> ChannelUser:
        """Exchange the code; a fresh WeChatOAuth per call because it keeps the result on itself."""
        oauth = WeChatOAuth(self.app_id, self.secret, redirect_uri="", scope="snsapi_base")
        oauth.API_BASE_URL = self.base_url + "/"
        oauth.OAUTH_BASE_URL = self.base_url + "/connect/"
        oauth._http = TimeoutSession(self.timeout)  # WeChatOAuth sets no timeout of its own
        with channel_call("wechat", "oauth2_access_token", self.app_id):
            try:
                result = oauth.fetch_access_token(code)
            except (WeChatException, requests.RequestException, ValueError, KeyError) as error:
                raise from_wechat(error) from error
            result = answer_fields("wechat", "oauth2_access_token", result, "openid")
        return ChannelUser("wechat", self.app_id, result["openid"], result.get("unionid"))
