"""The `flask` command groups: demo, process, cycle, user and timer."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.archives.cli import archive_cli
from app.cycles.cli import issue_with_progress, published_system, schedule_cli
from app.extensions import db
from app.models import (
    Base,
    Cycle,
    ProcessDefinition,
    ProcessInstance,
    utcnow,
)
from app.services import cycles, demo, lanes, organisation, scoring, timers
from app.services.base import transaction
from forms.registry import FORM_KEYS
from processes import registry
from processes.errors import WenmingError
from processes.functions import parse_instant
from processes.lint import KNOWN_LANES
from scheduler.cli import scheduler_cli

logger = logging.getLogger(__name__)

SHIPPED_DIAGRAMS = Path(__file__).resolve().parent.parent / "bpmn_diagrams"

demo_cli = AppGroup("demo", help="Load the demo organisation and cycle.")
process_cli = AppGroup("process", help="Validate, deploy and list BPMN procedures.")
cycle_cli = AppGroup("cycle", help="Open assessment cycles and list them.")
user_cli = AppGroup("user", help="Manage user accounts.")
timer_cli = AppGroup("timer", help="Fire BPMN timers that have fallen due.")


def register_cli(app: Flask) -> None:
    """Add Wenming's command groups to the app's `flask` command."""
    for group in (demo_cli, process_cli, cycle_cli, user_cli, timer_cli):
        app.cli.add_command(group)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(schedule_cli)
    app.cli.add_command(archive_cli)


def _fail(error: WenmingError) -> None:
    raise click.ClickException(error.message)


@demo_cli.command("load")
@click.option("--reset", is_flag=True, help="Delete all data first, then load.")
def demo_load(reset: bool) -> None:
    """Load the demo data once; with --reset, delete everything and load again."""
    session = db.session
    if demo.has_data(session) and not reset:
        click.echo("Demo data is already loaded; use --reset to load it again.")
        _echo_accounts()
        return
    if reset:
        _delete_all(session)
    _deploy_paths(sorted(SHIPPED_DIAGRAMS.glob("*.bpmn")), comment="shipped")
    password = current_app.config["WENMING_DEMO_PASSWORD"]
    try:
        report = demo.load_demo(
            session,
            password=password,
            upload_folder=Path(current_app.config["WENMING_UPLOAD_FOLDER"]),
        )
    except WenmingError as error:
        _fail(error)
    click.echo(f"Demo data loaded: cycle {report.cycle_id} is open.")
    _echo_accounts()


def _echo_accounts() -> None:
    password = current_app.config["WENMING_DEMO_PASSWORD"]
    click.echo(f"Demo accounts (password: {password}):")
    for username, role in demo.DEMO_ACCOUNTS:
        click.echo(f"  {username:<10} {role}")


def _delete_all(session) -> None:
    with transaction(session):
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    registry.SPEC_CACHE.clear()


@process_cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--companion",
    multiple=True,
    type=click.Path(exists=True),
    help="A diagram that defines a process the file calls.",
)
def process_validate(files: tuple[str, ...], companion: tuple[str, ...]) -> None:
    """Validate BPMN files and print a verdict for each; exit 1 if any fails."""
    from processes.validation import validate_diagram

    companions = {Path(p).name: Path(p).read_bytes() for p in companion}
    failed = 0
    for name in files:
        path = Path(name)
        verdict = validate_diagram(
            path.read_bytes(),
            filename=path.name,
            companions=companions,
            form_keys=FORM_KEYS,
            lanes=lanes.accepted_lanes(db.session),
        )
        if verdict.ok:
            click.echo(f"{path}: valid ({', '.join(verdict.process_ids)})")
            continue
        failed += 1
        click.echo(f"{path}: invalid")
        for problem in verdict.problems:
            click.echo(f"  [{problem.stage}] {problem}")
    if failed:
        raise click.exceptions.Exit(1)


@process_cli.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--comment", default="", help="Why this version is deployed.")
def process_deploy(paths: tuple[str, ...], comment: str) -> None:
    """Deploy diagrams (files or folders; the shipped ones by default)."""
    files: list[Path] = []
    for name in paths or (str(SHIPPED_DIAGRAMS),):
        path = Path(name)
        files.extend(sorted(path.glob("*.bpmn")) if path.is_dir() else [path])
    _deploy_paths(files, comment=comment)


def _deploy_paths(files: list[Path], *, comment: str) -> None:
    session = db.session
    for path in registry.deployment_order(files):
        try:
            with transaction(session):
                result = registry.deploy(
                    session,
                    path.read_bytes(),
                    filename=path.name,
                    form_keys=FORM_KEYS,
                    lanes=KNOWN_LANES,
                    comment=comment,
                    lane_routes=lanes.lane_routes(session),
                )
        except WenmingError as error:
            problems = getattr(error, "problems", [])
            detail = "".join(f"\n  {p}" for p in problems)
            raise click.ClickException(
                f"{path.name}: {error.message}{detail}"
            ) from None
        version = result.version
        state = "deployed as" if result.created else "unchanged, current is"
        click.echo(
            f"{path.name}: {state} {version.definition.process_key} "
            f"version {version.version}"
        )


@process_cli.command("list")
def process_list() -> None:
    """List process definitions, their versions and running instances."""
    session = db.session
    running = dict(
        session.execute(
            select(ProcessInstance.version_id, func.count())
            .where(ProcessInstance.status == "running")
            .group_by(ProcessInstance.version_id)
        ).all()
    )
    definitions = session.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.process_key)
    )
    for definition in definitions:
        click.echo(f"{definition.process_key}  {definition.name}")
        for version in definition.versions:
            mark = "*" if version.is_current else " "
            click.echo(
                f"  {mark} v{version.version}  {version.created_at:%Y-%m-%d %H:%M}  "
                f"sha256 {version.sha256[:12]}  running {running.get(version.id, 0)}"
                f"  {version.comment}"
            )


@cycle_cli.command("open")
@click.option("--office", "office_code", required=True, help="Office code, e.g. X01.")
@click.option("--name", required=True, help="Cycle name.")
@click.option(
    "--indicator-system",
    "system_code",
    required=True,
    help="Indicator system code; its latest published version is used.",
)
@click.option("--submission-due", required=True, help="ISO date-time.")
@click.option("--county-review-due", required=True, help="ISO date-time.")
@click.option("--city-review-due", required=True, help="ISO date-time.")
@click.option("--province-review-due", required=True, help="ISO date-time.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1))
@click.option(
    "--unit-type",
    "unit_types",
    multiple=True,
    help="Issue only to units of this type (repeatable), e.g. school.",
)
@click.option(
    "--title-level",
    "title_levels",
    multiple=True,
    type=click.Choice(cycles.TITLE_LEVEL_FILTERS),
    help="Issue only to units holding this title level (repeatable); none = no title.",
)
def cycle_open(
    office_code, name, system_code, batch_size, unit_types, title_levels, **dues
) -> None:
    """Open a cycle and issue its creation task to every unit in the office's scope."""
    session = db.session
    try:
        with transaction(session):
            office = organisation.office_by_code(session, office_code)
            system = published_system(session, system_code)
            cycle = cycles.open_cycle(
                session,
                office=office,
                name=name,
                indicator_system=system,
                unit_types=list(unit_types),
                title_levels=list(title_levels),
                **{key: _instant(key, value) for key, value in dues.items()},
            )
        click.echo(f"Cycle {cycle.id} opened.")
        report = issue_with_progress(session, cycle, batch_size)
    except WenmingError as error:
        _fail(error)
    _report_issuance(cycle.id, report)


