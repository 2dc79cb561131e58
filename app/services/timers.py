"""Fire BPMN timers that have fallen due, one instance per transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import utcnow
from app.services import notifications
from app.services.base import transaction
from app.services.effects import apply_effects
from processes import runner
from processes.errors import Conflict, WenmingError

logger = logging.getLogger(__name__)


@dataclass
class TimerReport:
    """How a round of timer firing went."""

    fired: int = 0
    conflicts: int = 0
    failed: int = 0


def fire_due_timers(
    session: Session, *, now: datetime | None = None, batch_size: int = 500
) -> TimerReport:
    """Fire every due timer; a conflict skips an instance, a failure stops it.

    An instance whose diagram fails while a timer fires is marked as failed, with
    the engine's message in its audit trail, so it neither blocks the others nor
    fails again on every round.
    """
    report = TimerReport()
    ids = runner.due_instance_ids(session, now or utcnow(), limit=batch_size)
    for instance_id in ids:
        try:
            with transaction(session):
                result = runner.fire_timers(
                    session, instance_id, on_effects=apply_effects
                )
                notifications.announce_new_tasks(session, [result])
            report.fired += 1
        except Conflict:
            report.conflicts += 1
            logger.info(
                "timers of instance %s were handled by another writer",
                instance_id,
                extra={"instance_id": instance_id},
            )
        except WenmingError as error:
            report.failed += 1
            with transaction(session):
                runner.mark_failed(session, instance_id, error.message)
    return report
