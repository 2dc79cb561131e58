"""Two real scheduler processes on PostgreSQL open a due schedule's cycle once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import func, select

from app.models import Cycle, ProcessInstance
from app.services import schedules
from app.services.base import transaction
from scheduler import lock, runtime, schedule_sync

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120


def start_scheduler(url: str, tmp_path: Path, name: str) -> subprocess.Popen:
    """Start `flask scheduler run` against the database, logging to a file."""
    env = dict(
        os.environ,
        WENMING_DATABASE_URL=url,
        WENMING_SCHEDULER="off",
        WENMING_UPLOAD_FOLDER=str(tmp_path / "uploads"),
        WENMING_SECRET_KEY="scheduler-test-secret-key",
    )
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with process
    command = [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"]
    return subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen) -> None:
    """Ask a scheduler to stop, and kill it if it does not."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def due_a_few_minutes_ago(session, world) -> schedules.CycleSchedule:
    """Create a daily schedule whose latest fire time was ten minutes ago."""
    zone = ZoneInfo(world.offices["C01"].timezone)
    fired = datetime.now(zone) - timedelta(minutes=10)
    with transaction(session):
        return schedules.create_schedule(
            session,
            world.users["city"],
            schedules.ScheduleSpec(
                name="日常抽查",
                office=world.offices["C01"],
                indicator_system=world.system,
                recurrence="cron",
                cron=f"{fired.minute} {fired.hour} * * *",
            ),
        )


def store_missed_run(app, schedule_id: int) -> None:
    """Leave the schedule's job in the store with a run missed a minute ago."""
    scheduler = runtime.build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        schedule_sync.sync_schedule_jobs(scheduler, app)
    finally:
        scheduler.shutdown()

    # Only once the thread has stopped can nothing else move the run time on.
    url = lock.database_url(app).render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(url=url, tablename=runtime.JOB_TABLE)
    store.start(scheduler, "default")
    try:
        job = store.lookup_job(schedule_sync.job_id(schedule_id))
        job.next_run_time = datetime.now(UTC) - timedelta(minutes=1)
        store.update_job(job)
    finally:
        store.shutdown()


def issued_cycle(session, schedule_id: int) -> Cycle | None:
    """Return the schedule's cycle once its issuance has finished."""
    session.rollback()
    query = select(Cycle).where(
        Cycle.schedule_id == schedule_id, Cycle.issued_at.is_not(None)
    )
    return session.scalars(query).first()


def test_two_scheduler_processes_open_a_due_schedule_once(
    app, session, world, tmp_path
):
    """With two `flask scheduler run` processes, one cycle opens, one task per unit."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip("two scheduler processes share a PostgreSQL database")
    schedule = due_a_few_minutes_ago(session, world)
    schedule_id = schedule.id
    store_missed_run(app, schedule_id)

    processes = [start_scheduler(url, tmp_path, name) for name in ("one", "two")]
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while issued_cycle(session, schedule_id) is None:
            assert time.monotonic() < deadline, (tmp_path / "one.log").read_text()
            time.sleep(0.5)
    finally:
        for process in processes:
            stop(process)

    opened = session.scalars(select(Cycle).where(Cycle.schedule_id == schedule_id))
    assert len(list(opened)) == 1
    cycle = issued_cycle(session, schedule_id)
    per_unit = session.execute(
        select(ProcessInstance.unit_id, func.count())
        .where(ProcessInstance.cycle_id == cycle.id)
        .group_by(ProcessInstance.unit_id)
    ).all()
    assert len(per_unit) == len(world.units)
    assert {count for _, count in per_unit} == {1}
    assert cycle.issue_done == cycle.issue_total == len(world.units)
