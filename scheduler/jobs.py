"""The scheduler's jobs: each pushes an app context and cleans up after itself.

The job store persists jobs by reference, so a stored job names one of `JOBS`
and finds the app bound to this process with `bind_app`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

from app.extensions import db
from app.models import utcnow
from app.services import (
    cycles,
    mail,
    notification_mail,
    schedules,
    scoring,
    timers,
)
from scheduler import schedule_sync
from scheduler.timer_workers import TimerWorkers

logger = logging.getLogger(__name__)

TIMER_BATCH_SIZE = 500
MAX_TIMER_BATCHES = 100
MAIL_BATCH_SIZE = 200
MAX_MAIL_BATCHES = 50
# Connections to the SMTP server used at once; sending mostly waits on its replies.
MAIL_WORKERS = 4
# How long the mail job waits for more e-mail while timers are firing.
MAIL_LINGER_SECONDS = 2.0

_bound_app: Flask | None = None
# Set by the scheduler that runs the jobs: asks it to run the mail job now.
_wake_mail_job: Callable[[], None] | None = None
# Set by `flask scheduler run`: worker processes that fire the due timers.
_timer_workers: TimerWorkers | None = None
_mail_due = threading.Event()
_mail_running = threading.Event()
_timers_firing = threading.Event()


def fire_due_timers_job(app: Flask) -> timers.TimerReport:
    """Fire due timers batch by batch until none is left due.

    With timer workers bound, they fire the shares side by side; else this
    thread fires them. Each committed batch wakes the mail job, so that the
    e-mail it queued goes out while the rest still fires.
    """
    _timers_firing.set()
    try:
        if _timer_workers is not None:
            total = _timer_workers.fire_due(lambda _batch: wake_mail())
        else:
            total = _fire_here(app)
    finally:
        _timers_firing.clear()

    if total.fired or total.failed:
        logger.info(
            "timers fired for %s instances (%s changed meanwhile, %s failed)",
            total.fired,
            total.conflicts,
            total.failed,
        )
    return total


def _fire_here(app: Flask) -> timers.TimerReport:
    """Fire due timers in this thread, a round of batches after another."""
    total = timers.TimerReport()
    with app.app_context():
        try:
            for _ in range(MAX_TIMER_BATCHES):
                report = timers.fire_due_timers(
                    db.session,
                    batch_size=TIMER_BATCH_SIZE,
                    on_committed=lambda _batch: wake_mail(),
                )
                total.add(report)
                if report.handled < TIMER_BATCH_SIZE:
                    break
        finally:
            db.session.remove()
    return total


def wake_mail() -> None:
    """Have the mail job run now, or run again when its current run ends."""
    _mail_due.set()
    if not _mail_running.is_set() and _wake_mail_job is not None:
        _wake_mail_job()


def send_mail_job(app: Flask) -> mail.SendReport:
    """Send the e-mail that is due from the outbox over a few connections at once.

    Each worker takes its own share of the outbox (message id modulo the number of
    workers) batch by batch, so the workers never wait on each other's claims. The
    job goes on while more e-mail is queued meanwhile (the timer job wakes it after
    each batch it commits), and waits a moment for more while timers fire.
    """
    total = mail.SendReport()
    _mail_running.set()
    try:
        while True:
            _mail_due.clear()
            _add_mail(total, _send_all_shares(app))
            if _timers_firing.is_set() and _mail_due.wait(MAIL_LINGER_SECONDS):
                continue
            _mail_running.clear()
            # A wake that came as the job was ending would find it still running.
            if not _mail_due.is_set():
                break
            _mail_running.set()
    finally:
        _mail_running.clear()

    if total.sent or total.failed or total.cancelled:
        logger.info(
            "e-mail sent: %s, cancelled: %s, failed for good: %s",
            total.sent,
            total.cancelled,
            total.failed,
        )
    return total


def _send_all_shares(app: Flask) -> mail.SendReport:
    """Send every share of the due e-mail, each over a connection of its own."""
    smtp = mail.SmtpSettings.from_config(app.config)
    reports = [mail.SendReport() for _ in range(MAIL_WORKERS)]
    workers = [
        threading.Thread(
            target=_send_share,
            args=(app, smtp, (index, MAIL_WORKERS), reports[index]),
            name=f"wenming-mail-{index}",
        )
        for index in range(MAIL_WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    total = mail.SendReport()
    for report in reports:
        _add_mail(total, report)
    return total


def _send_share(
    app: Flask,
    smtp: mail.SmtpSettings,
    shard: tuple[int, int],
    total: mail.SendReport,
) -> None:
    """Send one share of the due e-mail until it is empty or the server struggles."""
    with app.app_context():
        try:
            for _ in range(MAX_MAIL_BATCHES):
                report = mail.send_due(
                    db.session,
                    smtp=smtp,
                    now=utcnow(),
                    batch_size=MAIL_BATCH_SIZE,
                    shard=shard,
                )
                _add_mail(total, report)
                # A short batch means the share is empty; trouble means try later.
                if _mail_handled(report) < MAIL_BATCH_SIZE or report.retrying:
                    break
        except Exception:
            logger.exception("sending e-mail share %s of %s failed", *shard)
        finally:
            db.session.remove()


def _mail_handled(report: mail.SendReport) -> int:
    return (
        report.sent
        + report.retrying
        + report.failed
        + report.released
        + report.cancelled
    )


def _add_mail(total: mail.SendReport, report: mail.SendReport) -> None:
    for name in ("sent", "retrying", "failed", "recovered", "released", "cancelled"):
        setattr(total, name, getattr(total, name) + getattr(report, name))


def send_digest_job(app: Flask) -> notification_mail.DigestReport:
    """Queue the daily e-mail digest for users who chose one, once its hour came."""
    now, hour = utcnow(), app.config["WENMING_DIGEST_HOUR"]
    if not notification_mail.digest_hour_reached(now, hour):
        return notification_mail.DigestReport()
    with app.app_context():
        try:
            report = notification_mail.send_digests(db.session, now=now)
        finally:
            db.session.remove()
    return report


def issue_cycles_job(app: Flask) -> list[int]:
    """Issue every cycle whose issuance has not finished (new or interrupted)."""
    with app.app_context():
        try:
            return cycles.issue_pending(db.session)
        finally:
            db.session.remove()


def sync_schedules_job(app: Flask) -> schedule_sync.SyncReport | None:
    """Match this process's schedule jobs to the active cycle schedules."""
    return schedule_sync.sync_bound(app)


