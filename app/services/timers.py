"""Fire BPMN timers that have fallen due, a batch of instances per transaction.

A batch is written and committed together, each instance under its own version
check. When another writer changed one of its instances meanwhile, the batch is
rolled back whole and its instances are fired again one per transaction, so the
changed one is left to its writer and the others still fire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import utcnow
from app.services import notifications
from app.services.base import transaction
from app.services.effects import apply_effects
from processes import runner, timers
from processes.errors import Conflict

logger = logging.getLogger(__name__)

# Instances written per transaction; a conflict re-fires at most this many singly.
WRITE_BATCH_SIZE = 100


@dataclass
class TimerReport:
    """How a round of timer firing went."""

    fired: int = 0
    conflicts: int = 0
    failed: int = 0

    def add(self, other: TimerReport) -> None:
        """Count another round's figures into this one."""
        self.fired += other.fired
        self.conflicts += other.conflicts
        self.failed += other.failed

    @property
    def handled(self) -> int:
        """Return how many instances this round took up."""
        return self.fired + self.conflicts + self.failed


def fire_due_timers(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    shard: tuple[int, int] | None = None,
    on_committed: Callable[[TimerReport], None] | None = None,
) -> TimerReport:
    """Fire every due timer, up to `batch_size` instances, and report the outcome.

    An instance whose diagram fails while a timer fires is marked as failed, with
    the engine's message in its audit trail, so it neither blocks the others nor
    fails again on every round. `shard` (index, count) takes only the instances
    whose id modulo count is index. `on_committed` hears of each committed batch,
    e.g. to start sending the e-mail it queued.
    """
    report, now = TimerReport(), now or utcnow()
    ids = timers.due_instance_ids(session, now, limit=batch_size, shard=shard)
    for start in range(0, len(ids), WRITE_BATCH_SIZE):
        batch = _fire_batch(session, ids[start : start + WRITE_BATCH_SIZE], now)
        report.add(batch)
        if on_committed is not None and batch.fired:
            on_committed(batch)
    return report


def _fire_batch(
    session: Session, instance_ids: list[int], now: datetime
) -> TimerReport:
    """Fire a batch in one transaction, or one by one if another writer interfered."""
    try:
        with transaction(session):
            batch = timers.fire_batch(session, instance_ids, now=now, on_effects=_apply)
    except Conflict:
        if len(instance_ids) == 1:
            _log_conflict(instance_ids[0])
            return TimerReport(conflicts=1)
        logger.info("a timer batch met a concurrent change; firing it one by one")
        report = TimerReport()
        for instance_id in instance_ids:
            report.add(_fire_batch(session, [instance_id], now))
        return report

    for instance_id, message in batch.failed.items():
        _stop(session, instance_id, message)
    return TimerReport(
        fired=len(batch.results),
        conflicts=batch.moved_on,
        failed=len(batch.failed),
    )


def _apply(session: Session, results: list[runner.StepResult]) -> None:
    apply_effects(session, results)
    notifications.announce_new_tasks(session, results)


def _stop(session: Session, instance_id: int, message: str) -> None:
    with transaction(session):
        runner.mark_failed(session, instance_id, message)


def _log_conflict(instance_id: int) -> None:
    logger.info(
        "timers of instance %s were handled by another writer",
        instance_id,
        extra={"instance_id": instance_id},
    )
