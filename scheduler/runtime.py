"""Build, run and stop the scheduler: a separate process or, in development, a thread.

Jobs are kept in the application's database (table `apscheduler_jobs`) so that a
process taking over as leader sees the same schedule.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from app.extensions import db
from scheduler import jobs, schedule_sync
from scheduler.lock import POLL_SECONDS, LeaderLock, database_url, leader_lock_for
from scheduler.timer_workers import TimerWorkers

logger = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
TIMER_JOB_ID = "wenming.fire_due_timers"
MAIL_JOB_ID = "wenming.send_mail"
DIGEST_JOB_ID = "wenming.send_digest"
TIMER_INTERVAL_SECONDS = 60
MAIL_INTERVAL_SECONDS = 60
DIGEST_HOUR = 8
SYNC_JOB_ID = "wenming.sync_schedules"
ISSUE_JOB_ID = "wenming.issue_cycles"
SYNC_INTERVAL_SECONDS = 60
ISSUE_INTERVAL_SECONDS = 15
CLOSE_JOB_ID = "wenming.close_due_cycles"
CLOSE_INTERVAL_SECONDS = 300
WATCH_JOB_ID = "wenming.watch_lock"
WATCH_STORE = "memory"
LOCK_CHECK_SECONDS = 15.0
# How long a stop signal waits for a scheduler that is still starting.
STOP_WAIT_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_in_process: BaseScheduler | None = None
_in_process_guard = threading.Lock()


def build_scheduler(
    app: Flask, *, blocking: bool, timer_workers: TimerWorkers | None = None
) -> BaseScheduler:
    """Return a scheduler with the database job store and Wenming's jobs added.

    With `timer_workers`, its timer job fires due timers in those processes.
    """
    url = database_url(app).render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(url=url, tablename=JOB_TABLE)
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(
        jobstores={"default": store},
        job_defaults=dict(JOB_DEFAULTS),
        timezone=UTC,
    )

    jobs.bind_app(
        app,
        wake_mail_job=functools.partial(_run_now, scheduler, MAIL_JOB_ID),
        timer_workers=timer_workers,
    )
    interval = app.config.get("WENMING_SCHEDULER_INTERVAL_SECONDS")
    _every(
        scheduler,
        "fire_due_timers",
        TIMER_JOB_ID,
        "Fire due BPMN timers",
        interval or TIMER_INTERVAL_SECONDS,
    )
    _every(
        scheduler,
        "send_mail",
        MAIL_JOB_ID,
        "Send due e-mail",
        interval or MAIL_INTERVAL_SECONDS,
    )
    scheduler.add_job(
        jobs.run_job,
        trigger="cron",
        hour=app.config.get("WENMING_DIGEST_HOUR", DIGEST_HOUR),
        minute=0,
        timezone=app.config.get("WENMING_TIMEZONE", "Asia/Shanghai"),
        args=["send_digest"],
        id=DIGEST_JOB_ID,
        name="Queue the daily e-mail digest",
        replace_existing=True,
    )
    _add_cycle_jobs(scheduler)
    return scheduler


def _run_now(scheduler: BaseScheduler, job_id: str) -> None:
    """Move a stored job's next run to now; its interval goes on from there."""
    try:
        scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
    except (JobLookupError, SchedulerNotRunningError):
        logger.debug("job %s was not woken: the scheduler is stopping", job_id)


def _every(
    scheduler: BaseScheduler,
    job: str,
    job_id: str,
    name: str,
    seconds: float,
    **options: object,
) -> None:
    """Store one of `jobs.JOBS` to run every `seconds`, replacing an earlier copy."""
    scheduler.add_job(
        jobs.run_job,
        trigger="interval",
        seconds=seconds,
        args=[job],
        id=job_id,
        name=name,
        replace_existing=True,
        **options,
    )


def _add_cycle_jobs(scheduler: BaseScheduler) -> None:
    """Add the jobs that open scheduled cycles, finish their issuance, close them."""
    schedule_sync.bind_scheduler(scheduler)
    _every(
        scheduler,
        "sync_schedules",
        SYNC_JOB_ID,
        "Match schedule jobs to cycle schedules",
        SYNC_INTERVAL_SECONDS,
        next_run_time=datetime.now(UTC),
    )
    _every(
        scheduler,
        "issue_cycles",
        ISSUE_JOB_ID,
        "Issue cycles whose issuance has not finished",
        ISSUE_INTERVAL_SECONDS,
    )
    _every(
        scheduler,
        "close_due_cycles",
        CLOSE_JOB_ID,
        "Close and score cycles whose close time has come",
        CLOSE_INTERVAL_SECONDS,
    )


