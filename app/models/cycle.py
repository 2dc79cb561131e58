"""Assessment cycles (测评周期): one round of creation tasks with its deadlines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.indicators import IndicatorSystem
from app.models.organisation import Office


class Cycle(Base):
    """A cycle issued by an office to the units of its subtree."""

    __tablename__ = "cycles"
    __table_args__ = (
        UniqueConstraint("office_id", "name"),
        UniqueConstraint("schedule_id", "period", name="uq_cycles_schedule_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    indicator_system_id: Mapped[int] = mapped_column(ForeignKey("indicator_systems.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    opens_at: Mapped[datetime] = mapped_column(default=utcnow)
    submission_due: Mapped[datetime]
    county_review_due: Mapped[datetime]
    city_review_due: Mapped[datetime]
    province_review_due: Mapped[datetime]
    reminder_lead: Mapped[str] = mapped_column(String(20), default="P2D")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Which units the cycle is for; empty lists mean every unit in scope.
    unit_types: Mapped[list] = mapped_column(default=list)
    title_levels: Mapped[list] = mapped_column(default=list)
    # Set when a schedule opened the cycle: one cycle per schedule and period.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_schedules.id"))
    period: Mapped[str | None] = mapped_column(String(20))
    # Issuance progress, kept so a page can show it and an interrupted run resume.
    issue_total: Mapped[int] = mapped_column(default=0)
    issue_done: Mapped[int] = mapped_column(default=0)
    issued_at: Mapped[datetime | None]
    auto_close: Mapped[bool] = mapped_column(default=True)
    closes_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]

    office: Mapped[Office] = relationship()
    indicator_system: Mapped[IndicatorSystem] = relationship()


RECURRENCES = ("yearly", "quarterly", "monthly", "cron")


class CycleSchedule(Base):
    """An office's standing order to open a cycle on a calendar (e.g. each October)."""

    __tablename__ = "cycle_schedules"
    __table_args__ = (UniqueConstraint("office_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    indicator_system_id: Mapped[int] = mapped_column(ForeignKey("indicator_systems.id"))
    recurrence: Mapped[str] = mapped_column(String(20))
    # Five-field cron text (minute hour day month weekday) in the office's time zone.
    cron: Mapped[str] = mapped_column(String(120))
    submission_days: Mapped[int] = mapped_column(default=30)
    county_review_days: Mapped[int] = mapped_column(default=15)
    city_review_days: Mapped[int] = mapped_column(default=10)
    province_review_days: Mapped[int] = mapped_column(default=10)
    reminder_lead: Mapped[str] = mapped_column(String(20), default="P2D")
    unit_types: Mapped[list] = mapped_column(default=list)
    title_levels: Mapped[list] = mapped_column(default=list)
    auto_close: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    office: Mapped[Office] = relationship()
    indicator_system: Mapped[IndicatorSystem] = relationship()
