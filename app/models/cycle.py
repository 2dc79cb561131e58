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
    __table_args__ = (UniqueConstraint("office_id", "name"),)

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

    office: Mapped[Office] = relationship()
    indicator_system: Mapped[IndicatorSystem] = relationship()
