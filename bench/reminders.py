"""Measure reminders at scale: 20,000 instances whose reminders fall due together.

The data is built directly: units and liaisons (each with an e-mail address) by
bulk insert, one creation-task instance started through the engine, and copies of
its stored state for every other unit. The clock is then moved just past the
reminder time and the scheduler is started with its production jobs and intervals,
its timer job due at once: the timer job fires every due timer (a batch of
instances per transaction, one e-mail queued per liaison) and wakes the mail job,
which sends the outbox to a local SMTP server in a separate process while the rest
still fires. The time runs until the server has every message; its count proves
each reminder arrived exactly once.

Run with `.venv/bin/python bench/reminders.py [--units N] [--postgres URL]`;
`--postgres postgresql://user@host/postgres` creates and drops a database of its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import time_machine  # noqa: E402
from apscheduler.events import EVENT_JOB_EXECUTED  # noqa: E402
from sqlalchemy import (  # noqa: E402
    String,
    cast,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app  # noqa: E402
from app.config import DEFAULT_TIMER_WORKERS_CAP  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Base,
    HumanTask,
    OutboxMessage,
    ProcessInstance,
    Unit,
    User,
)
from app.services import cycles  # noqa: E402
from app.services.base import transaction  # noqa: E402
from app.services.effects import apply_effects  # noqa: E402
from processes import registry, runner  # noqa: E402
from scheduler import runtime  # noqa: E402
from tests.factories import build_world  # noqa: E402

ROWS_PER_INSERT = 2_000
TARGET_SECONDS = 60
WAIT_SECONDS = 900
REMINDER_LEAD = timedelta(days=2)
# The demo cycle's submission is due 14 days after it opens; its reminder 2 before.
BUILT_DAYS_AGO = timedelta(days=13)


def serve_smtp(port: int, result_path: str, ready, stop, received) -> None:
    """Run an SMTP server until told to stop, then write who received what."""
    from aiosmtpd.controller import Controller

    class Recorder:
        def __init__(self) -> None:
            self.recipients: list[str] = []

        async def handle_DATA(self, server, session, envelope) -> str:
            self.recipients.extend(envelope.rcpt_tos)
            with received.get_lock():
                received.value += len(envelope.rcpt_tos)
            return "250 Message accepted for delivery"

    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    Path(result_path).write_text(json.dumps(recorder.recipients))


def free_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_units(session, county, count: int) -> list[int]:
    """Insert units under the county, each with a liaison who has an e-mail address."""
    password_hash = session.scalars(select(User.password_hash)).first()
    rows = [
        {"name": f"提醒单位{n}", "code": f"rm{n}", "unit_type": "school", "path": ""}
        for n in range(count)
    ]
    for row in rows:
        row["office_id"] = county.id
    unit_ids = []
    for start in range(0, count, ROWS_PER_INSERT):
        statement = insert(Unit).returning(Unit.id, sort_by_parameter_order=True)
        unit_ids += session.scalars(statement, rows[start : start + ROWS_PER_INSERT])
    session.execute(
        update(Unit)
        .where(Unit.path == "")
        .values(path=county.path + "u" + cast(Unit.id, String) + "/")
    )
    users = [
        {
            "username": f"rm{n}",
            "display_name": f"联络员{n}",
            "email": f"rm{n}@units.example",
            "password_hash": password_hash,
            "roles": ["liaison"],
            "unit_id": unit_id,
            "email_mode": "immediate",
        }
        for n, unit_id in enumerate(unit_ids)
    ]
    for start in range(0, count, ROWS_PER_INSERT):
        session.execute(insert(User), users[start : start + ROWS_PER_INSERT])
    session.commit()
    return unit_ids


def issue_by_copy(session, cycle, unit_ids: list[int]) -> None:
    """Start one instance through the engine and store copies for the other units."""
    version = registry.current_version(session, cycles.CREATION_PROCESS)
    units = {
        u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))
    }
    first = units[unit_ids[0]]
    with transaction(session):
        [result] = runner.start_instances(
            session,
            version,
            [cycles._start_request(cycle, first)],
            on_effects=apply_effects,
        )
    template = runner.load_instance(session, result.instance.id)
    task = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == template.id)
    ).one()

    for start in range(1, len(unit_ids), ROWS_PER_INSERT):
        batch = [units[i] for i in unit_ids[start : start + ROWS_PER_INSERT]]
        instance_ids = session.scalars(
            insert(ProcessInstance).returning(
                ProcessInstance.id, sort_by_parameter_order=True
            ),
            [_instance_row(template, cycle, unit) for unit in batch],
        ).all()
        session.execute(
            insert(HumanTask),
            [
                _task_row(task, instance_id, unit)
                for instance_id, unit in zip(instance_ids, batch, strict=True)
            ],
        )
        session.commit()


def _instance_row(template: ProcessInstance, cycle, unit: Unit) -> dict:
    return {
        "version_id": template.version_id,
        "business_key": cycles.business_key(cycle, unit),
        "cycle_id": cycle.id,
        "unit_id": unit.id,
        "scope_path": unit.path,
        "status": "running",
        "state_json": template.state_json,
        "serializer_version": template.serializer_version,
        "lock_version": 1,
        "next_timer_due_at": template.next_timer_due_at,
    }


def _task_row(task: HumanTask, instance_id: int, unit: Unit) -> dict:
    return {
        "task_uuid": task.task_uuid,
        "instance_id": instance_id,
        "bpmn_id": task.bpmn_id,
        "title": task.title,
        "lane": task.lane,
        "form_key": task.form_key,
        "instructions": task.instructions,
        "office_path": unit.path,
        "unit_id": unit.id,
        "cycle_id": task.cycle_id,
        "due_at": task.due_at,
    }


def fire_and_send(app, port: int, received, expected: int, workers: int) -> dict:
    """Run the scheduler until the server has every message; return the timings."""
    app.config.update(
        WENMING_SMTP_HOST="127.0.0.1",
        WENMING_SMTP_PORT=port,
        WENMING_SMTP_STARTTLS=False,
        WENMING_TIMER_WORKERS=workers,
    )
    runs: dict[str, list] = {"timer": [], "mail": []}

    def record(event) -> None:
        kind = {runtime.TIMER_JOB_ID: "timer", runtime.MAIL_JOB_ID: "mail"}
        if event.job_id in kind:
            runs[kind[event.job_id]].append((time.perf_counter(), event.retval))

    timer_workers = runtime.start_timer_workers(app)
    scheduler = runtime.build_scheduler(
        app, blocking=False, timer_workers=timer_workers
    )
    scheduler.add_listener(record, EVENT_JOB_EXECUTED)
    try:
        started = time.perf_counter()
        scheduler.start()
        scheduler.modify_job(runtime.TIMER_JOB_ID, next_run_time=datetime.now(UTC))
        deadline = started + WAIT_SECONDS
        while received.value < expected and time.perf_counter() < deadline:
            time.sleep(0.05)
        finished = time.perf_counter()
    finally:
        scheduler.shutdown(wait=True)
        if timer_workers is not None:
            timer_workers.close()

    fired = runs["timer"][0][1] if runs["timer"] else None
    if fired is None or fired.failed or fired.conflicts:
        raise SystemExit(f"timer firing went wrong: {fired}")
    return {
        "firing": runs["timer"][0][0] - started,
        "total": finished - started,
        "sent": sum(report.sent for _, report in runs["mail"]),
        "mail_runs": len(runs["mail"]),
    }


def run(database_url: str, folder: str, units: int, workers: int) -> dict:
    """Build the data, fire and send; return the measurements."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": f"{folder}/instance",
            "WENMING_UPLOAD_FOLDER": f"{folder}/uploads",
            "WENMING_LOG_LEVEL": "WARNING",
        }
    )
    # Built as of some days ago, so that the reminders are due now and the timer
    # workers, which run on the real clock, find them due too.
    built_at = datetime.now(UTC) - BUILT_DAYS_AGO
    with app.app_context(), time_machine.travel(built_at, tick=False):
        Base.metadata.create_all(db.engine)
        session = db.session
        started = time.perf_counter()
        world = build_world(session, Path(folder) / "uploads", issue=False)
        unit_ids = add_units(session, world.offices["X01"], units)
        issue_by_copy(session, world.cycle, unit_ids)
        building = time.perf_counter() - started
        due = (world.cycle.submission_due - REMINDER_LEAD, world.cycle.submission_due)
        db.session.remove()
    if not due[0] < datetime.now(UTC) < due[1]:
        raise SystemExit(f"the reminders are not due now: {due}")

    port = free_port()
    result_path = f"{folder}/received.json"
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    received = context.Value("i", 0)
    server = context.Process(
        target=serve_smtp, args=(port, result_path, ready, stop, received)
    )
    server.start()
    try:
        ready.wait(timeout=30)
        timings = fire_and_send(app, port, received, units, workers)
    finally:
        stop.set()
        server.join(timeout=30)

    with app.app_context():
        outbox = db.session.scalar(select(db.func.count()).select_from(OutboxMessage))
        db.session.remove()
        db.engine.dispose()
    got = Counter(json.loads(Path(result_path).read_text()))
    expected = {f"rm{n}@units.example" for n in range(units)}
    return timings | {
        "building": building,
        "outbox": outbox,
        "exactly_once": set(got) == expected and set(got.values()) == {1},
        "received": sum(got.values()),
    }


