"""Idempotency-Key: a retry gets the first answer, another body with the key is refused, racing retries act once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.models import Refund
from database.idempotency import forget_old_keys
from tests.app.paying_world import alipay_pay_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import paid
from tests.app.paying_world import paying_app_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import wechat_pay_fixture  # noqa: F401 - a fixture
from tests.concurrency import run_together
from tests.conftest import Api
from tests.conftest import Clock

BODY = {"amount_fen": 300, "reason": "goodwill"}


def refunds(session: Session) -> int:
    session.rollback()
    return len(session.scalars(select(Refund)).all())


def test_a_retry_with_the_same_key_gets_the_first_answer_and_refunds_once(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock, 1000)
    token = make_staff("finance", "channel_admin", channels=("wechat",))
    client, path = app.test_client(), f"/admin/api/payments/{payment_id}/refunds"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "refund-1"}
    first = client.post(path, json=BODY, headers=headers)
    again = client.post(path, json=BODY, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert refunds(session) == 1
    other = client.post(path, json={**BODY, "amount_fen": 301}, headers=headers)
    assert (other.status_code, other.get_json()["error"]["code"]) == (409, "request.idempotency_key_reused")
    bad = client.post(path, json=BODY, headers={**headers, "Idempotency-Key": "no spaces"})
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (422, "request.invalid_idempotency_key")
    # Keys are per caller: another admin's same key is theirs.
    colleague = make_staff("finance2", "channel_admin", channels=("wechat",))
    theirs = client.post(path, json=BODY, headers={**headers, "Authorization": f"Bearer {colleague}"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert refunds(session) == 2
    # After 24 hours a key is forgotten.
    clock.advance(hours=24)
    assert forget_old_keys(session, clock()) == 2


def test_a_refund_the_channel_could_not_take_is_answered_as_requested_and_replayed(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock, 1000)
    token = make_staff("finance", "channel_admin", channels=("wechat",))
    client, path = app.test_client(), f"/admin/api/payments/{payment_id}/refunds"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
    wechat_pay.down = True
    first = client.post(path, json=BODY, headers=headers)
    assert (first.status_code, first.get_json()["status"]) == (201, "requested")
    wechat_pay.down = False
    # The admin retries: the same refund, never a second one (the sweep asks the channel again).
    again = client.post(path, json=BODY, headers=headers)
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert refunds(session) == 1


def test_a_failed_attempt_frees_its_key(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock, 1000)
    token = make_staff("finance", "channel_admin", channels=("wechat",))
    client, path = app.test_client(), f"/admin/api/payments/{payment_id}/refunds"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
    too_much = client.post(path, json={**BODY, "amount_fen": 1001}, headers=headers)
    assert too_much.status_code == 409
    # Refused, nothing done: the key is free for the corrected request.
    assert client.post(path, json=BODY, headers=headers).status_code == 201
    assert refunds(session) == 1


def test_a_key_whose_first_request_died_is_taken_over_after_its_lease(session: Session, clock: Clock) -> None:
    from database.idempotency import IN_PROGRESS_LEASE
    from database.idempotency import claim_key

    assert claim_key(session, "staff:1", "k", "f", clock()).outcome == "new"
    assert claim_key(session, "staff:1", "k", "f", clock()).outcome == "in_progress"
    clock.advance(seconds=IN_PROGRESS_LEASE.total_seconds() + 1)
    assert claim_key(session, "staff:1", "k", "f", clock()).outcome == "new"
    assert claim_key(session, "staff:1", "k", "other", clock()).outcome == "mismatch"


def test_racing_retries_with_one_key_act_once(
    app: Flask, api: Api, session: Session, make_staff: Any, wechat_pay: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid(app, session, wechat_pay, clock, 1000)
    token = make_staff("finance", "channel_admin", channels=("wechat",))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same"}

    def attempt(_: int) -> tuple[int, str | None]:
        response = app.test_client().post(f"/admin/api/payments/{payment_id}/refunds", json=BODY, headers=headers)
        body = response.get_json()
        return response.status_code, body["error"]["code"] if response.status_code >= 400 else None

    results = run_together(8, attempt)
    assert all(r in ((201, None), (409, "request.idempotency_in_progress")) for r in results), results
    assert refunds(session) == 1
