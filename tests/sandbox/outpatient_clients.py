"""Clients for the emulated outpatient systems, written from sandbox/README.md as citytiles' adapters would be."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import requests

SHANGHAI = timezone(timedelta(hours=8))
_serial = itertools.count(1)


def shanghai_today() -> date:
    """Today in Asia/Shanghai."""
    return datetime.now(SHANGHAI).date()


def direct_session() -> requests.Session:
    """An HTTP session that ignores proxy variables (the sandbox is on loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session


def new_patient() -> dict[str, str]:
    """A patient nobody has used yet: a fresh ID number (the format only; no checksum is checked)."""
    number = next(_serial)
    return {"name": "张三", "id_number": f"3301061990{number:07d}X", "phone": "13800138000"}


class ZheyiHis:
    """zheyi_his over HTTP, with its API key read from the state directory."""

    def __init__(self, base: str, state_dir: Any, http: requests.Session) -> None:
        self.url = base + "/upstreams/zheyi-his/fhir"
        self.key = (state_dir / "outpatient" / "zheyi_his.api_key").read_text().strip()
        self.http = http

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
        """One request; key None means the right key, "" means no key."""
        headers = dict(kwargs.pop("headers", {}))
        given = self.key if key is None else key
        if given:
            headers["X-Api-Key"] = given
        return self.http.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def slots(self, service: str, day: date | None = None) -> list[dict[str, Any]]:
        """The Slot resources of a HealthcareService (over the week without a day)."""
        params = {"service": service} | ({"date": day.isoformat()} if day else {})
        answer = self.call("GET", "/Slot", params=params)
        assert answer.status_code == 200, answer.text
        return [entry["resource"] for entry in answer.json()["entry"]]

    def free_slot(self, service: str, capacity: int | None = None) -> dict[str, Any]:
        """The first slot with every place free (and the given capacity)."""
        return next(
            s for s in self.slots(service) if s["remaining"] == s["capacity"] and capacity in (None, s["capacity"])
        )

    def hold(self, slot_id: str, patient: dict[str, str] | None = None) -> requests.Response:
        """POST Appointment/$hold."""
        patient = patient or new_patient()
        body = {"slot": slot_id, "patient": {"name": patient["name"], "idNumber": patient["id_number"]}}
        return self.call("POST", "/Appointment/$hold", json=body)


def sign(secret: str, params: dict[str, str]) -> str:
    """The platform's signature: HMAC-SHA256 over sorted non-empty k=v pairs (sign left out), lowercase hex."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


class ShenzhenHealth:
    """shenzhen_health_platform over HTTP, signing with the app secret from the state directory."""

    APP_ID = "szjk_citytiles_demo"

    def __init__(self, base: str, state_dir: Any, http: requests.Session) -> None:
        self.url = base + "/upstreams/shenzhen-health/open/v1/"
        folder = state_dir / "outpatient" / "shenzhen_health_platform"
        self.secret = (folder / f"{self.APP_ID}.secret").read_text().strip()
        self.http = http

    def signed(self, timestamp: int | None = None, **params: str) -> dict[str, str]:
        """params with the common parameters and a valid signature."""
        body = {
            "app_id": self.APP_ID,
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "nonce": secrets.token_hex(8),
            "sign_type": "HMAC-SHA256",
            **params,
        }
        body["sign"] = sign(self.secret, body)
        return body

    def post(self, action: str, body: Any) -> requests.Response:
        """POST a body as it is."""
        return self.http.post(self.url + action, json=body, timeout=10)

    def call(self, action: str, **params: str) -> dict[str, Any]:
        """A signed call; the answer's JSON."""
        answer = self.post(action, self.signed(**params))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert set(body) == {"code", "msg", "data"}, body
        return body

    def schedules(self, hos_code: str, dep_code: str, work_date: date | None = None) -> list[dict[str, Any]]:
        """schedule/list data."""
        day = {"work_date": work_date.isoformat()} if work_date else {}
        answer = self.call("schedule/list", hos_code=hos_code, dep_code=dep_code, **day)
        assert answer["code"] == "0", answer
        return list(answer["data"])

    def free_schedule(self, hos_code: str, dep_code: str, capacity: int | None = None, paid: bool = True) -> str:
        """The id of the first schedule with every place free (paid or free of charge)."""
        return next(
            s["schedule_id"]
            for s in self.schedules(hos_code, dep_code)
            if s["available_number"] == s["reserved_number"]
            and capacity in (None, s["reserved_number"])
            and (s["amount"] > 0) == paid
        )

    def submit(self, schedule_id: str, patient: dict[str, str] | None = None, out_order_no: str = "") -> dict[str, Any]:
        """order/submit for a patient (a new one unless given)."""
        patient = patient or new_patient()
        return self.call(
            "order/submit",
            schedule_id=schedule_id,
            out_order_no=out_order_no or "CT" + secrets.token_hex(8),
            patient_name=patient["name"],
            patient_id_number=patient["id_number"],
            patient_phone=patient["phone"],
        )