def open_schedule_job(app: Flask, schedule_id: int) -> int | None:
    """Open the current period's cycle of a schedule; return the cycle id."""
    with app.app_context():
        try:
            cycle = schedules.open_scheduled(db.session, schedule_id, utcnow())
            return cycle.id if cycle else None
        finally:
            db.session.remove()


def run_schedule(schedule_id: int) -> None:
    """Open a schedule's cycle against the bound app (a schedule job's entry point)."""
    if _bound_app is None:
        logger.error("schedule %s skipped: no application is bound", schedule_id)
        return
    open_schedule_job(_bound_app, schedule_id)


def close_due_cycles_job(app: Flask) -> list[int]:
    """Close and score every auto-closing cycle whose close time has come."""
    with app.app_context():
        try:
            return scoring.close_due_cycles(db.session, now=utcnow())
        finally:
            db.session.remove()


JOBS: dict[str, Callable[[Flask], object]] = {
    "fire_due_timers": fire_due_timers_job,
    "send_mail": send_mail_job,
    "close_due_cycles": close_due_cycles_job,
    "send_digest": send_digest_job,
    "issue_cycles": issue_cycles_job,
    "sync_schedules": sync_schedules_job,
}


def bind_app(
    app: Flask,
    *,
    wake_mail_job: Callable[[], None] | None = None,
    timer_workers: TimerWorkers | None = None,
) -> None:
    """Make `app` the application that stored jobs run against in this process.

    `wake_mail_job` asks the scheduler to run the mail job at once; `timer_workers`
    fire the due timers in processes of their own.
    """
    global _bound_app, _wake_mail_job, _timer_workers
    _bound_app = app
    _wake_mail_job = wake_mail_job
    _timer_workers = timer_workers


def run_job(name: str) -> object:
    """Run the named job against the bound app (the job store's entry point)."""
    if _bound_app is None:
        logger.error("job %s skipped: no application is bound", name)
        return None
    return JOBS[name](_bound_app)


def run_all_once(app: Flask) -> dict[str, object]:
    """Run every job once now and return each job's result by name."""
    return {name: job(app) for name, job in JOBS.items()}
