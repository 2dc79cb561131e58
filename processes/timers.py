"""Fire the BPMN timers that have fallen due, many instances at a time.

A batch of due instances is loaded with one query and fired in memory; then every
instance row is written with one statement, each row under its own version check,
and their human tasks, audit events and effects follow, one statement per table.
If any instance was changed by another writer meanwhile, `Conflict` is raised and
the caller rolls the whole batch back: nothing of it is written, and the caller can
fire those instances one at a time. An instance whose diagram fails while firing is
not written and is reported, so that the caller can stop it alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.models import ProcessInstance, record_event, utcnow
from processes import effects as step_effects
from processes import engine, human_tasks, runner
from processes.errors import Conflict, EngineError

logger = logging.getLogger(__name__)


@dataclass
class TimerBatch:
    """What firing a batch did: its steps, its failures, and how many moved on."""

    results: list[runner.StepResult] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    # Instances no longer due when loaded: another writer had moved them on.
    moved_on: int = 0


@dataclass
class _Fired:
    instance: ProcessInstance
    workflow: object
    version_seen: int
    effects: list
    due_before: datetime | None


def due_instance_ids(
    session: Session,
    now: datetime,
    limit: int = 500,
    *,
    shard: tuple[int, int] | None = None,
) -> list[int]:
    """Return ids of running instances whose next timer is due, earliest first.

    `shard` (index, count) keeps the instances whose id modulo count is index, so
    that several workers share the due instances without meeting each other.
    """
    query = (
        select(ProcessInstance.id)
        .where(ProcessInstance.next_timer_due_at <= now)
        .where(ProcessInstance.status == "running")
        .order_by(ProcessInstance.next_timer_due_at, ProcessInstance.id)
        .limit(limit)
    )
    if shard is not None:
        index, count = shard
        query = query.where(ProcessInstance.id % count == index)
    return list(session.scalars(query))


def fire_batch(
    session: Session,
    instance_ids: list[int],
    *,
    now: datetime | None = None,
    on_effects: runner.EffectHandler = runner.ignore_effects,
) -> TimerBatch:
    """Fire the due timers of many instances and write them together.

    Instances no longer running or due by `now` (another writer got there first)
    are left alone. Raises `Conflict` when any of them was changed meanwhile; the
    caller then rolls back. The caller commits.
    """
    batch = TimerBatch()
    fired = []
    due = _load_due(session, instance_ids, now or utcnow())
    batch.moved_on = len(set(instance_ids)) - len(due)
    for instance in due:
        try:
            fired.append(_fire_in_memory(session, instance))
        except EngineError as error:
            batch.failed[instance.id] = error.message
    if not fired:
        return batch

    _save_all(session, fired)
    waiting = human_tasks.sync(session, [(f.instance, f.workflow) for f in fired])
    for step in fired:
        record_event(
            session,
            "timer.fired",
            instance_id=step.instance.id,
            due_at=step.due_before.isoformat() if step.due_before else None,
            effects=[effect.kind for effect in step.effects],
        )
        batch.results.append(
            runner.StepResult(step.instance, step.effects, waiting[step.instance.id])
        )
    on_effects(session, batch.results)
    return batch


def _load_due(
    session: Session, instance_ids: list[int], now: datetime
) -> list[ProcessInstance]:
    query = (
        select(ProcessInstance)
        .options(*runner.instance_options())
        .where(ProcessInstance.id.in_(instance_ids))
        .where(ProcessInstance.next_timer_due_at <= now)
        .where(ProcessInstance.status == "running")
        .order_by(ProcessInstance.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def _fire_in_memory(session: Session, instance: ProcessInstance) -> _Fired:
    workflow = runner.load_workflow(session, instance)
    with step_effects.collecting() as effects:
        engine.fire_timers(workflow)
    return _Fired(
        instance,
        workflow,
        instance.lock_version,
        effects,
        instance.next_timer_due_at,
    )


def _save_all(session: Session, fired: list[_Fired]) -> None:
    """Write every fired instance, each only if its version is still the one read."""
    rows = []
    for step in fired:
        values = runner.saved_values(step.workflow, step.version_seen)
        rows.append(values | {"b_id": step.instance.id, "b_seen": step.version_seen})
        runner.mark_saved(step.instance, values)

    result = session.execute(_SAVE, rows)
    if result.rowcount != len(rows):
        raise Conflict(
            f"{len(rows) - result.rowcount} of {len(rows)} instances were changed "
            "by another writer while their timers fired"
        )


_TABLE = ProcessInstance.__table__
# On the table, not the entity: one executemany with a version check per row.
_SAVE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .where(_TABLE.c.lock_version == bindparam("b_seen"))
)
