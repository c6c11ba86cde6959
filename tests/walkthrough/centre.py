"""An emulated third fund centre (Ningbo) for the walk-through: its own dialect, sharing no code with the adapter."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

PAGE_SIZE = 20
STATES = {"normal": "zhengchang", "sealed": "fengcun", "frozen": "dongjie"}
KINDS = {"deposit": "huijiao", "supplementary": "bujiao", "interest": "jiexi", "withdrawal": "tiqu"}


def yuan(fen: int) -> str:
    """Fen as the centre writes money: yuan with two decimals, signed."""
    return f"{Decimal(fen) / 100:.2f}"


@dataclass
class NingboCentre:
    """The centre's state: accounts by ID number, page tokens it issued, and a fault mode (down or error)."""

    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    mode: str | None = None
    # When set, every answer with the right key is these bytes, 200: what a broken front end might say.
    garbage: bytes | None = None
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    pages: dict[str, tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(
        self,
        id_number: str,
        name: str,
        *,
        balance_fen: int,
        monthly_fen: int = 0,
        status: str = "normal",
        records: list[dict[str, Any]] | None = None,
        loan: dict[str, Any] | None = None,
    ) -> None:
        """Open an account as the sandbox's helper does: a year of monthly deposits when no records are given."""
        if records is None:
            records = [
                {"date": f"2026-{m:02d}-15", "kind": "deposit", "amount_fen": monthly_fen}
                for m in range(1, 13)
                if monthly_fen
            ]
        newest_first = sorted(records, key=lambda r: r["date"], reverse=True)
        deposits = [r["date"] for r in newest_first if r["kind"] != "withdrawal"]
        account = {
            "name": name,
            "status": status,
            "balance_fen": balance_fen,
            "monthly_fen": monthly_fen,
            "records": newest_first,
            "last_deposit": deposits[0] if deposits else None,
            "loan": loan,
        }
        with self.lock:
            self.accounts[id_number] = account

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The WSGI application: POST /chaxun/<question> with a JSON body and X-Api-Key."""
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        if self.mode == "down":
            return Response("<html>503 Service Unavailable</html>", 503, content_type="text/html")
        if request.headers.get("X-Api-Key") != self.api_key:
            return reply({"zhuangtai": "miyaocuowu"}, 401)
        if self.mode == "error":
            return reply({"zhuangtai": "fanmang"})
        if self.garbage is not None:
            return Response(self.garbage, 200, content_type="application/json")
        question = request.path.rpartition("/chaxun/")[2]
        body = request.get_json(silent=True) or {}
        with self.lock:
            account = self.accounts.get(body.get("shenfenzhenghao", ""))
        if account is None:
            return reply({"zhuangtai": "wuzhanghu"})
        if account["name"] != body.get("xingming"):
            return reply({"zhuangtai": "xingmingbufu"})
        if account["status"] == "closed":
            return reply({"zhuangtai": "yixiaohu"})
        answers = {"zhanghu": self.zhanghu, "mingxi": self.mingxi, "daikuan": self.daikuan}
        if question not in answers:
            return reply({"zhuangtai": "wucizhiling"}, 404)
        return answers[question](body, account)

    def zhanghu(self, body: dict[str, Any], account: dict[str, Any]) -> Response:
        monthly = account["monthly_fen"]
        return success(
            {
                "zhanghao": "3302" + body["shenfenzhenghao"][-8:],
                "zhanghuzhuangtai": STATES[account["status"]],
                "yue": yuan(account["balance_fen"]),
                "gerenyuejiao": yuan(monthly // 2),
                "danweiyuejiao": yuan(monthly - monthly // 2),
                "jiaocunjishu": yuan(monthly * 100 // 24),
                "kaihuriqi": "2016-03-01",
                "zuihoujiaocun": account["last_deposit"],
                "danwei": "宁波市示范港务有限公司",
                "youdaikuan": account["loan"] is not None,
            }
        )

    def mingxi(self, body: dict[str, Any], account: dict[str, Any]) -> Response:
        token = body.get("yema")
        start = 0
        if token is not None:
            with self.lock:
                issued = self.pages.get(token)
            if issued is None or issued[0] != body["shenfenzhenghao"]:
                return reply({"zhuangtai": "yemawuxiao"})
            start = issued[1]
        page = account["records"][start : start + PAGE_SIZE]
        following = None
        if start + PAGE_SIZE < len(account["records"]):
            following = secrets.token_hex(8)
            with self.lock:
                self.pages[following] = (body["shenfenzhenghao"], start + PAGE_SIZE)
        balance = account["balance_fen"]
        items = []
        for record in page:
            amount = -record["amount_fen"] if record["kind"] == "withdrawal" else record["amount_fen"]
            items.append(
                {
                    "riqi": record["date"],
                    "leixing": KINDS[record["kind"]],
                    "jine": yuan(amount),
                    "zhaiyao": "单位汇缴" if record["kind"] == "deposit" else record["kind"],
                    "yue": yuan(balance),
                }
            )
            balance -= amount
        return success({"mingxi": items, "xiayiye": following})

    def daikuan(self, body: dict[str, Any], account: dict[str, Any]) -> Response:
        loan = account["loan"]
        if loan is None:
            return success({"daikuan": None})
        return success(
            {
                "daikuan": {
                    "daikuanhao": "NBDK" + body["shenfenzhenghao"][-6:],
                    "benjin": yuan(loan["principal_fen"]),
                    "yue": yuan(loan["balance_fen"]),
                    "fafangriqi": loan["issued_on"],
                    "qishu": loan["term_months"],
                    "shengyuqishu": loan["term_months"] - 12,
                    "nianlilv": f"{Decimal(loan.get('rate_bp', 310)) / 100:.2f}",
                    "yuegong": "3456.78",
                    "xiacihuankuan": None,
                    "yuqiqishu": 0,
                    "yuqijine": "0.00",
                }
            }
        )


def success(data: dict[str, Any]) -> Response:
    return reply({"zhuangtai": "chenggong", "shuju": data})


def reply(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, content_type="application/json; charset=utf-8")
