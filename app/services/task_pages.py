"""What a task page shows besides the form: history, submission, reviews, order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    AuditEvent,
    Cycle,
    EvidenceFile,
    HumanTask,
    ProcessInstance,
    RectificationItem,
    RectificationOrder,
    Review,
    Submission,
    SubmissionResponse,
    Unit,
    User,
    utcnow,
)
from app.services import scope
from app.services.indicators import Catalog, catalog_for_cycle
from processes.errors import NotFound

HISTORY_ACTIONS = ("task.completed", "review.recorded")


@dataclass(frozen=True)
class PastStep:
    """Someone who acted on the instance before: what, who, when."""

    action: str
    actor: str
    at: datetime
    detail: dict


@dataclass
class Answer:
    """The unit's answer to one indicator, with its evidence files."""

    self_score: Decimal | None = None
    explanation: str = ""
    evidence: list[EvidenceFile] = field(default_factory=list)


@dataclass(frozen=True)
class PastReview:
    """A previous level's review: its scores and opinion per indicator code."""

    level: str
    round: int
    reviewer: str
    decision: str
    opinion: str
    total_score: Decimal
    scores: dict[str, Decimal]
    comments: dict[str, str]


@dataclass
class TaskPage:
    """Everything a task page reads, loaded once per request."""

    task: HumanTask
    unit: Unit | None
    cycle: Cycle | None
    catalog: Catalog | None
    lock_version: int
    overdue: bool
    history: list[PastStep]
    answers: dict[str, Answer]
    reviews: list[PastReview]
    order: RectificationOrder | None
    codes_by_indicator_id: dict[int, str]
    item_evidence: dict[int, list[EvidenceFile]] = field(default_factory=dict)


def load_page(session: Session, task: HumanTask) -> TaskPage:
    """Read what the page of a task shows, beyond the task row itself."""
    instance = session.get(ProcessInstance, task.instance_id)
    catalog = catalog_for_cycle(session, task.cycle_id) if task.cycle_id else None
    codes = {i.id: i.code for i in catalog.indicators} if catalog else {}
    overdue = bool(
        task.due_at and task.state == "ready" and _aware(task.due_at) < utcnow()
    )
    order = latest_order(session, task.instance_id)
    return TaskPage(
        task=task,
        unit=task.unit,
        cycle=session.get(Cycle, task.cycle_id) if task.cycle_id else None,
        catalog=catalog,
        lock_version=instance.lock_version,
        overdue=overdue,
        history=history(session, task.instance_id),
        answers=answers(session, task.instance_id, codes),
        reviews=past_reviews(session, task.instance_id, codes),
        order=order,
        codes_by_indicator_id=codes,
        item_evidence=item_evidence(session, order.items if order else []),
    )


def history(session: Session, instance_id: int) -> list[PastStep]:
    """Return the completed steps and recorded reviews of an instance, oldest first."""
    query = (
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.instance_id == instance_id)
        .where(AuditEvent.action.in_(HISTORY_ACTIONS))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [
        PastStep(event.action, name or "", event.at, event.detail or {})
        for event, name in session.execute(query)
    ]


def answers(
    session: Session, instance_id: int, codes: dict[int, str]
) -> dict[str, Answer]:
    """Return the unit's latest answers by indicator code, evidence included."""
    query = (
        select(Submission)
        .options(
            selectinload(Submission.responses).selectinload(SubmissionResponse.evidence)
        )
        .where(Submission.instance_id == instance_id)
        .order_by(Submission.round.desc())
    )
    submission = session.scalars(query).first()
    if submission is None:
        return {}
    found = {}
    for response in submission.responses:
        code = codes.get(response.indicator_id)
        if code:
            evidence = sorted(response.evidence, key=lambda f: f.id)
            found[code] = Answer(response.self_score, response.explanation, evidence)
    return found


def past_reviews(
    session: Session, instance_id: int, codes: dict[int, str]
) -> list[PastReview]:
    """Return the reviews recorded on an instance, oldest first."""
    query = (
        select(Review, User.display_name)
        .options(selectinload(Review.scores))
        .join(User, User.id == Review.reviewer_id)
        .where(Review.instance_id == instance_id)
        .order_by(Review.created_at, Review.id)
    )
    reviews = []
    for review, name in session.execute(query):
        scored = [(codes.get(s.indicator_id), s) for s in review.scores]
        reviews.append(
            PastReview(
                level=review.level,
                round=review.round,
                reviewer=name,
                decision=review.decision,
                opinion=review.opinion,
                total_score=review.total_score,
                scores={c: s.score for c, s in scored if c and not s.veto},
                comments={c: s.comment for c, s in scored if c and s.comment},
            )
        )
    return reviews


def latest_order(session: Session, instance_id: int) -> RectificationOrder | None:
    """Return the instance's latest rectification order with its items, if any."""
    query = (
        select(RectificationOrder)
        .options(selectinload(RectificationOrder.items))
        .where(RectificationOrder.instance_id == instance_id)
        .order_by(RectificationOrder.id.desc())
    )
    return session.scalars(query).first()


def item_evidence(
    session: Session, items: list[RectificationItem]
) -> dict[int, list[EvidenceFile]]:
    """Return the new evidence of rectification items by item id, oldest first."""
    ids = [item.id for item in items]
    if not ids:
        return {}
    query = (
        select(EvidenceFile)
        .where(EvidenceFile.rectification_item_id.in_(ids))
        .order_by(EvidenceFile.id)
    )
    found: dict[int, list[EvidenceFile]] = {}
    for stored in session.scalars(query):
        found.setdefault(stored.rectification_item_id, []).append(stored)
    return found


def evidence_for(session: Session, user: User, evidence_id: int) -> EvidenceFile:
    """Return an evidence file whose unit the user sees, or raise NotFound."""
    found = session.get(EvidenceFile, evidence_id)
    unit = session.get(Unit, found.unit_id) if found else None
    if unit is None or not scope.sees_path(user, unit.path):
        raise NotFound(
            f"evidence {evidence_id} does not exist or is outside your scope"
        )
    return found


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
