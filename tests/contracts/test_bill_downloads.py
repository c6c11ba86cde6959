"""The PaymentGateway's day bill, run over the fake and over WeChat Pay v3 and Alipay in the sandbox.

The sandbox is shared by the tests of one worker, so today's bill may hold other tests' money: each
test looks for its own orders in it, and checks that the bill's own totals add up over every line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from billing.bill_lines import BEIJING
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bills import read_bill
from billing.gateway import BillNotReady
from billing.gateway import BillRefused
from billing.gateway import DayBill
from errors import UpstreamUnavailable
from tests.conftest import Sandbox
from tests.contracts.test_payment_gateways import FakeSide
from tests.contracts.test_payment_gateways import SandboxSide
from tests.contracts.test_payment_gateways import Side
from tests.contracts.test_payment_gateways import a_refund
from tests.contracts.test_payment_gateways import paid
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import start_receiver

# The sandbox's bill helpers and faults name the channels so.
SANDBOX_CHANNELS = {"wechat": "wechat_pay", "alipay": "alipay"}


def today() -> date:
    return datetime.now(BEIJING).date()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    bills = tmp_path / "bills"
    bills.mkdir()
    return bills


@pytest.fixture
def receiver(clean_sandbox: Sandbox) -> Iterator[Receiver]:
    """A notify_url of the test's own; differences planted in the shared sandbox's bills go with it."""
    listening, stop = start_receiver()
    listening.answer_with(then=(200, b"success"))
    yield listening
    stop()
    clean_sandbox.helper("DELETE", "bills/discrepancies")


@pytest.fixture(params=["fake", "wechat", "alipay"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Side:
    if request.param == "fake":
        return FakeSide()
    return SandboxSide(
        request.getfixturevalue("clean_sandbox"), tmp_path, request.getfixturevalue("receiver"), request.param
    )


def plant(side: Side, kind: str, out_trade_no: str | None = None, amount_fen: int | None = None) -> str:
    """Make today's bill differ from what happened; the order number it names."""
    if isinstance(side, FakeSide):
        return side.gateway.plant_bill_difference(kind, out_trade_no, amount_fen)
    body = {"channel": SANDBOX_CHANNELS[side.channel], "kind": kind}
    body |= {"out_trade_no": out_trade_no} if out_trade_no else {}
    body |= {"amount_fen": amount_fen} if amount_fen is not None else {}
    number: str = side.sandbox.helper("POST", "bills/discrepancies", json=body)["discrepancy"]["out_trade_no"]
    return number


def not_made_yet(side: Side) -> None:
    if isinstance(side, FakeSide):
        side.gateway.bill_not_ready(today())
    else:
        fault = {"target": f"{SANDBOX_CHANNELS[side.channel]}.bill", "mode": "error", "times": 2}
        side.sandbox.helper("POST", "faults", json=fault)


def lines_of(side: Side, bill: DayBill) -> list[BillLine]:
    """Every line of the bill, checked to add up to its own summary and to have no unreadable line."""
    with read_bill(bill) as reader:
        entries = list(reader.entries())
        summary = reader.summary
    assert not [entry for entry in entries if isinstance(entry, BadLine)]
    lines = [entry for entry in entries if isinstance(entry, BillLine)]
    assert summary is not None and summary.count == len(lines)
    assert summary.paid_fen == sum(line.amount_fen for line in lines if line.kind == "payment")
    assert summary.refunded_fen == sum(line.amount_fen for line in lines if line.kind == "refund")
    assert summary.fee_fen == sum(line.fee_fen for line in lines)
    return lines


