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

logger = logging.getLogger(__name__)

TIMER_BATCH_SIZE = 500
MAX_TIMER_BATCHES = 100
MAIL_BATCH_SIZE = 200
MAX_MAIL_BATCHES = 50
# Connections to the SMTP server used at once; sending mostly waits on its replies.
MAIL_WORKERS = 4

_bound_app: Flask | None = None


def fire_due_timers_job(app: Flask) -> timers.TimerReport:
    """Fire due timers batch by batch until a batch is not full (none left due)."""
    total = timers.TimerReport()
    with app.app_context():
        try:
            for _ in range(MAX_TIMER_BATCHES):
                report = timers.fire_due_timers(db.session, batch_size=TIMER_BATCH_SIZE)
                _add(total, report)
                if _handled(report) < TIMER_BATCH_SIZE:
                    break
        finally:
            db.session.remove()

    if total.fired or total.failed:
        logger.info(
            "timers fired for %s instances (%s changed meanwhile, %s failed)",
            total.fired,
            total.conflicts,
            total.failed,
        )
    return total


def _handled(report: timers.TimerReport) -> int:
    return report.fired + report.conflicts + report.failed


def _add(total: timers.TimerReport, report: timers.TimerReport) -> None:
    total.fired += report.fired
    total.conflicts += report.conflicts
    total.failed += report.failed


def send_mail_job(app: Flask) -> mail.SendReport:
    """Send the e-mail that is due from the outbox over a few connections at once.

    Each worker takes its own share of the outbox (message id modulo the number of
    workers) batch by batch, so the workers never wait on each other's claims.
    """
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
    if total.sent or total.failed or total.cancelled:
        logger.info(
            "e-mail sent: %s, cancelled: %s, failed for good: %s",
            total.sent,
            total.cancelled,
            total.failed,
        )
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


def bind_app(app: Flask) -> None:
    """Make `app` the application that stored jobs run against in this process."""
    global _bound_app
    _bound_app = app


def run_job(name: str) -> None:
    """Run the named job against the bound app (the job store's entry point)."""
    if _bound_app is None:
        logger.error("job %s skipped: no application is bound", name)
        return
    JOBS[name](_bound_app)


def run_all_once(app: Flask) -> dict[str, object]:
    """Run every job once now and return each job's result by name."""
    return {name: job(app) for name, job in JOBS.items()}
