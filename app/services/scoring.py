"""Closing a cycle: each issued unit's final score, grade, rank and deductions.

A unit's final score is its reviewed base points plus its bonus (up to the
system's cap), less the reviewers' deductions, the late-submission deduction and
the deductions recorded against it in the cycle; it never falls below zero. A veto
by a reviewer or a veto record fails the unit, and a failed unit is not ranked.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import (
    Archive,
    Cycle,
    CycleResult,
    Indicator,
    IndicatorSystem,
    ProcessInstance,
    Review,
    ReviewScore,
    Submission,
    Unit,
    UnitDeduction,
    User,
    record_event,
)
from app.models.results import DEDUCTION_KINDS
from app.services import notifications, scope
from app.services.base import transaction
from app.services.cycles import CREATION_PROCESS
from app.services.fields import FieldErrors, choice, number, text
from app.services.indicators import (
    ScoreBreakdown,
    catalog_for_cycle,
    compute_score,
    grade_for,
)
from processes.errors import Forbidden, InvalidInput, NotFound, WenmingError

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
SECONDS_PER_DAY = 86400
MAX_COUNT = 1000
MAX_POINTS = Decimal(100)
RECORDING_ROLES = ("admin", "office_admin", "reviewer")


@dataclass
class Reviewed:
    """The reviewed part of a unit's score, from its archive or latest review."""

    base: Decimal = ZERO
    bonus: Decimal = ZERO
    deductions: Decimal = ZERO
    vetoed: bool = False


@dataclass
class Recorded:
    """The deductions recorded against a unit in a cycle, summed by kind."""

    problem: Decimal = ZERO
    complaint: Decimal = ZERO
    incident: Decimal = ZERO
    vetoed: bool = False


@dataclass
class CloseReport:
    """What closing a cycle did: units scored, overdue units, offices told."""

    scored: int = 0
    overdue: int = 0
    newly_overdue: list[str] = field(default_factory=list)
    notified: int = 0
    title_reviews: int = 0
    title_review_error: str | None = None
    first_close: bool = True


def close_cycle(
    session: Session, cycle: Cycle, *, now: datetime, actor_id: int | None = None
) -> CloseReport:
    """Score every issued unit, escalate overdue ones and close the cycle."""
    with transaction(session):
        report = CloseReport(first_close=cycle.closed_at is None)
        previously_overdue = _overdue_unit_ids(session, cycle)
        results = compute_results(session, cycle, now=now)
        report.scored = len(results)
        report.overdue = sum(1 for r in results if r.overdue)

        fresh = [
            r for r in results if r.overdue and r.unit_id not in previously_overdue
        ]
        report.notified = _escalate(session, cycle, fresh)
        report.newly_overdue = [r.unit.name for r in fresh]

        cycle.status = "closed"
        if report.first_close:
            cycle.closed_at = now
        record_event(
            session,
            "cycle.closed" if report.first_close else "cycle.recomputed",
            actor_id=actor_id,
            object_type="cycle",
            object_id=cycle.id,
            scored=report.scored,
            overdue=report.overdue,
        )

    logger.info(
        "cycle %s %s: %s units scored, %s overdue",
        cycle.id,
        "closed" if report.first_close else "recomputed",
        report.scored,
        report.overdue,
        extra={"cycle_id": cycle.id},
    )
    _start_title_reviews(session, cycle, report)
    return report


def _start_title_reviews(session: Session, cycle: Cycle, report: CloseReport) -> None:
    """Start title reviews from the committed results; a failure keeps the close."""
    from app.services import titles

    try:
        report.title_reviews = titles.start_title_reviews(session, cycle)
    except WenmingError as error:
        report.title_review_error = error.message
        logger.warning(
            "cycle %s closed, but title reviews did not start: %s",
            cycle.id,
            error.message,
            extra={"cycle_id": cycle.id},
        )


def close_due_cycles(session: Session, *, now: datetime) -> list[int]:
    """Close every auto-closing cycle whose close time has come, each on its own."""
    query = (
        select(Cycle.id)
        .where(
            Cycle.auto_close.is_(True),
            Cycle.closes_at.is_not(None),
            Cycle.closes_at <= now,
            Cycle.closed_at.is_(None),
        )
        .order_by(Cycle.closes_at, Cycle.id)
    )
    closed = []
    for cycle_id in list(session.scalars(query)):
        cycle = session.get(Cycle, cycle_id)
        try:
            close_cycle(session, cycle, now=now)
        except WenmingError as error:
            logger.warning(
                "cycle %s could not be closed: %s",
                cycle_id,
                error.message,
                extra={"cycle_id": cycle_id},
            )
            continue
        closed.append(cycle_id)
    return closed


