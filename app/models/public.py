"""Public site content and public reports (社会监督)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Office, Unit

ARTICLE_STATUSES = ("draft", "published")
REPORT_CATEGORIES = ("service_attitude", "environment", "integrity", "safety", "other")
REPORT_STATUSES = (
    "triage",
    "verifying",
    "rectifying",
    "checking",
    "feedback",
    "published",
)
REPORT_OUTCOMES = ("rejected", "unfounded", "confirmed")
PHOTO_ROLES = ("report", "rectification")


class PublicArticle(Base):
    """An article an office publishes on the public site, written in Markdown."""

    __tablename__ = "public_articles"
    __table_args__ = (
        Index("ix_public_articles_status_published", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]

    office: Mapped[Office] = relationship()


class PublicReport(Base):
    """A problem with a unit reported by a member of the public."""

    __tablename__ = "public_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only the sha256 of the tracking code is kept; the reporter holds the code.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(60), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="triage")
    outcome: Mapped[str | None] = mapped_column(String(20))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id"), unique=True
    )
    triage_reason: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    rectify_days: Mapped[int | None]
    rectification_due: Mapped[date | None]
    rectification_response: Mapped[str] = mapped_column(Text, default="")
    check_opinion: Mapped[str] = mapped_column(Text, default="")
    public_reply: Mapped[str] = mapped_column(Text, default="")
    deduction_id: Mapped[int | None] = mapped_column(ForeignKey("unit_deductions.id"))
    title_review_id: Mapped[int | None] = mapped_column(ForeignKey("title_reviews.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]

    unit: Mapped[Unit] = relationship()
    photos: Mapped[list[PublicReportPhoto]] = relationship(
        back_populates="report", order_by="PublicReportPhoto.id"
    )
    milestones: Mapped[list[PublicReportMilestone]] = relationship(
        back_populates="report", order_by="PublicReportMilestone.id"
    )


class PublicReportPhoto(Base):
    """A photo of a report or of its rectification, re-encoded without metadata."""

    __tablename__ = "public_report_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("public_reports.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="report")
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[PublicReport] = relationship(back_populates="photos")


class PublicReportMilestone(Base):
    """A step of a report the reporter may see on the tracking page."""

    __tablename__ = "public_report_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("public_reports.id"), index=True)
    milestone: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[PublicReport] = relationship(back_populates="milestones")


class PublicRateHit(Base):
    """One accepted public submission, counted by the rate limit per client."""

    __tablename__ = "public_rate_hits"
    __table_args__ = (Index("ix_public_rate_hits_client_at", "client_hash", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A keyed hash of the client address: the address itself is not stored.
    client_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
