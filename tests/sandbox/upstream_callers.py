"""Minimal callers of the emulated upstream systems, written from sandbox/README.md as an adapter would be."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import requests

BEIJING = timezone(timedelta(hours=8))
HANGZHOU_JGH = "330100"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def new_id_number(region: str = "330106") -> str:
    """A fresh, well-formed ID number (random birth date and sequence, right check digit)."""
    born = datetime(1960, 1, 1) + timedelta(days=secrets.randbelow(365 * 40))
    first = f"{region}{born:%Y%m%d}{secrets.randbelow(1000):03d}"
    return first + "10X98765432"[sum(int(d) * w for d, w in zip(first, _WEIGHTS, strict=True)) % 11]


def open_account(sandbox: Any, system: str, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    """Open a fund account through the helper; (id_number, name, helper answer)."""
    body = {"system": system, "id_number": new_id_number(), "name": "测试人", "balance_fen": 1_234_567, **fields}
    response = sandbox.helper("POST", "housing-fund/accounts", json=body)
    assert response.status_code == 201, response.text
    return body["id_number"], body["name"], response.json()


def credential(sandbox: Any, system: str) -> tuple[str, str]:
    """(public id, secret) of an upstream system, from GET /_sandbox/upstreams."""
    systems = sandbox.helper("GET", "upstreams").json()["systems"]
    found = next(entry for entry in systems if entry["system"] == system)
    return found["client_id"], found["secret"]


def beijing_timestamp(shift_seconds: float = 0) -> str:
    """yyyyMMddHHmmss in Beijing time."""
    return (datetime.now(BEIJING) + timedelta(seconds=shift_seconds)).strftime("%Y%m%d%H%M%S")


def hangzhou_sign(secret: str, params: dict[str, str]) -> str:
    """HMAC-SHA256 over the sorted non-empty parameters except sign, upper-case hex."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return hmac.new(secret.encode("ascii"), text.encode("utf-8"), hashlib.sha256).hexdigest().upper()


@dataclass
class HangzhouGjj:
    """Signed form posts to /upstreams/hangzhou-gjj/api/<operation>."""

    base: str
    http: requests.Session
    appid: str
    secret: str

    def form(self, **params: str) -> dict[str, str]:
        """A signed form: the common parameters, then params (which may override them)."""
        form = {
            "appid": self.appid,
            "jgh": HANGZHOU_JGH,
            "timestamp": beijing_timestamp(),
            "nonce": secrets.token_hex(8),
            **params,
        }
        form["sign"] = hangzhou_sign(self.secret, form)
        return form

    def post(self, operation: str, form: dict[str, str], **kwargs: Any) -> requests.Response:
        """Post an already built form."""
        return self.http.post(f"{self.base}/upstreams/hangzhou-gjj/api/{operation}", data=form, timeout=10, **kwargs)

    def call(self, operation: str, **params: str) -> dict[str, Any]:
        """Sign and post params; the decoded answer."""
        response = self.post(operation, self.form(**params))
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()


@dataclass
class ShenzhenGjj:
    """Bearer-token JSON calls to /upstreams/shenzhen-gjj/v2/."""

    base: str
    http: requests.Session
    client_id: str
    client_secret: str
    token: str | None = None

    def fetch_token(self) -> dict[str, Any]:
        """Ask the token endpoint for a new token and keep it."""
        body = {"grantType": "client_credentials", "clientId": self.client_id, "clientSecret": self.client_secret}
        response = self.http.post(f"{self.base}/upstreams/shenzhen-gjj/v2/auth/token", json=body, timeout=10)
        assert response.status_code == 200, response.text
        self.token = response.json()["accessToken"]
        return response.json()

    def post(self, path: str, body: Any, token: str | None = None) -> requests.Response:
        """POST JSON to a v2 path with the bearer token (fetched first if there is none)."""
        if token is None and self.token is None:
            self.fetch_token()
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.post(f"{self.base}/upstreams/shenzhen-gjj/v2/{path}", json=body, headers=headers, timeout=10)


@dataclass
class ZhejiangTrafficPolice:
    """Access-token JSON calls to /upstreams/zhejiang-traffic-police/api/v1/."""

    base: str
    http: requests.Session
    app_key: str
    app_secret: str
    token: str | None = None

    def fetch_token(self) -> str:
        """A new access token, kept for later calls."""
        body = {"appKey": self.app_key, "appSecret": self.app_secret}
        answer = self.http.post(self._url("token"), json=body, timeout=10).json()
        assert answer["code"] == 0, answer
        self.token = answer["data"]["accessToken"]
        return self.token

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> requests.Response:
        """One API call with X-Access-Token."""
        if token is None and self.token is None:
            self.fetch_token()
        headers = {"X-Access-Token": token or self.token or ""}
        return self.http.request(method, self._url(path), json=body, headers=headers, timeout=10)

    def submit(self, plate: str, requester_ref: str = "resident-0001", **extra: Any) -> dict[str, Any]:
        """Submit a move request; the decoded answer."""
        body = {
            "requestNo": extra.pop("request_no", "req-" + secrets.token_hex(6)),
            "hphm": plate,
            "hpzl": extra.pop("hpzl", "52" if len(str(plate)) == 8 else "02"),
            "location": extra.pop(
                "location", {"address": "杭州市西湖区文三路90号", "longitude": 120.13, "latitude": 30.28}
            ),
            "requesterRef": requester_ref,
            **extra,
        }
        return self.call("POST", "move-requests", body).json()

    def _url(self, path: str) -> str:
        return f"{self.base}/upstreams/zhejiang-traffic-police/api/v1/{path}"


@dataclass
class GuangdongTrafficPolice:
    """Header-signed JSON calls to /upstreams/guangdong-traffic-police/api/vehicle/owner-check."""

    base: str
    http: requests.Session
    app_id: str
    secret: str
    path: str = "/upstreams/guangdong-traffic-police/api/vehicle/owner-check"
    sent: list[dict[str, str]] = field(default_factory=list)

    def headers(self, raw: bytes, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        """The four signature headers for this body."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(8)
        canonical = "\n".join(("POST", self.path, stamp, nonce, hashlib.sha256(raw).hexdigest()))
        digest = hmac.new(self.secret.encode("ascii"), canonical.encode("utf-8"), hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-GDTP-AppId": self.app_id,
            "X-GDTP-Timestamp": stamp,
            "X-GDTP-Nonce": nonce,
            "X-GDTP-Signature": base64.b64encode(digest).decode(),
        }

    def post(self, raw: bytes, headers: dict[str, str]) -> requests.Response:
        """Send raw body bytes with the given headers."""
        self.sent.append(headers)
        return self.http.post(self.base + self.path, data=raw, headers=headers, timeout=10)

    def check(self, body: dict[str, Any]) -> requests.Response:
        """Sign and send a JSON body."""
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self.post(raw, self.headers(raw))
