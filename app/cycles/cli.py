"""The `flask schedule` commands: list, create and run cycle schedules."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import Cycle, IndicatorSystem, utcnow
from app.models.cycle import RECURRENCES
from app.services import cycles, organisation, schedules
from app.services.base import transaction
from processes.errors import WenmingError

schedule_cli = AppGroup("schedule", help="Create, list and run cycle schedules.")


@schedule_cli.command("list")
def schedule_list() -> None:
    """List schedules with their calendar and next opening."""
    session = db.session
    rows = session.scalars(select(schedules.CycleSchedule).order_by("id"))
    for schedule in rows:
        click.echo(
            f"{schedule.id:>4}  {schedule.name}  office {schedule.office.code}  "
            f"{schedule.recurrence} [{schedule.cron}]  "
            f"{'active' if schedule.active else 'inactive'}  "
            f"next {_next_opening(schedule)}"
        )


def _next_opening(schedule) -> str:
    if not schedule.active:
        return "-"
    try:
        trigger = schedules.schedule_trigger(schedule)
    except WenmingError as error:
        return error.message
    fire = trigger.get_next_fire_time(None, utcnow())
    zone = ZoneInfo(schedule.office.timezone)
    return fire.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@schedule_cli.command("create")
@click.option("--office", "office_code", required=True, help="Office code, e.g. C01.")
@click.option("--name", required=True, help="Schedule name; cycles add the period.")
@click.option(
    "--indicator-system",
    "system_code",
    required=True,
    help="Indicator system code; its latest published version is used.",
)
@click.option("--recurrence", required=True, type=click.Choice(RECURRENCES))
@click.option("--month", type=int, help="Month (yearly).")
@click.option("--day", type=int, help="Day of the month (yearly, quarterly, monthly).")
@click.option("--hour", type=int, default=8, show_default=True, help="Local hour.")
@click.option("--cron", default="", help="Five cron fields (recurrence cron).")
@click.option("--submission-days", default=30, show_default=True, type=int)
@click.option("--county-review-days", default=15, show_default=True, type=int)
@click.option("--city-review-days", default=10, show_default=True, type=int)
@click.option("--province-review-days", default=10, show_default=True, type=int)
@click.option("--reminder-lead", default="P2D", show_default=True)
@click.option("--unit-type", "unit_types", multiple=True, help="Repeatable filter.")
@click.option(
    "--title-level",
    "title_levels",
    multiple=True,
    type=click.Choice(cycles.TITLE_LEVEL_FILTERS),
    help="Repeatable filter; none = units holding no title.",
)
@click.option("--auto-close/--no-auto-close", default=True, show_default=True)
def schedule_create(office_code, system_code, unit_types, title_levels, **fields):
    """Create a schedule that opens a cycle for the office on its calendar."""
    session = db.session
    try:
        with transaction(session):
            office = organisation.office_by_code(session, office_code)
            spec = schedules.ScheduleSpec(
                office=office,
                indicator_system=published_system(session, system_code),
                unit_types=list(unit_types),
                title_levels=list(title_levels),
                **fields,
            )
            schedule = schedules.create_schedule(session, None, spec)
    except WenmingError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"Schedule {schedule.id} created: {schedule.cron} "
        f"({schedule.office.timezone}), next {_next_opening(schedule)}"
    )


def published_system(session, code: str) -> IndicatorSystem:
    """Return the newest published version of an indicator system, or fail clearly."""
    system = session.scalars(
        select(IndicatorSystem)
        .where(IndicatorSystem.code == code, IndicatorSystem.published.is_(True))
        .order_by(IndicatorSystem.version.desc())
    ).first()
    if system is None:
        raise click.ClickException(
            f"no published indicator system has the code {code!r}"
        )
    return system


@schedule_cli.command("run")
@click.argument("schedule_id", type=int)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1))
def schedule_run(schedule_id: int, batch_size: int) -> None:
    """Open the schedule's current period now (once) and issue it."""
    session = db.session
    try:
        cycle = schedules.open_scheduled(session, schedule_id, utcnow())
        if cycle is None:
            raise click.ClickException(
                f"schedule {schedule_id} does not exist, is inactive or has not "
                "come due within the past year"
            )
        cycle_id = cycle.id
        report = issue_with_progress(session, cycle, batch_size)
    except WenmingError as error:
        raise click.ClickException(error.message) from None
    cycle = session.get(Cycle, cycle_id)
    click.echo(
        f"Cycle {cycle.id} {cycle.name}: {report.issued} units issued, "
        f"{report.already_issued} already had the task."
    )


def issue_with_progress(session, cycle: Cycle, batch_size: int) -> cycles.IssueReport:
    """Issue the cycle with a progress bar on the terminal."""
    with click.progressbar(length=1, label="Issuing") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        return cycles.issue_cycle(
            session, cycle, batch_size=batch_size, progress=progress
        )