def compute_results(
    session: Session, cycle: Cycle, *, now: datetime
) -> list[CycleResult]:
    """Upsert one result per unit issued in the cycle, with grades and ranks."""
    system = session.get(IndicatorSystem, cycle.indicator_system_id)
    instances = _creation_instances(session, cycle)
    archives = _archives(session, cycle)
    reviewed = _latest_reviews(session, cycle, [i.id for i in instances])
    submitted = _first_submissions(session, cycle)
    recorded = _recorded_deductions(session, cycle)
    existing = _existing_results(session, cycle)

    results = []
    for instance in instances:
        result = existing.get(instance.unit_id)
        if result is None:
            result = CycleResult(cycle_id=cycle.id, unit_id=instance.unit_id)
            session.add(result)
        result.unit = instance.unit
        part = _reviewed_part(system, archives.get(instance.id), reviewed, instance)
        _fill(result, instance, part, recorded.get(instance.unit_id, Recorded()))
        _fill_timing(result, cycle, system, instance, submitted, now)
        _fill_totals(result, system, now)
        results.append(result)

    _rank(results)
    session.flush()
    return results


def _creation_instances(session: Session, cycle: Cycle) -> list[ProcessInstance]:
    prefix = f"{CREATION_PROCESS}:{cycle.id}:"
    query = (
        select(ProcessInstance)
        .options(joinedload(ProcessInstance.unit).joinedload(Unit.office))
        .where(
            ProcessInstance.cycle_id == cycle.id,
            ProcessInstance.business_key.startswith(prefix, autoescape=True),
        )
        .order_by(ProcessInstance.unit_id)
    )
    return list(session.scalars(query))


def _archives(session: Session, cycle: Cycle) -> dict[int, Archive]:
    query = select(Archive).where(Archive.cycle_id == cycle.id)
    return {archive.instance_id: archive for archive in session.scalars(query)}


def _latest_reviews(
    session: Session, cycle: Cycle, instance_ids: list[int]
) -> dict[int, ScoreBreakdown]:
    """Score each instance's latest review with the cycle's indicator catalog."""
    if not instance_ids:
        return {}
    latest = (
        select(func.max(Review.id))
        .where(Review.instance_id.in_(instance_ids))
        .group_by(Review.instance_id)
    )
    rows = session.execute(
        select(
            Review.instance_id,
            ReviewScore.indicator_id,
            ReviewScore.score,
            ReviewScore.veto,
        )
        .join(ReviewScore, ReviewScore.review_id == Review.id)
        .where(Review.id.in_(latest))
    ).all()
    scores: dict[int, dict[int, Decimal]] = defaultdict(dict)
    vetoes: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        if row.veto:
            vetoes[row.instance_id].add(row.indicator_id)
        else:
            scores[row.instance_id][row.indicator_id] = row.score

    catalog = catalog_for_cycle(session, cycle.id)
    reviewed = scores.keys() | vetoes.keys()
    return {i: compute_score(catalog, scores[i], vetoes[i]) for i in reviewed}


def _first_submissions(session: Session, cycle: Cycle) -> dict[int, datetime]:
    query = select(Submission.instance_id, Submission.submitted_at).where(
        Submission.cycle_id == cycle.id,
        Submission.round == 1,
        Submission.submitted_at.is_not(None),
    )
    return dict(session.execute(query).tuples().all())


def _recorded_deductions(session: Session, cycle: Cycle) -> dict[int, Recorded]:
    """Sum the cycle's deduction records per unit, in points."""
    per_item = dict(
        session.execute(
            select(Indicator.id, func.coalesce(Indicator.per_item_points, 0))
            .join(Cycle, Cycle.indicator_system_id == Indicator.system_id)
            .where(Cycle.id == cycle.id, Indicator.kind == "deduction")
        )
        .tuples()
        .all()
    )
    query = select(UnitDeduction).where(UnitDeduction.cycle_id == cycle.id)
    sums: dict[int, Recorded] = defaultdict(Recorded)
    for record in session.scalars(query):
        recorded = sums[record.unit_id]
        if record.kind == "veto":
            recorded.vetoed = True
        elif record.kind == "incident":
            factor = 1 if record.self_reported else 2
            recorded.incident += record.count * Decimal(record.points) * factor
        else:
            each = per_item.get(record.indicator_id) or Decimal(record.points)
            amount = record.count * Decimal(each)
            setattr(recorded, record.kind, getattr(recorded, record.kind) + amount)
    return sums


