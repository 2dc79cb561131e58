"""What units and reviewers produce: submissions, evidence, reviews, rectification."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow

if TYPE_CHECKING:
    from app.models.ledger import LedgerEntry


class Submission(Base):
    """A unit's answer to its creation task: self-scores, explanations, evidence."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("instance_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    round: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    self_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    responses: Mapped[list[SubmissionResponse]] = relationship(
        back_populates="submission", cascade="all, delete-orphan"
    )


class SubmissionResponse(Base):
    """The unit's self-score and explanation for one indicator."""

    __tablename__ = "submission_responses"
    __table_args__ = (UniqueConstraint("submission_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    self_score: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=0)
    explanation: Mapped[str] = mapped_column(Text, default="")

    submission: Mapped[Submission] = relationship(back_populates="responses")
    evidence: Mapped[list[EvidenceFile]] = relationship(back_populates="response")


class EvidenceFile(Base):
    """An uploaded evidence file, stored once by its content hash."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int]
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission_responses.id"), index=True
    )
    rectification_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("rectification_items.id"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on a ledger entry's own files, and on their copies attached to a response.
    ledger_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_entries.id"), index=True
    )
    # When a photo was taken, read from its EXIF data where the file has it.
    captured_at: Mapped[datetime | None]

    response: Mapped[SubmissionResponse | None] = relationship(
        back_populates="evidence"
    )
    ledger_entry: Mapped[LedgerEntry | None] = relationship()


class Review(Base):
    """One level's review of a unit's submission: scores, opinion, decision."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id"), index=True
    )
    level: Mapped[str] = mapped_column(String(20))
    round: Mapped[int] = mapped_column(default=1)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(20))
    opinion: Mapped[str] = mapped_column(Text, default="")
    fail_reason: Mapped[str] = mapped_column(Text, default="")
    total_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    vetoed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    scores: Mapped[list[ReviewScore]] = relationship(
        back_populates="review", cascade="all, delete-orphan"
    )


class ReviewScore(Base):
    """A reviewer's score for one indicator, or a veto item found."""

    __tablename__ = "review_scores"
    __table_args__ = (UniqueConstraint("review_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=0)
    veto: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")

    review: Mapped[Review] = relationship(back_populates="scores")


class RectificationOrder(Base):
    """An order to fix named shortcomings by a deadline (整改通知)."""

    __tablename__ = "rectification_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id"), index=True
    )
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    level: Mapped[str] = mapped_column(String(20))
    round: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[RectificationItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan"
    )


class RectificationItem(Base):
    """One shortcoming to fix, the unit's response and the verifier's finding."""

    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("rectification_orders.id"))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    description: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[datetime | None]
    accepted: Mapped[bool | None]
    verifier_comment: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[RectificationOrder] = relationship(back_populates="items")


class Archive(Base):
    """The archived result of a creation task with its final score (归档)."""

    __tablename__ = "archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id"), unique=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    base_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    bonus: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    deductions: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    final_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    vetoed: Mapped[bool] = mapped_column(default=False)
    grade: Mapped[str] = mapped_column(String(40), default="")
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)