def test_the_days_bill_holds_its_payments_and_refunds_with_fees_and_adds_up(side: Side, folder: Path) -> None:
    first, _ = paid(side, 2500)
    second, _ = paid(side, 175)
    refund = a_refund(side, first, 1000)
    side.gateway.refund(refund)
    side.settle_refund(first.out_trade_no, refund.out_refund_no)

    bill = side.gateway.bill(today(), folder)

    assert (bill.channel, bill.merchant_id, bill.day) == (side.gateway.channel, side.gateway.merchant_id, today())
    assert bill.path.parent == folder and hashlib.sha1(bill.path.read_bytes()).hexdigest() == bill.sha1
    ours = [line for line in lines_of(side, bill) if line.out_trade_no in (first.out_trade_no, second.out_trade_no)]
    # 0.60% half up: 15 fen on 25.00, 1 on 1.75; refunding 10.00 of 25.00 gives back 6 of the 15.
    assert sorted(
        (line.kind, line.out_trade_no, line.out_refund_no, line.amount_fen, line.fee_fen) for line in ours
    ) == (
        sorted(
            [
                ("payment", first.out_trade_no, None, 2500, 15),
                ("payment", second.out_trade_no, None, 175, 1),
                ("refund", first.out_trade_no, refund.out_refund_no, 1000, -6),
            ]
        )
    )
    assert {(line.app_id, line.merchant_id) for line in ours} == {(side.app_id, side.gateway.merchant_id)}
    assert all(line.channel_trade_no and line.at.date() == today() for line in ours)


def test_a_day_without_money_or_a_bill_not_made_yet_is_not_ready(side: Side, folder: Path) -> None:
    with pytest.raises(BillNotReady):
        side.gateway.bill(today() - timedelta(days=40), folder)
    paid(side)
    not_made_yet(side)
    with pytest.raises(BillNotReady):
        side.gateway.bill(today(), folder)
    assert list(folder.iterdir()) == []


def test_planted_differences_show_in_the_bill(side: Side, folder: Path) -> None:
    dropped, _ = paid(side, 2500)
    charged, _ = paid(side, 1000)
    plant(side, "missing_payment", dropped.out_trade_no)
    plant(side, "fee", charged.out_trade_no, 7)
    extra = plant(side, "extra_payment", amount_fen=300)

    lines = lines_of(side, side.gateway.bill(today(), folder))

    numbers = {line.out_trade_no: line for line in lines}
    assert dropped.out_trade_no not in numbers
    assert (numbers[charged.out_trade_no].amount_fen, numbers[charged.out_trade_no].fee_fen) == (1000, 7)
    assert (numbers[extra].kind, numbers[extra].amount_fen, numbers[extra].fee_fen) == ("payment", 300, 2)


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_damaged_download_is_refused_and_leaves_nothing(
    channel: str, clean_sandbox: Sandbox, receiver: Receiver, tmp_path: Path, folder: Path
) -> None:
    side = SandboxSide(clean_sandbox, tmp_path, receiver, channel)
    paid(side)
    clean_sandbox.helper(
        "POST", "faults", json={"target": f"{SANDBOX_CHANNELS[channel]}.bill_download", "mode": "error"}
    )

    with pytest.raises(BillRefused) as refused:
        side.gateway.bill(today(), folder)

    assert (
        refused.value.reason
        == {"wechat": "hash mismatch", "alipay": "no single 业务明细.csv file in the archive"}[channel]
    )
    assert list(folder.iterdir()) == []
    assert side.gateway.bill(today(), folder).path.exists()  # the next download is whole


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_download_that_gets_no_answer_is_unavailable(
    channel: str, clean_sandbox: Sandbox, receiver: Receiver, tmp_path: Path, folder: Path
) -> None:
    side = SandboxSide(clean_sandbox, tmp_path, receiver, channel)
    paid(side)
    fault = {"target": f"{SANDBOX_CHANNELS[channel]}.bill_download", "mode": "down", "times": 2}
    clean_sandbox.helper("POST", "faults", json=fault)

    with pytest.raises(UpstreamUnavailable) as unavailable:
        side.gateway.bill(today(), folder)

    assert unavailable.value.code == "billing.channel_unavailable"
    assert not [path for path in folder.iterdir() if path.suffix == ".csv"]
