"""Archiving a finished creation task with its final score (归档)."""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Archive, ProcessInstance, Review, record_event
from app.services.indicators import (
    Catalog,
    ScoreBreakdown,
    catalog_for_cycle,
    compute_score,
    grade_for,
)

logger = logging.getLogger(__name__)


def archive_instance(
    session: Session, instance: ProcessInstance, outcome: str
) -> Archive:
    """Store the final score of an instance from its last review."""
    system = catalog_for_cycle(session, instance.cycle_id)
    review = session.scalars(
        select(Review)
        .where(Review.instance_id == instance.id)
        .order_by(Review.id.desc())
    ).first()
    breakdown = _breakdown(system, review)
    if breakdown.vetoed:
        outcome = "failed"

    record = Archive(
        instance_id=instance.id,
        unit_id=instance.unit_id,
        cycle_id=instance.cycle_id,
        outcome=outcome,
        base_score=breakdown.base,
        bonus=breakdown.bonus,
        deductions=breakdown.deductions,
        final_score=breakdown.total,
        vetoed=breakdown.vetoed,
        grade=grade_for(system, breakdown),
        review_id=review.id if review else None,
    )
    session.add(record)
    instance.outcome = outcome
    record_event(
        session,
        "instance.archived",
        instance_id=instance.id,
        outcome=outcome,
        final_score=str(breakdown.total),
        grade=record.grade,
    )
    logger.info(
        "instance %s archived as %s with %s points",
        instance.id,
        outcome,
        breakdown.total,
        extra={"instance_id": instance.id},
    )
    return record


def _breakdown(system: Catalog, review: Review | None) -> ScoreBreakdown:
    if review is None:
        return ScoreBreakdown(Decimal(0), Decimal(0), Decimal(0), vetoed=False)
    scores = {s.indicator_id: s.score for s in review.scores if not s.veto}
    vetoes = {s.indicator_id for s in review.scores if s.veto}
    return compute_score(system, scores, vetoes)