def postgres_database(server_url: str):
    """Create a throw-away database on the server; return its URL and a dropper."""
    name = f"wenming_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    """Parse options, measure on SQLite or PostgreSQL, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument(
        "--timer-workers",
        type=int,
        default=min(DEFAULT_TIMER_WORKERS_CAP, os.cpu_count() or 1),
        help="processes firing timers, as WENMING_TIMER_WORKERS (0: none)",
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="PostgreSQL server to measure on"
    )
    args = parser.parse_args()
    if args.units < 1:
        parser.error("--units must be at least 1")

    with tempfile.TemporaryDirectory() as folder:
        if args.postgres:
            url, drop = postgres_database(args.postgres)
        else:
            url, drop = f"sqlite:///{folder}/bench.db", None
        try:
            figures = run(url, folder, args.units, args.timer_workers)
        finally:
            if drop is not None:
                drop()
    report(args, figures)


def report(args, figures: dict) -> None:
    """Print the figures in the form the README quotes."""
    database = "PostgreSQL" if args.postgres else "SQLite"
    lines = [
        f"reminders for {args.units} instances due in the same minute ({database}, "
        f"{args.timer_workers} timer workers):",
        f"    building the data (not timed)          {figures['building']:8.1f} s",
        f"    timer job: every due timer fired       {figures['firing']:8.1f} s",
        f"    last of {figures['sent']} e-mails received{'':<8}"
        f"{figures['total']:8.1f} s  (target <= {TARGET_SECONDS} s)",
        f"    mail job runs {figures['mail_runs']}; outbox messages "
        f"{figures['outbox']}, received by the server {figures['received']}, "
        f"each exactly once: {figures['exactly_once']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
