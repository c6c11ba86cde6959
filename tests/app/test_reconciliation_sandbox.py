"""End to end: payments at the sandbox, differences planted in its bills, and `flask reconcile` finds exactly those."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from billing import statuses
from billing.bill_lines import BEIJING
from billing.payments import Charge
from billing.payments import open_payment
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.refunds import request_refund
from config import Settings
from tests.billing.world import add_resident
from tests.billing.world import payment
from tests.conftest import Clock
from tests.conftest import Sandbox

MINI, ALIPAY, MERCHANT = "wx7c1b5d1e2f3a4b50", "2021004100000001", "1900000109"
# channel -> (app, merchant, callback path, the pay helper, the sandbox's name of the channel)
CHANNELS = {
    "wechat": (MINI, MERCHANT, f"/callbacks/wechat-pay/{MERCHANT}", "wechat-pay/pay", "wechat_pay"),
    "alipay": (ALIPAY, ALIPAY, f"/callbacks/alipay/{ALIPAY}", "alipay/pay", "alipay"),
}


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox of this test's own: its bills hold this test's payments and nobody else's."""
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    state_dir = tmp_path / "sandbox-state"
    state_dir.mkdir()
    base, stop = serve_in_thread(SandboxConfig(state_dir=state_dir))
    yield Sandbox(base, state_dir)
    stop()


