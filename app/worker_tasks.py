"""The Celery app's tasks and beat schedule: the outbox and the payment sweeps, on the web tier's own use-cases."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from flask import Flask

from app.background import CARRY_OUT_OUTBOX
from billing.notifications import forget_old_deliveries
from billing.outbox import carry_out
from billing.reconciliation.runs import ask_for_due_runs
from billing.sweeps import sweep
from database.idempotency import forget_old_keys

SWEEP_PAYMENTS = "citytiles.sweep_payments"
FORGET_DELIVERIES = "citytiles.forget_old_deliveries"
RECONCILE_BILLS = "citytiles.reconcile_bills"


def make_celery(flask_app: Flask) -> Celery:
    """A Celery app on the Flask app's Redis, with its tasks and schedule."""
    settings = flask_app.extensions["settings"]
    if not settings.redis_url:
        raise RuntimeError("the Celery worker needs REDIS_URL (its broker); without it tasks run in the web process")
    celery = Celery("citytiles", broker=settings.redis_url)
    celery.conf.update(
        task_ignore_result=True,
        # A task is acknowledged once done: a worker killed mid-task leaves it for another.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        timezone="Asia/Shanghai",
        beat_schedule={
            "sweep-payments": {"task": SWEEP_PAYMENTS, "schedule": 60.0},
            "carry-out-outbox": {"task": CARRY_OUT_OUTBOX, "schedule": 30.0},
            "forget-old-deliveries": {"task": FORGET_DELIVERIES, "schedule": 600.0},
            # The channels make yesterday's bills by 10:00 Beijing; asking is once per merchant and day.
            "reconcile-bills": {"task": RECONCILE_BILLS, "schedule": crontab(minute="5,35", hour="10-23")},
        },
    )
    sessions, extensions = flask_app.extensions["session_factory"], flask_app.extensions

    @celery.task(name=CARRY_OUT_OUTBOX)
    def carry_out_outbox() -> int:
        """Carry out due outbox tasks."""
        with flask_app.app_context(), sessions() as session:
            return carry_out(session, extensions["outbox_handlers"], extensions["clock"])

    @celery.task(name=SWEEP_PAYMENTS)
    def sweep_payments() -> None:
        """One pass of the payment sweeps."""
        with flask_app.app_context(), sessions() as session:
            sweep(session, extensions["sweeper"], extensions["outbox_handlers"])

    @celery.task(name=FORGET_DELIVERIES)
    def forget_deliveries() -> None:
        """Drop replay records older than any delivery still fresh enough to accept, and keys past 24 hours."""
        with flask_app.app_context(), sessions() as session:
            forget_old_deliveries(session, extensions["clock"]())
            forget_old_keys(session, extensions["clock"]())

    @celery.task(name=RECONCILE_BILLS)
    def reconcile_bills() -> int:
        """Ask for yesterday's runs not asked for yet; the outbox carries them out (and retries bills not ready)."""
        with flask_app.app_context(), sessions() as session:
            asked = ask_for_due_runs(session, extensions["reconciler"])
        if asked:
            extensions["tasks"].kick()
        return len(asked)

    return celery
