"""Cycle results (测评结果) and the deductions recorded against units."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Unit

DEDUCTION_KINDS = ("problem", "complaint", "incident", "veto")


class UnitDeduction(Base):
    """A deduction or veto recorded against a unit: a problem, complaint or incident."""

    __tablename__ = "unit_deductions"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    count: Mapped[int] = mapped_column(default=1)
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=0)
    # An incident the unit did not report itself costs twice its points.
    self_reported: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(40), default="office")
    source_id: Mapped[int | None]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CycleResult(Base):
    """A unit's final score, grade and rank in a closed cycle."""

    __tablename__ = "cycle_results"
    __table_args__ = (UniqueConstraint("cycle_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    outcome: Mapped[str] = mapped_column(String(40))
    base_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    bonus: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    review_deductions: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    late_deduction: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    problem_deduction: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    complaint_deduction: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    incident_deduction: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    total_deductions: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    final_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=0)
    vetoed: Mapped[bool] = mapped_column(default=False)
    grade: Mapped[str] = mapped_column(String(40), default="")
    overdue: Mapped[bool] = mapped_column(default=False)
    days_late: Mapped[int] = mapped_column(default=0)
    rank_in_office: Mapped[int | None]
    rank_in_type: Mapped[int | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship()
