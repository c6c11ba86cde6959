"""Scripted failures: make the next calls to one emulated endpoint fail the way real ones do.

Modes:
* down        the endpoint answers HTTP 503 (or, with close_connection, drops the connection).
* slow        the endpoint sleeps delay_seconds, then answers normally (outlast a client timeout).
* error       a well-formed channel error: WeChat errcode (default -1 "system error"), Alipay
              code 20000 isp.unknow-error; WeChat Pay HTTP 500 SYSTEM_ERROR, Alipay's trade methods
              code 20000 ACQ.SYSTEM_ERROR; the bills' "not made yet" (WeChat Pay STATEMENT_CREATING,
              Alipay 40004 isv.invalid_arguments); the bill downloads' damaged files (a WeChat Pay bill
              without its last line, so not the file hash_value names; an Alipay zip without its
              业务明细.csv); zheyi_his HTTP 500 OperationOutcome HIS_ERROR;
              shenzhen_health_platform code errcode (default "9999").
* rate_limit  WeChat errcode 45011 (minute quota). WeChat targets only.
* flaky       calls alternate failure (as "error") and success, starting with a failure.

A fault covers the next `times` calls (default 1; flaky defaults to every call), or every call
until cleared when `persistent` is true.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import field

# target -> what it covers. Keep in step with the call sites in wechat.py, wechat_oauth.py,
# wechat_official_account.py, alipay.py, wechat_pay.py, wechat_bill.py and the upstream systems' modules
# (hangzhou_gjj.py, shenzhen_gjj.py, zhejiang_/guangdong_traffic_police.py, zheyi_his.py, shenzhen_health.py).
TARGETS = {
    "wechat.token": "/cgi-bin/token and /cgi-bin/stable_token",
    "wechat.jscode2session": "/sns/jscode2session (mini-program login)",
    "wechat.oauth2": "/sns/oauth2/access_token and refresh_token (official-account web login)",
    "wechat.phone": "/wxa/business/getuserphonenumber",
    "wechat.subscribe_send": "/cgi-bin/message/subscribe/send",
    "wechat.realname": "/cgi-bin/sandbox/realname/check",
    "wechat.custom_send": "/cgi-bin/message/custom/send (official-account customer-service messages)",
    "wechat.user_info": "/cgi-bin/user/info (an official account's follower)",
    "alipay.oauth": "alipay.system.oauth.token",
    "alipay.user_info": "alipay.user.info.share",
    "alipay.certverify": "alipay.user.certdoc.certverify.preconsult and .consult",
    "alipay.message": "alipay.open.app.mini.templatemessage.send",
    "alipay.public_message": "alipay.open.public.message.custom.send (life-account customer-service messages)",
    "alipay.trade_create": "alipay.trade.create",
    "alipay.trade_query": "alipay.trade.query",
    "alipay.trade_close": "alipay.trade.close",
    "alipay.trade_refund": "alipay.trade.refund and alipay.trade.fastpay.refund.query",
    "wechat_pay.order": "POST /v3/pay/transactions/jsapi",
    "wechat_pay.query": "GET /v3/pay/transactions/out-trade-no/{out_trade_no} and /id/{transaction_id}",
    "wechat_pay.close": "POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close",
    "wechat_pay.refund": "POST /v3/refund/domestic/refunds and GET /v3/refund/domestic/refunds/{out_refund_no}",
    "wechat_pay.bill": "GET /v3/bill/tradebill (error: 400 STATEMENT_CREATING, the bill is not made yet)",
    "alipay.bill": "alipay.data.dataservice.bill.downloadurl.query (error: the bill is not made yet)",
    "wechat_pay.bill_download": "GET /v3/billdownload/file (error: the file comes without its last line)",
    "alipay.bill_download": "GET /downloadBillFile.resource (error: the zip holds the summary file only)",
    "housing_fund.hangzhou_gjj": "/upstreams/hangzhou-gjj/api/* (every operation)",
    "housing_fund.shenzhen_gjj": "/upstreams/shenzhen-gjj/v2/accounts/* (not the token endpoint)",
    "car_move.zhejiang_traffic_police": "/upstreams/zhejiang-traffic-police/api/v1/move-requests*",
    "car_move.guangdong_traffic_police": "/upstreams/guangdong-traffic-police/api/vehicle/owner-check",
    "outpatient.zheyi_his": "every /upstreams/zheyi-his/ endpoint",
    "outpatient.shenzhen_health_platform": "every /upstreams/shenzhen-health/ endpoint",
}
MODES = ("down", "slow", "error", "rate_limit", "flaky")


@dataclass
class Fault:
    """One armed fault."""

    target: str
    mode: str
    remaining: int | None  # None: until cleared
    delay_seconds: float = 0.0
    errcode: int | None = None
    close_connection: bool = False
    calls: int = 0

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        return {
            "target": self.target,
            "mode": self.mode,
            "remaining": self.remaining,
            "delay_seconds": self.delay_seconds,
            "errcode": self.errcode,
            "close_connection": self.close_connection,
            "calls": self.calls,
        }


@dataclass
class Effect:
    """What to do to one call: the mode to act out and its parameters."""

    mode: str  # down, slow, error or rate_limit (flaky resolves to error or nothing)
    delay_seconds: float = 0.0
    errcode: int | None = None
    close_connection: bool = False


@dataclass
class FaultBoard:
    """The armed faults, at most one per target."""

    _faults: dict[str, Fault] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, fault: Fault) -> None:
        """Arm fault, replacing any fault on the same target."""
        with self._lock:
            self._faults[fault.target] = fault

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[dict[str, object]]:
        """The armed faults, for the helper API."""
        with self._lock:
            return [fault.describe() for fault in self._faults.values()]

    def take(self, target: str) -> Effect | None:
        """The effect for this call to target, using up one call of its fault."""
        with self._lock:
            fault = self._faults.get(target)
            if fault is None:
                return None
            fault.calls += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[target]
            if fault.mode == "flaky":
                if fault.calls % 2 == 0:
                    return None
                return Effect("error", errcode=fault.errcode)
            return Effect(fault.mode, fault.delay_seconds, fault.errcode, fault.close_connection)