def _existing_results(session: Session, cycle: Cycle) -> dict[int, CycleResult]:
    query = select(CycleResult).where(CycleResult.cycle_id == cycle.id)
    return {result.unit_id: result for result in session.scalars(query)}


def _overdue_unit_ids(session: Session, cycle: Cycle) -> set[int]:
    query = select(CycleResult.unit_id).where(
        CycleResult.cycle_id == cycle.id, CycleResult.overdue.is_(True)
    )
    return set(session.scalars(query))


def _reviewed_part(
    system: IndicatorSystem,
    archive: Archive | None,
    reviewed: dict[int, ScoreBreakdown],
    instance: ProcessInstance,
) -> Reviewed:
    """Take the archived score if the task finished, else its latest review."""
    cap = Decimal(system.bonus_cap)
    if archive is not None:
        return Reviewed(
            archive.base_score,
            min(archive.bonus, cap),
            archive.deductions,
            archive.vetoed,
        )
    breakdown = reviewed.get(instance.id)
    if breakdown is None:
        return Reviewed()
    return Reviewed(
        breakdown.base,
        min(breakdown.bonus, cap),
        breakdown.deductions,
        breakdown.vetoed,
    )


def _fill(
    result: CycleResult,
    instance: ProcessInstance,
    part: Reviewed,
    recorded: Recorded,
) -> None:
    result.instance_id = instance.id
    result.base_score = part.base
    result.bonus = part.bonus
    result.review_deductions = part.deductions
    result.problem_deduction = recorded.problem
    result.complaint_deduction = recorded.complaint
    result.incident_deduction = recorded.incident
    result.vetoed = part.vetoed or recorded.vetoed


def _fill_timing(
    result: CycleResult,
    cycle: Cycle,
    system: IndicatorSystem,
    instance: ProcessInstance,
    submitted: dict[int, datetime],
    now: datetime,
) -> None:
    """Mark late and overdue work: days late count started days after the due."""
    submitted_at = submitted.get(instance.id)
    result.days_late = days_late(cycle.submission_due, submitted_at or now)
    result.late_deduction = min(
        result.days_late * Decimal(system.late_points_per_day),
        Decimal(system.late_points_cap),
    )

    finished = instance.status == "completed"
    result.overdue = not finished
    if finished:
        result.outcome = instance.outcome or "completed"
    else:
        result.outcome = "overdue" if submitted_at else "not_submitted"


def days_late(due: datetime, done: datetime) -> int:
    """Return the started days between a deadline and when the work was done."""
    seconds = (done - due).total_seconds()
    return math.ceil(seconds / SECONDS_PER_DAY) if seconds > 0 else 0


def _fill_totals(result: CycleResult, system: IndicatorSystem, now: datetime) -> None:
    result.total_deductions = (
        result.review_deductions
        + result.late_deduction
        + result.problem_deduction
        + result.complaint_deduction
        + result.incident_deduction
    )
    final = result.base_score + result.bonus - result.total_deductions
    result.final_score = max(final, ZERO)
    breakdown = ScoreBreakdown(result.final_score, ZERO, ZERO, result.vetoed)
    result.grade = grade_for(system, breakdown)
    result.computed_at = now


def _rank(results: list[CycleResult]) -> None:
    """Rank by final score within each office and each unit type; ties share."""
    by_office: dict[int, list[CycleResult]] = defaultdict(list)
    by_type: dict[str, list[CycleResult]] = defaultdict(list)
    for result in results:
        result.rank_in_office = result.rank_in_type = None
        if result.vetoed:
            continue
        by_office[result.unit.office_id].append(result)
        by_type[result.unit.unit_type].append(result)
    for group in by_office.values():
        for result, rank in competition_ranks(group):
            result.rank_in_office = rank
    for group in by_type.values():
        for result, rank in competition_ranks(group):
            result.rank_in_type = rank


def competition_ranks(group: list[CycleResult]) -> list[tuple[CycleResult, int]]:
    """Rank results by final score, highest first; equal scores share (1, 2, 2, 4)."""
    ordered = sorted(group, key=lambda r: r.final_score, reverse=True)
    ranked = []
    for position, result in enumerate(ordered, start=1):
        tied = ranked and ranked[-1][0].final_score == result.final_score
        ranked.append((result, ranked[-1][1] if tied else position))
    return ranked


