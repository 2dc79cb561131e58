"""Apply what diagram scripts asked for: notifications, escalations, archiving.

Effects arrive per engine step; a batch of steps (a cycle's issuance, a round of
timers) is applied together, so the tasks, people and names its notices need are
looked up once for the batch and its notifications are written at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import HumanTask, ProcessInstance, record_event
from app.services import names, notifications
from processes.effects import Effect
from processes.runner import StepResult

logger = logging.getLogger(__name__)

# Who hears of an overdue step: the office above the lane that let it pass.
ESCALATE_TO = {
    "unit": "office",
    "unit_leader": "office",
    "office": "city",
    "county": "city",
    "city": "province",
    "province": "province",
}
KIND_TITLES = {"rectification_ordered": "收到整改通知"}
NOTICE_KINDS = frozenset({"notify", "escalate"})


def apply_effects(session: Session, steps: Iterable[StepResult]) -> None:
    """Apply the effects of engine steps inside those steps' transaction."""
    steps = [step for step in steps if step.effects]
    if not steps:
        return
    run = _EffectRun(session, steps)

    for step in steps:
        for effect in step.effects:
            handler = _HANDLERS.get(effect.kind)
            if handler is None:
                raise LookupError(f"no handler for diagram effect {effect.kind!r}")
            handler(run, step.instance, effect)

    run.notices.write()


class _EffectRun:
    """What the effects of a batch of steps share: notices and their look-ups."""

    def __init__(self, session: Session, steps: list[StepResult]) -> None:
        self.session = session
        self.notices = notifications.Notices(session)
        noticed = [
            step.instance
            for step in steps
            if any(effect.kind in NOTICE_KINDS for effect in step.effects)
        ]
        self._waiting = _waiting_tasks(session, [i.id for i in noticed])
        if noticed:
            unit_ids = {instance.unit_id for instance in noticed}
            self.notices.prefetch_units(unit_ids)
            names.prefetch_units(session, unit_ids)

    def waiting(self, instance: ProcessInstance) -> list[HumanTask]:
        """Return the instance's waiting human tasks, newest first."""
        return self._waiting.get(instance.id, [])


def _waiting_tasks(session: Session, instance_ids: list[int]) -> dict:
    """Return the waiting human tasks of the instances, newest first, by instance."""
    waiting: dict[int, list[HumanTask]] = {}
    if not instance_ids:
        return waiting
    query = (
        select(HumanTask)
        .where(HumanTask.instance_id.in_(instance_ids), HumanTask.state == "ready")
        .order_by(HumanTask.id.desc())
    )
    for task in session.scalars(query):
        waiting.setdefault(task.instance_id, []).append(task)
    return waiting


def _notify(run: _EffectRun, instance: ProcessInstance, effect: Effect) -> None:
    lane, kind = effect.payload["lane"], effect.payload["kind"]
    task = _task_notified_of(run.waiting(instance), lane, kind)
    unit = names.unit_name(run.session, instance.unit_id)
    title = f"{unit}：{_describe(task, kind)}"
    told = run.notices.lane(
        instance, lane, kind, title, task_id=task.id if task else None
    )
    record_event(
        run.session,
        "notification.queued",
        instance_id=instance.id,
        lane=lane,
        kind=kind,
        unit_id=instance.unit_id,
        recipients=told,
    )
    logger.debug(
        "notification %s for lane %s of instance %s",
        kind,
        lane,
        instance.id,
        extra={"instance_id": instance.id},
    )


def _escalate(run: _EffectRun, instance: ProcessInstance, effect: Effect) -> None:
    kind = effect.payload["kind"]
    overdue = _task_named(run.waiting(instance), kind.removesuffix("_overdue"))
    lane = ESCALATE_TO.get(overdue.lane if overdue else "", "office")
    what = overdue.title if overdue else kind
    title = f"已逾期：{names.unit_name(run.session, instance.unit_id)}「{what}」"
    told = run.notices.lane(
        instance,
        lane,
        "escalation",
        title,
        task_id=overdue.id if overdue else None,
    )
    record_event(
        run.session,
        "escalation.raised",
        instance_id=instance.id,
        kind=kind,
        unit_id=instance.unit_id,
        escalated_to=lane,
        recipients=told,
    )
    logger.warning(
        "escalation %s for instance %s",
        kind,
        instance.id,
        extra={"instance_id": instance.id},
    )


def _task_named(waiting: list[HumanTask], bpmn_id: str) -> HumanTask | None:
    """Return the waiting task of this diagram step (an escalation's subject)."""
    return next((task for task in waiting if task.bpmn_id == bpmn_id), None)


def _task_notified_of(
    waiting: list[HumanTask], lane: str, kind: str
) -> HumanTask | None:
    """Return the waiting task a notification is about.

    A reminder `<task id>_reminder` names its task; any other notice (such as a
    rectification order) is about the newest task waiting in the notified lane.
    """
    if kind.endswith("_reminder"):
        return _task_named(waiting, kind.removesuffix("_reminder"))
    return next((task for task in waiting if task.lane == lane), None)


def _describe(task: HumanTask | None, kind: str) -> str:
    if kind.endswith("_reminder"):
        return f"「{task.title if task else kind}」即将到期"
    return KIND_TITLES.get(kind, kind)


def _archive(run: _EffectRun, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.archive import archive_instance

    archive_instance(run.session, instance, effect.payload["outcome"])


def _title_notice(run: _EffectRun, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.titles import open_notice

    open_notice(run.session, instance, effect.payload["ends_at"])


def _title_change(run: _EffectRun, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.titles import apply_decision

    payload = effect.payload
    apply_decision(run.session, instance, payload["decision"], payload["rectify_days"])


def _report_published(
    run: _EffectRun, instance: ProcessInstance, effect: Effect
) -> None:
    from app.services.public_steps import publish_result

    publish_result(run.session, instance)


_HANDLERS = {
    "notify": _notify,
    "escalate": _escalate,
    "archive": _archive,
    "title_notice": _title_notice,
    "title_change": _title_change,
    "public_report_published": _report_published,
}
