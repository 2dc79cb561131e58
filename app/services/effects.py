"""Apply what diagram scripts asked for: notifications, escalations, archiving."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import HumanTask, ProcessInstance, record_event
from app.services import names, notifications
from processes.effects import Effect

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


def apply_effects(
    session: Session, instance: ProcessInstance, effects: list[Effect]
) -> None:
    """Apply the effects of one engine step inside that step's transaction."""
    for effect in effects:
        handler = _HANDLERS.get(effect.kind)
        if handler is None:
            raise LookupError(f"no handler for diagram effect {effect.kind!r}")
        handler(session, instance, effect)


def _notify(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    lane, kind = effect.payload["lane"], effect.payload["kind"]
    task = _task_notified_of(session, instance, lane, kind)
    title = f"{names.unit_name(session, instance.unit_id)}：{_describe(task, kind)}"
    told = notifications.notify_lane(
        session, instance, lane, kind, title, task_id=task.id if task else None
    )
    record_event(
        session,
        "notification.queued",
        instance_id=instance.id,
        lane=lane,
        kind=kind,
        unit_id=instance.unit_id,
        recipients=told,
    )
    logger.info(
        "notification %s for lane %s of instance %s",
        effect.payload["kind"],
        effect.payload["lane"],
        instance.id,
        extra={"instance_id": instance.id},
    )


def _escalate(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    kind = effect.payload["kind"]
    overdue = _overdue_task(session, instance, kind)
    lane = ESCALATE_TO.get(overdue.lane if overdue else "", "office")
    what = overdue.title if overdue else kind
    title = f"已逾期：{names.unit_name(session, instance.unit_id)}「{what}」"
    told = notifications.notify_lane(
        session,
        instance,
        lane,
        "escalation",
        title,
        task_id=overdue.id if overdue else None,
    )
    record_event(
        session,
        "escalation.raised",
        instance_id=instance.id,
        kind=kind,
        unit_id=instance.unit_id,
        escalated_to=lane,
        recipients=told,
    )
    logger.warning(
        "escalation %s for instance %s",
        effect.payload["kind"],
        instance.id,
        extra={"instance_id": instance.id},
    )


def _overdue_task(session, instance, kind: str) -> HumanTask | None:
    """Return the waiting task an escalation is about, named `<task id>_overdue`."""
    bpmn_id = kind.removesuffix("_overdue")
    query = select(HumanTask).where(
        HumanTask.instance_id == instance.id,
        HumanTask.state == "ready",
        HumanTask.bpmn_id == bpmn_id,
    )
    return session.scalars(query).first()


def _task_notified_of(session, instance, lane: str, kind: str) -> HumanTask | None:
    """Return the waiting task a notification is about.

    A reminder `<task id>_reminder` names its task; any other notice (such as a
    rectification order) is about the newest task waiting in the notified lane.
    """
    if kind.endswith("_reminder"):
        return _overdue_task(session, instance, kind.removesuffix("_reminder"))
    query = (
        select(HumanTask)
        .where(
            HumanTask.instance_id == instance.id,
            HumanTask.state == "ready",
            HumanTask.lane == lane,
        )
        .order_by(HumanTask.id.desc())
    )
    return session.scalars(query).first()


def _describe(task: HumanTask | None, kind: str) -> str:
    if kind.endswith("_reminder"):
        return f"「{task.title if task else kind}」即将到期"
    return KIND_TITLES.get(kind, kind)


def _archive(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.archive import archive_instance

    archive_instance(session, instance, effect.payload["outcome"])


def _title_notice(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.titles import open_notice

    open_notice(session, instance, effect.payload["ends_at"])


def _title_change(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.titles import apply_decision

    payload = effect.payload
    apply_decision(session, instance, payload["decision"], payload["rectify_days"])


def _report_published(session: Session, instance: ProcessInstance, effect) -> None:
    from app.services.public_steps import publish_result

    publish_result(session, instance)


_HANDLERS = {
    "notify": _notify,
    "escalate": _escalate,
    "archive": _archive,
    "title_notice": _title_notice,
    "title_change": _title_change,
    "public_report_published": _report_published,
}