def run(
    app: Flask,
    *,
    poll_seconds: float = POLL_SECONDS,
    lock_check_seconds: float = LOCK_CHECK_SECONDS,
) -> None:
    """Wait to be the leader, then run the jobs until SIGTERM or SIGINT.

    A leader whose lock is lost (its database connection dropped) stops its jobs
    and waits to lead again, so two processes never run the jobs at once.
    """
    stop = threading.Event()
    lock = leader_lock_for(app)
    state: dict[str, BaseScheduler] = {}

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()
        # The handler may interrupt the scheduler while it holds its executor's
        # lock; stopping it from here would wait on that lock for ever.
        threading.Thread(
            target=_stop_scheduler,
            args=(state, signal.Signals(signum).name),
            name="wenming-stop",
            daemon=True,
        ).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    try:
        while lock.acquire(poll_seconds=poll_seconds, stop=stop):
            _run_as_leader(app, lock, state, stop, lock_check_seconds)
            if stop.is_set():
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()
        _dispose(app)
        logger.info("scheduler stopped")


def _stop_scheduler(state: dict[str, BaseScheduler], reason: str) -> None:
    """Shut the scheduler down outside the signal handler, once it is running.

    A signal that comes while the leader is still starting its scheduler waits
    for it a moment; one that comes while this process waits to lead finds none.
    """
    logger.info("scheduler received %s; stopping", reason)
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        scheduler = state.get("scheduler")
        if scheduler is not None and scheduler.running:
            try:
                scheduler.shutdown(wait=False)
            except SchedulerNotRunningError:
                logger.debug("the scheduler had already stopped")
            return
        time.sleep(0.05)


def _run_as_leader(
    app: Flask,
    lock: LeaderLock,
    state: dict[str, BaseScheduler],
    stop: threading.Event,
    lock_check_seconds: float,
) -> None:
    workers = start_timer_workers(app)
    try:
        scheduler = build_scheduler(app, blocking=True, timer_workers=workers)
        # The watch holds live objects, so it lives in memory, not in the job store.
        scheduler.add_jobstore(MemoryJobStore(), alias=WATCH_STORE)
        scheduler.add_job(
            _watch_lock,
            trigger="interval",
            seconds=lock_check_seconds,
            args=[scheduler, lock],
            id=WATCH_JOB_ID,
            name="Check that this process still holds the leader lock",
            jobstore=WATCH_STORE,
        )
        state["scheduler"] = scheduler
        if stop.is_set():
            return

        logger.info("scheduler started; jobs: %s", ", ".join(jobs.JOBS))
        scheduler.start()
    finally:
        if workers is not None:
            workers.close()


def start_timer_workers(app: Flask) -> TimerWorkers | None:
    """Start the processes that fire due timers, if WENMING_TIMER_WORKERS asks."""
    count = app.config.get("WENMING_TIMER_WORKERS") or 0
    if count < 1:
        return None
    logger.info("%s timer worker process(es) fire due timers", count)
    return TimerWorkers(app, count)


def _watch_lock(scheduler: BaseScheduler, lock: LeaderLock) -> None:
    """Stop the jobs as soon as the leader lock is no longer this process's."""
    if lock.still_held():
        return
    logger.error(
        "the %s was lost; stopping the jobs and waiting to lead again",
        lock.description,
    )
    if scheduler.running:
        scheduler.shutdown(wait=False)


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def start_in_process(app: Flask) -> BaseScheduler | None:
    """Start a background scheduler once per process when the app is set up for it.

    Runs only with WENMING_SCHEDULER=in_process, never under TESTING, never in the
    reloader's watching parent, and not while another process holds the leader lock.
    """
    global _in_process
    if _in_process is not None or not _wants_in_process(app):
        return _in_process

    with _in_process_guard:
        if _in_process is not None:
            return _in_process
        lock = leader_lock_for(app)
        if not lock.try_acquire():
            logger.info("another scheduler is running; none started in this process")
            return None

        scheduler = build_scheduler(app, blocking=False)
        scheduler.start()
        atexit.register(_stop_in_process, scheduler, lock)
        _in_process = scheduler
        logger.info("scheduler started inside the web process")
        return scheduler


def _wants_in_process(app: Flask) -> bool:
    if app.config.get("TESTING"):
        return False
    if app.config.get("WENMING_SCHEDULER") != "in_process":
        return False
    return not _is_reloader_parent(app)


def _is_reloader_parent(app: Flask) -> bool:
    # The reloader (on with debug) runs the server in a child that has this mark.
    return app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true"


def _stop_in_process(scheduler: BaseScheduler, lock: LeaderLock) -> None:
    global _in_process
    if scheduler.running:
        scheduler.shutdown(wait=False)
    lock.release()
    _in_process = None
