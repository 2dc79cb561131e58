"""Dynamic management of titles (动态管理): reviews, objections and history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Unit

TITLE_REVIEW_REASONS = ("below_keep", "vetoed", "rectification_failed", "complaint")
TITLE_PROPOSALS = ("keep", "yellow_card", "rectify", "revoke")


class TitleReview(Base):
    """One review of a unit's title: proposal, approval, public notice, decision."""

    __tablename__ = "title_reviews"
    __table_args__ = (UniqueConstraint("unit_id", "cycle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id"))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id"), unique=True
    )
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="proposing")
    proposal: Mapped[str | None] = mapped_column(String(20))
    rectify_days: Mapped[int | None]
    proposal_reason: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    approval_opinion: Mapped[str] = mapped_column(Text, default="")
    notice_starts_at: Mapped[datetime | None]
    notice_ends_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship()
    objections: Mapped[list[TitleObjection]] = relationship(
        back_populates="review", order_by="TitleObjection.id"
    )


class TitleObjection(Base):
    """An objection raised during a public notice, as the office recorded it."""

    __tablename__ = "title_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    title_review_id: Mapped[int] = mapped_column(
        ForeignKey("title_reviews.id"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(120), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[TitleReview] = relationship(back_populates="objections")


class TitleChange(Base):
    """A change of a unit's title level or status, kept as its history."""

    __tablename__ = "title_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    title_review_id: Mapped[int | None] = mapped_column(ForeignKey("title_reviews.id"))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    from_level: Mapped[str | None] = mapped_column(String(20))
    to_level: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
