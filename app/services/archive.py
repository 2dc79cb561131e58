"""Archiving a finished creation task with its final score (归档)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Archive, ProcessInstance, Review, ReviewScore, record_event
from app.services.dossier_freeze import freeze_dossier
from app.services.indicators import (
    Catalog,
    catalog_for_cycle,
    compute_score,
    grade_for,
)

logger = logging.getLogger(__name__)


def archive_instance(
    session: Session, instance: ProcessInstance, outcome: str
) -> Archive:
    """Store the final score of an instance and freeze its dossier in the step."""
    system = catalog_for_cycle(session, instance.cycle_id)
    review_id, breakdown = _last_review(session, system, instance.id)
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
        review_id=review_id,
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
    freeze_dossier(session, instance, record)
    return record


def _last_review(session: Session, system: Catalog, instance_id: int) -> tuple:
    last = (
        select(func.max(Review.id))
        .where(Review.instance_id == instance_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            ReviewScore.review_id,
            ReviewScore.indicator_id,
            ReviewScore.score,
            ReviewScore.veto,
        ).where(ReviewScore.review_id == last)
    ).all()
    scores = {row.indicator_id: row.score for row in rows if not row.veto}
    vetoes = {row.indicator_id for row in rows if row.veto}
    review_id = rows[0].review_id if rows else None
    return review_id, compute_score(system, scores, vetoes)
