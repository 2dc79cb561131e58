"""The scheduler: due timers fire from its job, one leader at a time, jobs persist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, func, inspect, select, text

from app.extensions import db
from app.models import AuditEvent, Base
from scheduler import jobs, runtime
from scheduler.jobs import fire_due_timers_job
from scheduler.lock import (
    ADVISORY_LOCK_KEY,
    FileLeaderLock,
    PostgresLeaderLock,
    lock_file_path,
)
from tests.integration.test_mail import queue, smtp_server  # noqa: F401

STORED_JOB_IDS = [
    runtime.MAIL_JOB_ID,
    runtime.TIMER_JOB_ID,
    runtime.DIGEST_JOB_ID,
    runtime.SYNC_JOB_ID,
    runtime.ISSUE_JOB_ID,
    runtime.CLOSE_JOB_ID,
]


def reminder_count(session) -> int:
    """Return how many notifications have been queued."""
    return session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "notification.queued")
    )


def test_due_timer_job_sends_each_unit_its_reminder(app, session, world):
    """Past the reminder time, one job run queues a reminder for every unit."""
    reminder_at = world.cycle.submission_due - timedelta(days=2)
    units = len(world.units)
    session.commit()

    with time_machine.travel(reminder_at - timedelta(hours=1), tick=False):
        early = fire_due_timers_job(app)
    assert early.fired == 0
    assert reminder_count(session) == 0

    with time_machine.travel(reminder_at + timedelta(hours=1), tick=False):
        report = fire_due_timers_job(app)
        again = fire_due_timers_job(app)
    assert report.fired == units
    assert again.fired == 0
    assert reminder_count(session) == units


def test_tick_command_runs_the_timer_job_once(app, session, world, cli):
    """`flask scheduler tick` fires what is due and reports it."""
    reminder_at = world.cycle.submission_due - timedelta(days=2)
    units = len(world.units)
    session.commit()

    with time_machine.travel(reminder_at + timedelta(minutes=5), tick=False):
        result = cli.invoke(args=["scheduler", "tick"])

    assert result.exit_code == 0, result.output
    assert f"fired={units}" in result.output
    assert reminder_count(session) == units


def test_file_lock_admits_one_holder_until_released(tmp_path):
    """A second file lock fails while the first is held and succeeds after release."""
    path = tmp_path / "instance" / "scheduler.lock"
    first, second = FileLeaderLock(path), FileLeaderLock(path)

    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.held

    first.release()
    assert second.try_acquire()
    second.release()


def test_waiting_file_lock_gives_up_when_stopped(tmp_path):
    """A waiting scheduler stops waiting when told to stop, without the lock."""
    path = tmp_path / "scheduler.lock"
    holder, waiter = FileLeaderLock(path), FileLeaderLock(path)
    assert holder.try_acquire()
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()

    assert not waiter.acquire(poll_seconds=0.05, stop=stop)
    holder.release()
    assert waiter.acquire(poll_seconds=0.05)
    waiter.release()


def test_waiting_file_lock_takes_over_when_holder_leaves(tmp_path, caplog):
    """A waiting scheduler takes over soon after the leader lets go."""
    path = tmp_path / "scheduler.lock"
    holder, waiter = FileLeaderLock(path), FileLeaderLock(path)
    assert holder.try_acquire()
    timer = threading.Timer(0.2, holder.release)
    timer.start()

    with caplog.at_level("INFO", logger="scheduler.lock"):
        assert waiter.acquire(poll_seconds=0.05)
    timer.join()
    waiter.release()
    assert "waiting" in caplog.text
    assert "taking over" in caplog.text


def test_sqlite_lock_file_sits_next_to_the_database(app, tmp_path):
    """On SQLite the lock file is created beside the database file."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("the file lock is for SQLite")
    assert lock_file_path(app) == (tmp_path / "scheduler.lock").resolve()


@pytest.mark.postgres
def test_postgres_lock_admits_one_holder_until_released(postgres_database):
    """A second advisory lock fails while the first connection holds it."""
    first = PostgresLeaderLock(postgres_database, key=7_300_001)
    second = PostgresLeaderLock(postgres_database, key=7_300_001)

    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.held

    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_postgres_lock_is_freed_when_the_holder_connection_dies(postgres_database):
    """Closing the leader's connection (its process died) frees the lock."""
    first = PostgresLeaderLock(postgres_database, key=7_300_002)
    second = PostgresLeaderLock(postgres_database, key=7_300_002)
    assert first.try_acquire()
    assert not second.try_acquire()

    first._connection.close()
    first._connection = None

    assert second.try_acquire()
    second.release()
    first.release()