@cycle_cli.command("issue")
@click.argument("cycle_id", type=int)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1))
def cycle_issue(cycle_id: int, batch_size: int) -> None:
    """Finish issuing a cycle whose issuance was interrupted; issued units are kept."""
    session = db.session
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise click.ClickException(f"no cycle has the id {cycle_id}")
    try:
        report = issue_with_progress(session, cycle, batch_size)
    except WenmingError as error:
        _fail(error)
    _report_issuance(cycle_id, report)


def _report_issuance(cycle_id: int, report: cycles.IssueReport) -> None:
    click.echo(
        f"Cycle {cycle_id}: {report.issued} units issued, "
        f"{report.already_issued} already had the task."
    )
    for unit_name, reason in (report.refused or {}).items():
        click.echo(f"  not issued to {unit_name}: {reason}")


def _instant(option: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date-time such as 2026-10-31T18:00:00+08:00",
            param_hint=f"--{option.replace('_', '-')}",
        ) from None
    return parse_instant(value) if moment.tzinfo is None else moment


@cycle_cli.command("close")
@click.argument("cycle_id", type=int)
def cycle_close(cycle_id: int) -> None:
    """Close a cycle and score its units; on a closed cycle, recompute the results."""
    session = db.session
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise click.ClickException(f"no cycle has the id {cycle_id}")
    try:
        report = scoring.close_cycle(session, cycle, now=utcnow())
    except WenmingError as error:
        _fail(error)
    verb = "closed" if report.first_close else "recomputed"
    click.echo(
        f"Cycle {cycle_id} {verb}: {report.scored} units scored, "
        f"{report.overdue} overdue, {report.title_reviews} title reviews started."
    )
    if report.title_review_error:
        click.echo(f"Title reviews did not start: {report.title_review_error}")


@cycle_cli.command("list")
def cycle_list() -> None:
    """List cycles with their deadlines and how many units were issued."""
    session = db.session
    counts = dict(
        session.execute(
            select(ProcessInstance.cycle_id, func.count()).group_by(
                ProcessInstance.cycle_id
            )
        ).all()
    )
    for cycle in session.scalars(select(Cycle).order_by(Cycle.id)):
        click.echo(
            f"{cycle.id:>4}  {cycle.name}  [{cycle.status}]  office {cycle.office.code}"
            f"  submission due {cycle.submission_due:%Y-%m-%d}"
            f"  issued {counts.get(cycle.id, 0)}"
        )


@user_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", help="Display name (default: username).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="Role: admin, office_admin, reviewer, liaison, unit_leader.",
)
@click.option("--office", "office_code", help="Office code for office staff.")
@click.option("--unit", "unit_code", help="Unit code for liaisons and leaders.")
@click.option("--email")
@click.password_option(help="Password (asked for when not given).")
def user_create(username, display_name, roles, office_code, unit_code, email, password):
    """Create a user account."""
    session = db.session
    try:
        with transaction(session):
            office = (
                organisation.office_by_code(session, office_code)
                if office_code
                else None
            )
            unit = organisation.unit_by_code(session, unit_code) if unit_code else None
            organisation.create_user(
                session,
                username=username,
                password=password,
                display_name=display_name or username,
                roles=list(roles),
                office=office,
                unit=unit,
                email=email,
            )
    except WenmingError as error:
        _fail(error)
    click.echo(f"User {username} created with roles {', '.join(sorted(roles))}.")


@timer_cli.command("fire")
def timer_fire() -> None:
    """Fire every BPMN timer that is due now."""
    report = timers.fire_due_timers(db.session)
    click.echo(
        f"Timers fired for {report.fired} instances "
        f"({report.conflicts} skipped as changed meanwhile, {report.failed} failed)."
    )
