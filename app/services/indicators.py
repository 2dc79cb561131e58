"""Indicator systems: building a versioned scheme and scoring against it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.models import Cycle, Indicator, IndicatorSystem, Office, utcnow
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
        published_at=utcnow(),
    )
    session.add(system)
    session.flush()

    position = 0
    base_total = Decimal(0)
    for category in categories:
        position += 1
        parent = _add(session, system, None, category, "category", position)
        parent.item_kind = category["kind"]
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
        raise InvalidInput(
            f"method {method!r} of {spec['code']} is not one of {METHODS}"
        )
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
class IndicatorRule:
    """An indicator's scoring and evidence rules, detached from the database."""

    id: int
    code: str
    name: str
    kind: str
    points: Decimal
    office_only: bool
    min_photos: int
    min_documents: int
    min_explanation_chars: int
    max_explanation_chars: int

    @property
    def answerable_by_unit(self) -> bool:
        """Tell whether the unit self-scores and submits evidence for it."""
        return self.kind in ("base", "bonus") and not self.office_only


@dataclass(frozen=True)
class Catalog:
    """A published indicator system as an immutable, shareable value."""

    system_id: int
    name: str
    bonus_cap: Decimal
    grade_thresholds: dict
    indicators: tuple[IndicatorRule, ...]

    def scoring_indicators(self) -> tuple[IndicatorRule, ...]:
        """Return the indicators that carry scores, in display order."""
        return self.indicators


_catalogs: dict[tuple[int, datetime], Catalog] = {}
_catalogs_lock = threading.Lock()


def catalog_for_cycle(session: Session, cycle_id: int) -> Catalog:
    """Return the indicator catalog of a cycle, read from the database once."""
    known = session.info.setdefault("wenming_catalogs", {})
    if cycle_id not in known:
        known[cycle_id] = _catalog_of(session, cycle_id)
    return known[cycle_id]


def _catalog_of(session: Session, cycle_id: int) -> Catalog:
    row = session.execute(
        select(IndicatorSystem.id, IndicatorSystem.created_at)
        .join(Cycle, Cycle.indicator_system_id == IndicatorSystem.id)
        .where(Cycle.id == cycle_id)
    ).one()
    key = (row.id, row.created_at)
    with _catalogs_lock:
        cached = _catalogs.get(key)
    if cached is not None:
        return cached

    catalog = _build_catalog(session, row.id)
    with _catalogs_lock:
        _catalogs[key] = catalog
    return catalog


def _build_catalog(session: Session, system_id: int) -> Catalog:
    system = session.scalars(
        select(IndicatorSystem)
        .options(selectinload(IndicatorSystem.indicators))
        .where(IndicatorSystem.id == system_id)
    ).one()
    rules = tuple(
        IndicatorRule(
            id=i.id,
            code=i.code,
            name=i.name,
            kind=i.kind,
            points=i.points,
            office_only=i.office_only,
            min_photos=i.min_photos,
            min_documents=i.min_documents,
            min_explanation_chars=i.min_explanation_chars,
            max_explanation_chars=i.max_explanation_chars,
        )
        for i in system.scoring_indicators()
    )
    return Catalog(
        system_id=system.id,
        name=system.name,
        bonus_cap=Decimal(system.bonus_cap),
        grade_thresholds=dict(system.grade_thresholds or DEFAULT_GRADES),
        indicators=rules,
    )


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
    system: Catalog | IndicatorSystem, scores: dict[int, Decimal], vetoes: set[int]
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


def grade_for(system: Catalog | IndicatorSystem, breakdown: ScoreBreakdown) -> str:
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