def test_build_scheduler_registers_the_timer_job(app):
    """The timer job runs every minute with coalescing, one at a time, 5 min grace."""
    scheduler = runtime.build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(runtime.TIMER_JOB_ID)
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == timedelta(seconds=60)
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 300
    finally:
        scheduler.shutdown(wait=False)

    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        assert "apscheduler_jobs" in inspect(engine).get_table_names()
        with engine.connect() as connection:
            ids = connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars()
            assert sorted(ids) == sorted(STORED_JOB_IDS)
    finally:
        engine.dispose()


def test_building_twice_keeps_one_stored_job(app):
    """A restarted scheduler replaces its stored job instead of adding another."""
    for _ in range(2):
        scheduler = runtime.build_scheduler(app, blocking=False)
        scheduler.start(paused=True)
        scheduler.shutdown(wait=False)

    scheduler = runtime.build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        stored = sorted(job.id for job in scheduler.get_jobs())
        assert stored == sorted(STORED_JOB_IDS)
    finally:
        scheduler.shutdown(wait=False)


def test_no_in_process_scheduler_under_tests(app):
    """The app under test never starts a scheduler thread of its own."""
    app.config["WENMING_SCHEDULER"] = "in_process"
    assert runtime.start_in_process(app) is None


def test_run_stops_on_sigterm_and_frees_the_lock(tmp_path):
    """`flask scheduler run` leads, exits cleanly on SIGTERM and releases its lock."""
    database = tmp_path / "wenming.db"
    engine = create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    engine.dispose()
    env = dict(
        os.environ,
        WENMING_DATABASE_URL=f"sqlite:///{database}",
        WENMING_SCHEDULER="off",
        WENMING_UPLOAD_FOLDER=str(tmp_path / "uploads"),
        WENMING_SECRET_KEY="scheduler-test-secret-key",
    )
    command = [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        log = _read_until(process, "Scheduler started", deadline=time.monotonic() + 30)
        assert not FileLeaderLock(tmp_path / "scheduler.lock").try_acquire()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, log + output
    assert "scheduler stopped" in output
    lock = FileLeaderLock(tmp_path / "scheduler.lock")
    assert lock.try_acquire()
    lock.release()


def _read_until(process, marker: str, *, deadline: float) -> str:
    """Return the process output up to the line holding `marker`."""
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("scheduler did not start:\n" + "".join(lines))


def test_mail_job_sends_the_outbox_once(app, session, request):
    """The scheduler's mail job delivers a queued message to the SMTP server, once."""
    server = request.getfixturevalue("smtp_server")
    app.config.update(
        WENMING_SMTP_HOST=server.settings.host,
        WENMING_SMTP_PORT=server.settings.port,
        WENMING_SMTP_STARTTLS=False,
    )
    queue(session, "job:1", subject="提醒")

    jobs.send_mail_job(app)
    jobs.send_mail_job(app)

    assert [str(m["Subject"]) for m in server.messages] == ["提醒"]


def test_in_process_start_does_not_disturb_requests(monkeypatch, tmp_path):
    """Whatever starting the scheduler returns, pages keep answering normally."""
    from app import create_app, factory

    started = []
    monkeypatch.setattr(
        factory, "start_in_process", lambda app: started.append(app) or object()
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.db'}",
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WENMING_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        Base.metadata.create_all(db.engine)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert started == [app]


@pytest.mark.postgres
def test_leader_that_loses_its_lock_connection_stops_and_leads_again(
    postgres_database, tmp_path
):
    """A leader whose lock connection is dropped stops its jobs, then leads again."""
    env = dict(
        os.environ,
        WENMING_DATABASE_URL=postgres_database,
        WENMING_SCHEDULER="off",
        WENMING_UPLOAD_FOLDER=str(tmp_path / "uploads"),
        WENMING_SECRET_KEY="scheduler-test-secret-key",
    )
    command = [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"]
    command += ["--poll-seconds", "0.2", "--lock-check-seconds", "0.5"]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        log = _read_until(process, "Scheduler started", deadline=time.monotonic() + 30)
        first_holder = _advisory_lock_holder(postgres_database)
        _terminate_backend(postgres_database, first_holder)
        log += _read_until(process, "was lost", deadline=time.monotonic() + 30)
        log += _read_until(process, "Scheduler started", deadline=time.monotonic() + 30)
        second_holder = _advisory_lock_holder(postgres_database)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()

    assert second_holder not in (None, first_holder)
    assert "taking over" in log or log.count("scheduler is the leader") == 2, log
    assert process.returncode == 0, log + output
    assert _advisory_lock_holder(postgres_database) is None


def _advisory_lock_holder(url: str) -> int | None:
    """Return the server process id holding the scheduler's advisory lock, if any."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                    "AND granted AND classid = :high AND objid = :low"
                ),
                {
                    "high": ADVISORY_LOCK_KEY >> 32,
                    "low": ADVISORY_LOCK_KEY & 0xFFFFFFFF,
                },
            ).scalar()
    finally:
        engine.dispose()


def _terminate_backend(url: str, pid: int) -> None:
    """Drop one server connection, as a network failure or a restart would."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()
