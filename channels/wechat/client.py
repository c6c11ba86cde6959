"""wechatpy's client, pointed at the configured WeChat base URL, with stable tokens in shared storage."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from channels.calls import answer_fields
from channels.calls import unreadable_answer


class StableTokenClient(WeChatClient):  # type: ignore[misc]  # wechatpy ships no types
    """A WeChatClient whose access token comes from /cgi-bin/stable_token.

    wechatpy 1.8 hard-codes the classic /cgi-bin/token URL, which hands out a new token on every
    call and so makes workers invalidate each other; the stable token does not rotate on fetch.
    """

    def __init__(self, appid: str, secret: str, *, base_url: str, storage: Any, timeout: float) -> None:
        super().__init__(appid, secret, session=storage, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        # The one place the SDK is pointed elsewhere: instance attributes its requests read.
        self.API_BASE_URL = self.base_url + "/cgi-bin/"
        self.wxa.API_BASE_URL = self.base_url + "/"

    def _decode_result(self, res: requests.Response) -> dict[str, Any]:
        """The answer as a JSON object, or UpstreamUnavailable (wechatpy would hand back the raw response)."""
        return decoded_answer(res, "api")

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch the stable token and keep it in the shared storage until it expires."""
        response = self._http.post(
            self.base_url + "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": False,
            },
            timeout=self.timeout,
        )
        response.raise_for_status()
        result = decoded_answer(response, "stable_token")
        if result.get("errcode", 0) != 0:
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self, response=response)
        result = answer_fields("wechat", "stable_token", result, "access_token", "expires_in")
        if not isinstance(result["expires_in"], int):
            raise unreadable_answer("wechat", "stable_token", result)
        self.session.set(self.access_token_key, result["access_token"], result["expires_in"])
        self.expires_at = int(time.time()) + result["expires_in"]
        return result


class CheckedOAuth(WeChatOAuth):  # type: ignore[misc]  # wechatpy ships no types
    """wechatpy's official-account OAuth, with each answer checked before the SDK reads fields out of it."""

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> dict[str, Any]:
        """Send, then refuse an HTTP error status, an answer that is not a JSON object, or an error code."""
        url = url_or_endpoint
        if not url.startswith(("http://", "https://")):
            url = self.API_BASE_URL + url
        response = self._http.request(method=method, url=url, **kwargs)
        response.raise_for_status()
        result = decoded_answer(response, "oauth2")
        if result.get("errcode", 0) != 0:
            raise WeChatOAuthException(
                result["errcode"],
                str(result.get("errmsg", "")),
                client=self,
                request=response.request,
                response=response,
            )
        return answer_fields("wechat", "oauth2", result, "access_token", "openid", "refresh_token", "expires_in")


def decoded_answer(response: requests.Response, operation: str) -> dict[str, Any]:
    """A WeChat answer as a JSON object with a whole-number errcode, or UpstreamUnavailable.

    wechatpy returns the raw response for an answer that is not JSON and crashes on an errcode that
    is not a number; deciding here keeps an odd answer an outage and a crash a bug of ours.
    """
    try:
        result = json.loads(response.content.decode("utf-8"), strict=False)
    except ValueError:
        result = None
    if not isinstance(result, dict) or not isinstance(result.get("errcode", 0), int):
        raise unreadable_answer("wechat", operation, result)
    return result


class TimeoutSession(requests.Session):
    """A requests session that never waits forever, for SDK objects that set no timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.trust_env = False

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send with the default timeout unless the caller gave one."""
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


def token_storage(redis_url: str | None) -> Any:
    """Redis when configured, so every worker shares one token; otherwise this process's memory."""
    if redis_url:
        return RedisStorage(redis.Redis.from_url(redis_url), prefix="citytiles:wechat")
    return MemoryStorage()