@pytest.fixture
def channel_app(own_sandbox: Sandbox, settings: Settings, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    configured = own_sandbox.channel_settings(tmp_path)
    application = create_app(
        replace(
            settings,
            channel_apps_file=configured.channel_apps_file,
            channels=configured.channels,
            channel_timeout_seconds=configured.channel_timeout_seconds,
        ),
        clock=clock,
    )
    clock.now = datetime.now(UTC)  # the sandbox signs and bills with the wall clock
    yield application
    application.extensions["engine"].dispose()


def pay(app: Flask, sandbox: Sandbox, clock: Clock, channel: str, amount_fen: int) -> str:
    """A payment placed at the sandbox, paid there, its notification applied; its out_trade_no."""
    app_id, _, callback, pay_path, _ = CHANNELS[channel]
    payer = sandbox.wechat_code(MINI)["openid"] if channel == "wechat" else sandbox.alipay_code()["open_id"]
    gateway = app.extensions["channels"].payments[app_id]
    with app.extensions["session_factory"]() as db:
        charge = Charge(
            purpose="test_fee",
            purpose_ref="tf" + secrets.token_hex(8),
            resident_id=add_resident(db, clock),
            city_code="330100",
            service_code="outpatient",
            app_id=app_id,
            payer=payer,
            amount_fen=amount_fen,
            description="挂号费",
            expires_at=clock() + timedelta(minutes=10),
            notify_url="http://127.0.0.1:9/unused",
        )
        out_trade_no = open_payment(db, gateway, charge, clock).out_trade_no
    sent = sandbox.helper("POST", pay_path, json={"out_trade_no": out_trade_no, "deliver": False})["notification"]
    headers = {
        k: v for k, v in sent["headers"].items() if k.lower() == "content-type" or k.lower().startswith("wechatpay-")
    }
    clock.now = datetime.now(UTC)
    assert app.test_client().post(callback, data=sent["body"].encode(), headers=headers).status_code in (200, 204)
    assert payment(app, out_trade_no).status == statuses.PAID
    return out_trade_no


def reconcile(app: Flask, channel: str) -> tuple[ReconciliationRun, list[Discrepancy], str]:
    today = datetime.now(BEIJING).date().isoformat()
    result = app.test_cli_runner().invoke(args=["reconcile", "--date", today, "--channel", channel])
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        run = db.scalars(select(ReconciliationRun).where(ReconciliationRun.channel == channel)).one()
        found = list(db.scalars(select(Discrepancy).where(Discrepancy.run_id == run.id)))
    return run, found, result.output


@pytest.mark.parametrize("channel", CHANNELS)
def test_reconcile_finds_exactly_the_differences_planted_in_the_channels_bill(
    channel_app: Flask, own_sandbox: Sandbox, clock: Clock, channel: str
) -> None:
    sandbox_name = CHANNELS[channel][4]
    agreed, changed, dropped = (pay(channel_app, own_sandbox, clock, channel, amount) for amount in (2500, 1800, 990))
    refunded = pay(channel_app, own_sandbox, clock, channel, 3000)
    gateway = channel_app.extensions["channels"].payments[CHANNELS[channel][0]]
    with channel_app.extensions["session_factory"]() as db:
        refund = request_refund(
            db, gateway, payment(channel_app, refunded).id, 1000, "患者取消", "test", "http://127.0.0.1:9/u", clock
        )
    if channel == "wechat":
        own_sandbox.helper("POST", "refund-outcome", json={"out_refund_no": refund.out_refund_no, "outcome": "success"})
    for body in (
        {"kind": "amount_differs", "out_trade_no": changed, "amount_fen": 1900},
        {"kind": "missing_payment", "out_trade_no": dropped},
        {"kind": "extra_payment", "amount_fen": 700},
    ):
        own_sandbox.helper("POST", "bills/discrepancies", json={"channel": sandbox_name, **body})
    stranger = own_sandbox.helper("GET", "bills/discrepancies")["discrepancies"][-1]["out_trade_no"]
    run, found, output = reconcile(channel_app, channel)
    assert run.status == "reconciled", output
    # WeChat settles a refund later and says so by a notification, sent here to an unused URL: the bill has it
    # refunded while our books still wait. Alipay answers the refund settled at once.
    expected = {
        ("amount_mismatch", changed, 100),
        ("missing_in_bill", dropped, 990),
        ("missing_in_ledger", stranger, 700),
    }
    refund_found = {(d.kind, d.out_refund_no) for d in found if d.out_refund_no}
    assert {(d.kind, d.out_trade_no, d.at_stake_fen) for d in found if not d.out_refund_no} == expected
    assert refund_found == ({("status_mismatch", refund.out_refund_no)} if channel == "wechat" else set())
    summary = run.summary or {}
    assert summary["balances"] is True and summary["bad_lines"] == 0
    assert summary["bill"]["payments"] == 4 and summary["bill"]["paid_fen"] == 2500 + 1900 + 3000 + 700
    assert summary["ledger"]["paid_fen"] == 2500 + 1800 + 990 + 3000
    assert f"{channel} " in output and "discrepancies:" in output
    assert agreed not in {d.out_trade_no for d in found}
    again, found_again, _ = reconcile(channel_app, channel)
    assert {d.public_id for d in found_again} == {d.public_id for d in found}
    assert again.summary == run.summary


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_damaged_bill_fails_the_run_with_the_reason(
    channel_app: Flask, own_sandbox: Sandbox, clock: Clock, channel: str
) -> None:
    pay(channel_app, own_sandbox, clock, channel, 2500)
    fault = {"target": f"{CHANNELS[channel][4]}.bill_download", "mode": "error"}
    own_sandbox.helper("POST", "faults", json=fault)
    run, found, output = reconcile(channel_app, channel)
    assert (run.status, found) == ("failed", [])
    assert run.failure and ("hash" in run.failure or "summary" in run.failure or "archive" in run.failure), output
    own_sandbox.helper("DELETE", "faults")
    fixed, found, _ = reconcile(channel_app, channel)
    assert (fixed.status, fixed.failure, found) == ("reconciled", None, [])


def test_a_bill_not_made_yet_waits_and_the_command_says_so(
    channel_app: Flask, own_sandbox: Sandbox, clock: Clock
) -> None:
    pay(channel_app, own_sandbox, clock, "wechat", 2500)
    own_sandbox.helper("POST", "faults", json={"target": "wechat_pay.bill", "mode": "error", "times": 1})
    today = datetime.now(BEIJING).date().isoformat()
    result = channel_app.test_cli_runner().invoke(args=["reconcile", "--date", today, "--channel", "wechat"])
    assert result.exit_code == 75 and "waiting (billing.bill_not_ready)" in result.output
    run, _, _ = reconcile(channel_app, "wechat")
    assert run.status == "reconciled"
