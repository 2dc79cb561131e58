"""E-mail outbox: messages queued once and sent over SMTP by the scheduler."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
# Senders look only at pending messages; sent ones pile up and must not be walked.
PENDING = text("status = 'pending'")


class OutboxMessage(Base):
    """One e-mail to one address, identified by a key that keeps it unique."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index(
            "ix_outbox_messages_pending_due",
            "next_attempt_at",
            "id",
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(250))
    body_text: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(250), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    sending_started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A reminder about a task is not sent once the task is done.
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"))
