"""Indicator systems (测评体系): versioned trees of categories and indicators."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Office, User

INDICATOR_KINDS = ("category", "base", "bonus", "deduction", "veto")
# The kinds a category can give its items.
ITEM_KINDS = INDICATOR_KINDS[1:]
METHODS = ("materials", "on_site", "questionnaire", "online")


class IndicatorSystem(Base):
    """One version of an office's scoring scheme."""

    __tablename__ = "indicator_systems"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(String(120))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    # The full base score; a version is published only when its base items add up.
    base_points: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=100)
    bonus_cap: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=10)
    grade_thresholds: Mapped[dict] = mapped_column(default=dict)
    # Late submission costs points per day late (started days count), up to a cap.
    late_points_per_day: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=1)
    late_points_cap: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=5)
    # A published version never changes: cycles keep the version they opened with.
    published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    office: Mapped[Office] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="system", order_by="Indicator.position"
    )

    def scoring_indicators(self) -> list[Indicator]:
        """Return the indicators that carry scores, in display order."""
        return [i for i in self.indicators if i.kind != "category"]


class Indicator(Base):
    """A category or a scored item of an indicator system."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("system_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("indicator_systems.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="base")
    # A category's own kind is "category"; this is the kind its items carry.
    item_kind: Mapped[str | None] = mapped_column(String(20))
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=0)
    per_item_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    method: Mapped[str] = mapped_column(String(20), default="materials")
    office_only: Mapped[bool] = mapped_column(default=False)
    min_photos: Mapped[int] = mapped_column(default=0)
    min_documents: Mapped[int] = mapped_column(default=0)
    min_explanation_chars: Mapped[int] = mapped_column(default=0)
    max_explanation_chars: Mapped[int] = mapped_column(default=500)
    guidance: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int] = mapped_column(default=0)

    system: Mapped[IndicatorSystem] = relationship(back_populates="indicators")
    parent: Mapped[Indicator | None] = relationship(remote_side=[id])

    @property
    def answerable_by_unit(self) -> bool:
        """Tell whether the unit self-scores and submits evidence for it."""
        return self.kind in ("base", "bonus") and not self.office_only
