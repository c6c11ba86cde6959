"""`flask` commands: migrate, seed the catalogue, create the first platform admin."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.db_session import get_session
from billing.reconciliation.export import yuan
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import carry_out
from billing.sweeps import sweep
from city_services.car_move.models import SEALED_COLUMNS as CAR_MOVE_SEALED_COLUMNS
from city_services.car_move.owners import sweep_car_moves
from city_services.outpatient.service import expire_holds
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from database import transaction
from errors import DomainError
from identity.models import StaffMember
from identity.rotation import SEALED_COLUMNS as IDENTITY_SEALED_COLUMNS
from identity.rotation import reseal_personal_data
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from identity.staff import unlock_address
from identity.staff import unlock_username
from migrations import upgrade_to_head


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Bring the database schema up to the latest migration."""
    upgrade_to_head(current_app.extensions["settings"].database_url)
    click.echo("database is at the latest migration")


@click.command("seed-catalogue")
@with_appcontext
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Seed file.")
def seed_catalogue_command(path: Path | None) -> None:
    """Add the seed file's new cities, services, offerings and upstream connections; operators' changes are kept."""
    settings = current_app.extensions["settings"]
    try:
        seed = read_seed(path or settings.catalogue_seed)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    report = seed_catalogue(get_session(), seed, now=current_app.extensions["clock"]())
    click.echo(
        f"added {len(report.cities)} cities, {len(report.services)} services, {len(report.offerings)} offerings, "
        f"{len(report.connections)} upstream connections"
    )


@click.command("create-platform-admin")
@with_appcontext
@click.option("--username", required=True)
@click.option("--display-name", default="Platform admin")
@click.option(
    "--password",
    envvar="CITYTILES_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for unless CITYTILES_ADMIN_PASSWORD is set.",
)
@click.option("--if-missing", is_flag=True, help="Do nothing when a platform admin already exists.")
def create_platform_admin_command(username: str, display_name: str, password: str, if_missing: bool) -> None:
    """Create the first platform admin; later staff are created through the admin API."""
    session = get_session()
    existing = session.scalar(select(StaffMember.username).where(StaffMember.role == "platform_admin").limit(1))
    if existing is not None:
        if if_missing:
            click.echo(f"platform admin {existing!r} already exists")
            return
        raise click.ClickException(f"a platform admin ({existing!r}) already exists; use the admin API to add staff")
    new = NewStaffMember(username=username, display_name=display_name, password=password, role="platform_admin")
    try:
        with transaction(session):
            create_staff_member(session, new, now=current_app.extensions["clock"]())
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created platform admin {username!r}")


@click.command("reseal-pii")
@with_appcontext
def reseal_pii_command() -> None:
    """Re-encrypt personal data sealed under older keys with PII_ACTIVE_KEY; safe to re-run."""
    sealed = {**IDENTITY_SEALED_COLUMNS, **CAR_MOVE_SEALED_COLUMNS}
    changed = reseal_personal_data(get_session(), current_app.extensions["vault"], sealed)
    click.echo(f"re-sealed {changed} values under key {current_app.extensions['vault'].active_key_id}")


@click.command("unlock-staff")
@click.option("--username", help="Lift the lock on this username, from every address.")
@click.option("--address", help="Lift the lock on this client address.")
@with_appcontext
def unlock_staff_command(username: str | None, address: str | None) -> None:
    """Lift the locks that failed logins put on a username or an address."""
    if not username and not address:
        raise click.UsageError("give --username, --address or both")
    attempts = current_app.extensions["attempts"]
    if username:
        unlock_username(attempts, username)
        click.echo(f"unlocked {username!r}")
    if address:
        unlock_address(attempts, address)
        click.echo(f"unlocked address {address}")


@click.command("sweep-car-moves")
@with_appcontext
def sweep_car_moves_command() -> None:
    """Purge car-move locations and messages older than 7 days; settle requests a crash left half-sent."""
    swept = sweep_car_moves(get_session(), current_app.extensions["clock"]())
    click.echo(f"purged {swept.purged} locations, settled {swept.settled} unfinished requests")


@click.command("expire-appointment-holds")
@with_appcontext
def expire_appointment_holds_command() -> None:
    """Mark unpaid outpatient holds past their time expired (run from cron; reads show them expired anyway)."""
    expired = expire_holds(get_session(), current_app.extensions["clock"]())
    click.echo(f"expired {expired} appointment holds")


@click.command("sweep-payments")
@with_appcontext
def sweep_payments_command() -> None:
    """Query unpaid orders, close expired ones, ask and poll refunds, run due outbox tasks; safe on many hosts."""
    extensions = current_app.extensions
    report = sweep(get_session(), extensions["sweeper"], extensions["outbox_handlers"])
    click.echo(
        f"queried {report.queried} orders, closed {report.closed}, asked {report.refunds_asked} refunds, "
        f"polled {report.refunds_polled}, carried out {report.tasks_done} tasks"
    )


@click.command("reconcile")
@with_appcontext
@click.option(
    "--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Beijing day, YYYY-MM-DD."
)
@click.option("--channel", type=click.Choice(["wechat", "alipay"]), help="One channel; both when left out.")
def reconcile_command(day: datetime, channel: str | None) -> None:
    """Reconcile each merchant's bill of a day now; a bill not made yet is tried again by the background work."""
    reconciler, session = current_app.extensions["reconciler"], get_session()
    merchants = [(c, m) for c, m in reconciler.merchants() if channel in (None, c)]
    if not merchants:
        raise click.ClickException("citytiles collects through no merchant of that channel")
    waiting = 0
    for merchant_channel, merchant_id in merchants:
        run = ask_for_run(session, merchant_channel, merchant_id, day.date(), "command", reconciler.clock())
        try:
            done = carry_out(session, reconciler, run.public_id)
        except DomainError as error:
            waiting += 1
            click.echo(f"{merchant_channel} {merchant_id} {day.date()}: waiting ({error.code}); tried again later")
            continue
        click.echo(describe_run(done) if done is not None else f"{merchant_channel} {merchant_id}: no run")
    if waiting:
        raise SystemExit(75)  # EX_TEMPFAIL: try again later


def describe_run(run: ReconciliationRun) -> str:
    """One run in a line or a few, for the console."""
    head = f"{run.channel} {run.merchant_id} {run.day}: {run.status}"
    if run.summary is None:
        return f"{head} ({run.failure})" if run.failure else head
    summary = run.summary
    found = ", ".join(f"{kind} {count}" for kind, count in summary["discrepancies"].items() if count)
    return (
        f"{head}; bill {summary['bill']['payments']} payments {yuan(summary['bill']['paid_fen'])}, "
        f"{summary['bill']['refunds']} refunds {yuan(summary['bill']['refunded_fen'])}, "
        f"fees {yuan(summary['bill']['fee_fen'])}, net settlement {yuan(summary['net_settlement_fen'])} yuan; "
        f"discrepancies: {found or 'none'}; at stake {yuan(summary['at_stake_fen'])} yuan; "
        f"unreadable lines {summary['bad_lines']}"
    )


def register_cli(app: Flask) -> None:
    """Attach the commands to `flask`."""
    commands = (
        migrate_command,
        seed_catalogue_command,
        create_platform_admin_command,
        reseal_pii_command,
        unlock_staff_command,
        sweep_car_moves_command,
        expire_appointment_holds_command,
        sweep_payments_command,
        reconcile_command,
    )
    for command in commands:
        app.cli.add_command(command)