def _escalate(session: Session, cycle: Cycle, overdue: list[CycleResult]) -> int:
    """Tell each overdue unit's managing office, and record it."""
    told = 0
    for result in overdue:
        instance = session.get(ProcessInstance, result.instance_id)
        state = "未上报" if result.outcome == "not_submitted" else "未完成"
        title = f"测评周期「{cycle.name}」已截止：{result.unit.name}创建任务{state}"
        told += notifications.notify_lane(
            session, instance, "office", "cycle_overdue", title
        )
        record_event(
            session,
            "cycle.unit_overdue",
            instance_id=instance.id,
            object_type="cycle",
            object_id=cycle.id,
            unit_id=result.unit_id,
            outcome=result.outcome,
        )
    return told


def record_deduction(
    session: Session,
    *,
    actor: User,
    unit: Unit,
    cycle: Cycle,
    kind: str,
    count: int | str | None,
    points: Decimal | str | None,
    self_reported: bool,
    description: str,
    indicator_code: str | None = None,
    source: str = "office",
    source_id: int | None = None,
) -> UnitDeduction:
    """Record a problem, complaint, incident or veto against a unit in a cycle."""
    _check_may_record(session, actor, unit, cycle)
    errors = FieldErrors()
    kind = choice(errors, "kind", kind, DEDUCTION_KINDS)
    amount = _count(errors, count)
    value = number(errors, "points", points or 0, minimum=ZERO, maximum=MAX_POINTS)
    indicator = _indicator(session, errors, cycle, kind, indicator_code)
    description = text(
        errors, "description", description, required=True, max_chars=2000
    )
    _check_points(errors, kind, value, indicator)
    errors.raise_if_any("the deduction cannot be recorded")

    with transaction(session):
        record = UnitDeduction(
            unit_id=unit.id,
            cycle_id=cycle.id,
            kind=kind,
            indicator_id=indicator.id if indicator else None,
            count=amount,
            points=value,
            self_reported=bool(self_reported) if kind == "incident" else True,
            description=description,
            source=source,
            source_id=source_id,
            recorded_by_id=actor.id,
        )
        session.add(record)
        session.flush()
        record_event(
            session,
            "deduction.recorded",
            actor_id=actor.id,
            object_type="unit_deduction",
            object_id=record.id,
            cycle_id=cycle.id,
            unit_id=unit.id,
            kind=kind,
            count=amount,
            points=str(value),
        )
    return record


def _check_may_record(session: Session, actor: User, unit: Unit, cycle: Cycle) -> None:
    if not scope.sees_path(actor, unit.path):
        raise NotFound(f"unit {unit.id} does not exist or is outside your scope")
    if actor.unit_id is not None or not any(actor.has_role(r) for r in RECORDING_ROLES):
        raise Forbidden("only office reviewers and administrators record deductions")
    key = f"{CREATION_PROCESS}:{cycle.id}:{unit.id}"
    if not session.scalar(
        select(ProcessInstance.id).where(ProcessInstance.business_key == key)
    ):
        raise InvalidInput(
            f"{unit.name} was not issued the creation task of {cycle.name}; "
            "choose a unit of this cycle",
            details={"errors": {"unit_id": "not issued in this cycle"}},
        )


def _count(errors: FieldErrors, raw) -> int:
    value = number(errors, "count", 1 if raw in (None, "") else raw, minimum=Decimal(1))
    if value is None:
        return 1
    if value != value.to_integral_value() or value > MAX_COUNT:
        errors.add("count", f"enter a whole number from 1 to {MAX_COUNT}")
        return 1
    return int(value)


def _indicator(
    session: Session, errors: FieldErrors, cycle: Cycle, kind: str, code: str | None
) -> Indicator | None:
    """Find the named deduction or veto indicator in the cycle's system."""
    if not code:
        return None
    wanted = "veto" if kind == "veto" else "deduction"
    indicator = session.scalar(
        select(Indicator).where(
            Indicator.system_id == cycle.indicator_system_id,
            Indicator.code == code,
        )
    )
    if indicator is None or indicator.kind != wanted:
        errors.add("indicator_code", f"{code!r} is not a {wanted} item of this system")
        return None
    return indicator


def _check_points(
    errors: FieldErrors, kind: str, value: Decimal | None, indicator
) -> None:
    if value is None or kind in ("", "veto"):
        return
    if kind == "incident" and value <= ZERO:
        errors.add("points", "give the points the incident costs")
    has_rate = indicator is not None and indicator.per_item_points
    if kind in ("problem", "complaint") and not has_rate and value <= ZERO:
        errors.add(
            "points",
            "choose the deduction item that sets the points, or give points per item",
        )
