"""The least any server must do for a WeChat Pay notification: a bare Flask app with raw psycopg, served like citytiles.

It verifies the RSA signature over the raw body, opens the AES-GCM resource, and in one transaction
remembers the delivery, locks the payment and applies the paid writes in one statement (the move,
the ledger entry and lines, the outbox task, the kept notification). It skips what a product
needs but a floor does not: the request log, the checks against our order, sealing, pool pings,
the ORM. bench/notifications.py serves it beside citytiles and the hello, so the figures show how
much of the gap is the work itself. Configured by environment variables (FLOOR_*), read at the
first request, never at import.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from datetime import UTC
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask
from flask import Response
from flask import request

app = Flask(__name__)
_connections = threading.local()
REMEMBER = (
    "INSERT INTO notification_nonces (channel, nonce, seen_at) VALUES ('wechat', %s, %s) "
    "ON CONFLICT DO NOTHING RETURNING nonce"
)
LOCK = (
    "SELECT id, status, out_trade_no, amount_fen, channel, merchant_id, city_code, service_code "
    "FROM payments WHERE out_trade_no = %s FOR UPDATE"
)


@cache
def _keys() -> tuple[Any, AESGCM]:
    """The WeChat Pay public key and the APIv3 key, from the files FLOOR_* name."""
    with open(os.environ["FLOOR_PUBLIC_KEY_FILE"], "rb") as pem:
        public_key = load_pem_public_key(pem.read())
    with open(os.environ["FLOOR_APIV3_KEY_FILE"], "rb") as key:
        return public_key, AESGCM(key.read().strip())


# The paid writes after the lock, as citytiles made them until its one statement at first sight (a55f3b1):
# the move guarded by the status read under the lock; the entry, its lines and the task if it moved.
PAID = """
    WITH moved AS (
        UPDATE payments SET status = :status, paid_at = :paid_at, channel_trade_no = :channel_trade_no,
            updated_at = :received_at
        WHERE id = :payment_id AND status = :was
        RETURNING id, out_trade_no
    ), entry AS (
        INSERT INTO ledger_entries (key, kind, payment_id, refund_id, posted_at)
        SELECT :entry_key, 'payment', id, NULL, :received_at FROM moved
        ON CONFLICT (key) DO NOTHING
        RETURNING id
    ), lines AS (
        INSERT INTO ledger_lines (entry_id, account, amount_fen)
        SELECT entry.id, line.account, line.amount_fen
        FROM entry, (VALUES (:debit, :debit_fen), (:credit, :credit_fen)) AS line (account, amount_fen)
    ), task AS (
        INSERT INTO outbox_tasks (kind, ref, due_at, attempts, created_at)
        SELECT :task_kind, out_trade_no, :received_at, 0, :received_at FROM moved
        ON CONFLICT (kind, ref) DO NOTHING
    )
    INSERT INTO payment_notifications
        (channel, event_id, payment_id, kind, out_refund_no, raw_sealed, outcome, copies, received_at, last_received_at)
    VALUES (:channel, :event_id, :payment_id, :kind, :out_refund_no, :raw_sealed, :outcome, :copies, :received_at,
        :last_received_at)
    ON CONFLICT (channel, event_id) DO UPDATE
        SET copies = payment_notifications.copies + 1, last_received_at = EXCLUDED.received_at
    RETURNING (SELECT count(*) FROM moved)
    """


@cache
def _paid_statement() -> str:
    """PAID with psycopg's placeholders."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", PAID)


def _connection() -> psycopg.Connection[Any]:
    connection = getattr(_connections, "connection", None)
    if connection is None:
        connection = _connections.connection = psycopg.connect(os.environ["FLOOR_DSN"])
    return connection


@app.post("/notify")
def notify() -> Response:
    """Verified, opened and applied once, or 500 (WeChat sends it again)."""
    public_key, apiv3 = _keys()
    body, headers = request.get_data(), request.headers
    timestamp, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    signed = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    public_key.verify(base64.b64decode(headers["Wechatpay-Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
    envelope = json.loads(body)
    sealed = envelope["resource"]
    resource = json.loads(
        apiv3.decrypt(
            sealed["nonce"].encode(), base64.b64decode(sealed["ciphertext"]), sealed["associated_data"].encode()
        )
    )
    now = datetime.now(UTC)
    connection = _connection()
    with connection.transaction():
        if connection.execute(REMEMBER, (f"{nonce}:{timestamp}", now)).fetchone() is None:
            return Response(status=500)
        row = connection.execute(LOCK, (resource["out_trade_no"],)).fetchone()
        if row is None or row[1] != "created":
            return Response(status=500)
        payment_id, status, out_trade_no, amount, channel, merchant, city, service = row
        connection.execute(
            _paid_statement(),
            {
                "channel": channel,
                "event_id": envelope["id"],
                "payment_id": payment_id,
                "kind": "payment",
                "out_refund_no": None,
                "raw_sealed": body.decode(),
                "outcome": "applied",
                "copies": 1,
                "received_at": now,
                "last_received_at": now,
                "was": status,
                "status": "paid",
                "paid_at": now,
                "channel_trade_no": resource.get("transaction_id"),
                "entry_key": f"paid:{out_trade_no}",
                "debit": f"clearing:{channel}:{merchant}",
                "debit_fen": amount,
                "credit": f"revenue:{city}:{service}",
                "credit_fen": -amount,
                "task_kind": "fulfil",
            },
        )
    return Response(status=204)


@app.get("/")
def up() -> dict[str, str]:
    """Served: what the benchmark waits for."""
    return {"floor": "up"}
