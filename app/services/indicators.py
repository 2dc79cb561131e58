"""Indicator systems: building a versioned scheme and scoring against it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Indicator, IndicatorSystem, Office
from app.models.indicators import INDICATOR_KINDS, METHODS
from processes.errors import InvalidInput

DEFAULT_GRADES = {"model": 95, "keep": 85}


def create_system(
    session: Session,
    *,
    office: Office,
    code: str,
    name: str,
    categories: list[dict],
    bonus_cap: Decimal | int = 10,
    grade_thresholds: dict | None = None,
) -> IndicatorSystem:
    """Create the next version of an indicator system from nested category dicts."""
    latest = session.scalar(
        select(func.max(IndicatorSystem.version)).where(IndicatorSystem.code == code)
    )
    system = IndicatorSystem(
        code=code,
        version=(latest or 0) + 1,
        name=name,
        office_id=office.id,
        bonus_cap=Decimal(bonus_cap),
        grade_thresholds=grade_thresholds or dict(DEFAULT_GRADES),
        published=True,
    )
    session.add(system)
    session.flush()

    position = 0
    base_total = Decimal(0)
    for category in categories:
        position += 1
        parent = _add(session, system, None, category, "category", position)
        for item in category.get("indicators", []):
            position += 1
            indicator = _add(session, system, parent, item, category["kind"], position)
            if indicator.kind == "base":
                base_total += indicator.points
    system.base_points = base_total
    return system


def _add(session, system, parent, spec: dict, kind: str, position: int) -> Indicator:
    if kind not in INDICATOR_KINDS:
        raise InvalidInput(f"indicator kind {kind!r} is not one of {INDICATOR_KINDS}")
    method = spec.get("method", "materials")
    if method not in METHODS:
        raise InvalidInput(f"method {method!r} of {spec['code']} is not one of {METHODS}")
    indicator = Indicator(
        system_id=system.id,
        parent=parent,
        code=spec["code"],
        name=spec["name"],
        kind=kind,
        points=Decimal(str(spec.get("points", 0))),
        per_item_points=_decimal_or_none(spec.get("per_item")),
        method=method,
        office_only=spec.get("office_only", False),
        min_photos=spec.get("min_photos", 0),
        min_documents=spec.get("min_documents", 0),
        min_explanation_chars=spec.get("min_chars", 0),
        max_explanation_chars=spec.get("max_chars", 500),
        guidance=spec.get("guidance", ""),
        position=position,
    )
    session.add(indicator)
    session.flush()
    return indicator


def _decimal_or_none(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class ScoreBreakdown:
    """A unit's score: reviewed base points, capped bonus, deductions, veto."""

    base: Decimal
    bonus: Decimal
    deductions: Decimal
    vetoed: bool

    @property
    def total(self) -> Decimal:
        """Return base + capped bonus − deductions."""
        return self.base + self.bonus - self.deductions


def compute_score(
    system: IndicatorSystem, scores: dict[int, Decimal], vetoes: set[int]
) -> ScoreBreakdown:
    """Score a review: base points + bonus up to the cap − deductions; veto fails."""
    base = bonus = deductions = Decimal(0)
    for indicator in system.scoring_indicators():
        value = scores.get(indicator.id, Decimal(0))
        if indicator.kind == "base":
            base += value
        elif indicator.kind == "bonus":
            bonus += value
        elif indicator.kind == "deduction":
            deductions += value
    capped_bonus = min(bonus, Decimal(system.bonus_cap))
    return ScoreBreakdown(base, capped_bonus, deductions, vetoed=bool(vetoes))


def grade_for(system: IndicatorSystem, breakdown: ScoreBreakdown) -> str:
    """Return the grade a score earns by the system's thresholds."""
    if breakdown.vetoed:
        return "veto"
    thresholds = sorted(
        (system.grade_thresholds or DEFAULT_GRADES).items(),
        key=lambda item: item[1],
        reverse=True,
    )
    for grade, minimum in thresholds:
        if breakdown.total >= Decimal(str(minimum)):
            return grade
    return "below"
