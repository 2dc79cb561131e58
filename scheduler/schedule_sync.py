"""Keep one cron job per active cycle schedule in the scheduler's job store.

Schedules are created and changed from web workers, which run no scheduler; the
scheduler process reconciles its stored jobs with the `cycle_schedules` table at
start and every minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from app.extensions import db
from app.services import schedules
from processes.errors import WenmingError

logger = logging.getLogger(__name__)

JOB_PREFIX = "wenming.schedule."
# A scheduler that was down when a cycle was due still opens it within a day.
OPENING_GRACE_SECONDS = 24 * 60 * 60
RUN_SCHEDULE = "scheduler.jobs:run_schedule"

_bound_scheduler: BaseScheduler | None = None


@dataclass
class SyncReport:
    """What a reconciliation changed: job ids added, rescheduled and removed."""

    added: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def job_id(schedule_id: int) -> str:
    """Return the job id of a schedule, e.g. wenming.schedule.7."""
    return f"{JOB_PREFIX}{schedule_id}"


def bind_scheduler(scheduler: BaseScheduler | None) -> None:
    """Make `scheduler` the one whose jobs the periodic reconciliation keeps."""
    global _bound_scheduler
    _bound_scheduler = scheduler


def sync_bound(app: Flask) -> SyncReport | None:
    """Reconcile the bound scheduler's jobs; None when no scheduler runs here."""
    if _bound_scheduler is None:
        return None
    return sync_schedule_jobs(_bound_scheduler, app)


def sync_schedule_jobs(scheduler: BaseScheduler, app: Flask) -> SyncReport:
    """Add, reschedule and remove schedule jobs so they match active schedules."""
    wanted = _wanted_triggers(app)
    stored = {
        job.id: job for job in scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)
    }
    report = SyncReport()

    for stale in sorted(set(stored) - set(wanted)):
        scheduler.remove_job(stale)
        report.removed.append(stale)
    for key, (schedule_id, name, trigger) in wanted.items():
        job = stored.get(key)
        if job is None:
            scheduler.add_job(
                RUN_SCHEDULE,
                trigger=trigger,
                args=[schedule_id],
                id=key,
                name=name,
                misfire_grace_time=OPENING_GRACE_SECONDS,
                replace_existing=True,
            )
            report.added.append(key)
        elif _signature(job.trigger) != _signature(trigger):
            scheduler.reschedule_job(key, trigger=trigger)
            report.rescheduled.append(key)

    if report.added or report.rescheduled or report.removed:
        logger.info(
            "schedule jobs: %s added, %s rescheduled, %s removed",
            len(report.added),
            len(report.rescheduled),
            len(report.removed),
        )
    return report


def _wanted_triggers(app: Flask) -> dict[str, tuple[int, str, CronTrigger]]:
    wanted = {}
    with app.app_context():
        try:
            for schedule in schedules.active_schedules(db.session):
                try:
                    trigger = schedules.schedule_trigger(schedule)
                except WenmingError as error:
                    logger.warning(
                        "schedule %s is skipped: %s",
                        schedule.id,
                        error.message,
                        extra={"schedule_id": schedule.id},
                    )
                    continue
                name = f"Open cycle: {schedule.name}"
                wanted[job_id(schedule.id)] = (schedule.id, name, trigger)
        finally:
            db.session.remove()
    return wanted


def _signature(trigger) -> tuple[str, str]:
    return str(trigger), str(getattr(trigger, "timezone", ""))
