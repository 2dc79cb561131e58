"""Audit events: who did what to which object, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, event, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.models.base import Base, utcnow


class AuditEvent(Base):
    """One recorded action, kept for the timeline and for accountability."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60), index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id"), index=True
    )
    task_uuid: Mapped[str | None] = mapped_column(String(36))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None]
    detail: Mapped[dict] = mapped_column(default=dict)


PENDING_KEY = "wenming_audit_events"


def record_event(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    instance_id: int | None = None,
    task_uuid: str | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    **detail: object,
) -> None:
    """Queue an audit event; it is written in the step's transaction at commit."""
    session.info.setdefault(PENDING_KEY, []).append(
        {
            "at": utcnow(),
            "action": action,
            "actor_id": actor_id,
            "instance_id": instance_id,
            "task_uuid": task_uuid,
            "object_type": object_type,
            "object_id": object_id,
            "detail": detail,
        }
    )


@event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        # A plain table insert: the ORM's bulk-insert path costs more than the rows.
        session.execute(insert(AuditEvent.__table__), pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_events(session: Session, previous_transaction) -> None:
    session.info.pop(PENDING_KEY, None)
