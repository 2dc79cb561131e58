"""The scheduler's jobs: each pushes an app context and cleans up after itself.

The job store persists jobs by reference, so a stored job names one of `JOBS`
and finds the app bound to this process with `bind_app`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from app.extensions import db
from app.models import utcnow
from app.services import mail, timers

logger = logging.getLogger(__name__)

TIMER_BATCH_SIZE = 500
MAX_TIMER_BATCHES = 100

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
    """Send the e-mail that is due from the outbox, each message once."""
    with app.app_context():
        try:
            smtp = mail.SmtpSettings.from_config(app.config)
            report = mail.send_due(db.session, smtp=smtp, now=utcnow())
        finally:
            db.session.remove()
    if report.sent or report.failed:
        logger.info("e-mail sent: %s, failed for good: %s", report.sent, report.failed)
    return report


JOBS: dict[str, Callable[[Flask], object]] = {
    "fire_due_timers": fire_due_timers_job,
    "send_mail": send_mail_job,
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
