"""The unit's ledger of creation activities (台账)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class LedgerEntry(Base):
    """One creation activity a unit recorded when it happened."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_unit_date", "unit_id", "occurred_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    indicator_code: Mapped[str] = mapped_column(String(20), index=True)
    occurred_on: Mapped[date]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    participants: Mapped[int] = mapped_column(default=0)
    volunteer_hours: Mapped[Decimal] = mapped_column(Numeric(9, 1), default=0)
    place: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    good_practice: Mapped[bool] = mapped_column(default=False)
    good_practice_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    good_practice_at: Mapped[datetime | None]


class LedgerAttachment(Base):
    """A ledger entry a unit attached to its answer to one indicator."""

    __tablename__ = "ledger_attachments"
    __table_args__ = (UniqueConstraint("response_id", "ledger_entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("submission_responses.id"), index=True
    )
    ledger_entry_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_entries.id"), index=True
    )
    attached_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)
