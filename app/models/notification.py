"""In-app notifications: what arrived for a person, and whether they have seen it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Notification(Base):
    """A message to one user about a task, a deadline or an assignment."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # When the notification went out by e-mail, on its own or in a digest.
    mailed_at: Mapped[datetime | None]
