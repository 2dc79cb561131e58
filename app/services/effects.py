"""Apply what diagram scripts asked for: notifications, escalations, archiving."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from app.models import ProcessInstance, record_event
from processes.effects import Effect

logger = logging.getLogger(__name__)


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
    record_event(
        session,
        "notification.queued",
        instance_id=instance.id,
        lane=effect.payload["lane"],
        kind=effect.payload["kind"],
        unit_id=instance.unit_id,
    )
    logger.info(
        "notification %s for lane %s of instance %s",
        effect.payload["kind"],
        effect.payload["lane"],
        instance.id,
        extra={"instance_id": instance.id},
    )


def _escalate(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    record_event(
        session,
        "escalation.raised",
        instance_id=instance.id,
        kind=effect.payload["kind"],
        unit_id=instance.unit_id,
    )
    logger.warning(
        "escalation %s for instance %s",
        effect.payload["kind"],
        instance.id,
        extra={"instance_id": instance.id},
    )


def _archive(session: Session, instance: ProcessInstance, effect: Effect) -> None:
    from app.services.archive import archive_instance

    archive_instance(session, instance, effect.payload["outcome"])


_HANDLERS = {"notify": _notify, "escalate": _escalate, "archive": _archive}
