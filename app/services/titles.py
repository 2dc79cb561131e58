"""Dynamic management of titles (动态管理): proposal, approval, notice, decision.

A title review runs the `title_review` diagram: the county proposes, the city
approves or sends the proposal back, the decision is published for objections, and
when the notice ends the decision changes the unit's title, with history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    Cycle,
    CycleResult,
    HumanTask,
    ProcessInstance,
    TitleChange,
    TitleObjection,
    TitleReview,
    Unit,
    User,
    record_event,
    utcnow,
)
from app.models.titles import TITLE_PROPOSALS, TITLE_REVIEW_REASONS
from app.services import notifications, scope
from app.services.base import transaction
from app.services.fields import FieldErrors, choice, number, text
from processes import registry, runner
from processes.errors import Conflict, EngineError, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

TITLE_PROCESS = "title_review"
HELD_STATUSES = ("named", "yellow_card", "rectifying")
DEFAULT_NOTICE_TERM = "P7D"
REMINDER_LEAD = "P2D"
NOTICE_EVENT = "notice_period"
MAX_RECTIFY_DAYS = 365
OPEN_STATUSES = ("proposing", "approving", "notice")
STATUS_AFTER = {
    "keep": "named",
    "yellow_card": "yellow_card",
    "rectify": "rectifying",
    "revoke": "revoked",
}
APPROVALS = ("approve", "return")
# How the liaison's notification names a decision; notifications are stored text.
DECISION_NAMES = {
    "keep": "保留称号",
    "yellow_card": "黄牌警告",
    "rectify": "限期整改",
    "revoke": "撤销称号",
}
OBJECTION_VERDICTS = ("uphold", "change")


@dataclass(frozen=True)
class _Candidate:
    """A unit whose cycle result calls for a title review, and why."""

    unit_id: int
    unit_path: str
    reason: str


def review_reason(result: CycleResult) -> str | None:
    """Return why a cycle result calls for a title review, or None if it does not."""
    if result.vetoed or result.grade == "veto":
        return "vetoed"
    if result.outcome == "rectification_failed":
        return "rectification_failed"
    if result.grade == "below":
        return "below_keep"
    return None


def business_key(review: TitleReview) -> str:
    """Return the key of a review's instance: one per cycle and unit."""
    if review.cycle_id is not None:
        return f"{TITLE_PROCESS}:{review.cycle_id}:{review.unit_id}"
    return f"{TITLE_PROCESS}:manual:{review.unit_id}:{review.id}"


def start_title_reviews(
    session: Session,
    cycle: Cycle,
    *,
    notice_term: str = DEFAULT_NOTICE_TERM,
    batch_size: int = 200,
) -> int:
    """Start a title review for each titled unit the cycle's results put in doubt.

    Each batch is committed on its own; units that already have a review for the
    cycle are skipped, so running it again starts nothing twice. Returns how many
    reviews were started.
    """
    version = registry.current_version(session, TITLE_PROCESS)
    cycle_id = cycle.id
    candidates = _candidates(session, cycle_id)
    started = 0
    for offset in range(0, len(candidates), batch_size):
        batch = candidates[offset : offset + batch_size]
        with transaction(session):
            reviews = [
                TitleReview(unit_id=c.unit_id, cycle_id=cycle_id, reason=c.reason)
                for c in batch
            ]
            session.add_all(reviews)
            session.flush()
            paths = {c.unit_id: c.unit_path for c in batch}
            _start_instances(session, version, reviews, paths, notice_term, None)
        started += len(batch)

    logger.info(
        "cycle %s: %s title reviews started",
        cycle_id,
        started,
        extra={"cycle_id": cycle_id},
    )
    return started


def _candidates(session: Session, cycle_id: int) -> list[_Candidate]:
    """Return the titled units in doubt that have no review of this cycle yet.

    A unit whose title is already under review (e.g. one started by hand) waits:
    running the start again after that review is decided picks it up.
    """
    reviewed = select(TitleReview.unit_id).where(
        (TitleReview.cycle_id == cycle_id) | TitleReview.status.in_(OPEN_STATUSES)
    )
    query = (
        select(CycleResult, Unit.path)
        .join(Unit, Unit.id == CycleResult.unit_id)
        .where(CycleResult.cycle_id == cycle_id)
        .where(Unit.title_status.in_(HELD_STATUSES))
        .where(CycleResult.unit_id.not_in(reviewed))
        .order_by(Unit.id)
    )
    found = []
    for result, path in session.execute(query):
        reason = review_reason(result)
        if reason is not None:
            found.append(_Candidate(result.unit_id, path, reason))
    return found


def start_title_review(
    session: Session,
    actor: User,
    unit_id: int,
    reason: str,
    *,
    notice_term: str = DEFAULT_NOTICE_TERM,
) -> TitleReview:
    """Let an office administrator start a title review of one unit by hand."""
    with transaction(session):
        unit = _unit_in_scope(session, actor, unit_id)
        _check_can_start(session, actor, unit, reason)
        review = TitleReview(unit_id=unit.id, cycle_id=None, reason=reason)
        session.add(review)
        session.flush()
        version = registry.current_version(session, TITLE_PROCESS)
        paths = {unit.id: unit.path}
        _start_instances(session, version, [review], paths, notice_term, actor.id)
    return review


def _unit_in_scope(session: Session, user: User, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not scope.sees_path(user, unit.path):
        raise NotFound(f"unit {unit_id} does not exist or is outside your scope")
    return unit


def _check_can_start(session: Session, actor: User, unit: Unit, reason: str) -> None:
    if not (actor.has_role("office_admin") or actor.has_role("admin")):
        raise Forbidden("only an office administrator can start a title review")
    if reason not in TITLE_REVIEW_REASONS:
        raise InvalidInput(
            f"choose the reason for the review: {', '.join(TITLE_REVIEW_REASONS)}",
            details={"errors": {"reason": "choose a reason"}},
        )
    if unit.title_status not in HELD_STATUSES:
        raise InvalidInput(
            f"{unit.name} holds no title to review (its status is {unit.title_status})"
        )
    if open_review(session, unit.id) is not None:
        raise Conflict(f"{unit.name} already has a title review under way")


def open_review(session: Session, unit_id: int) -> TitleReview | None:
    """Return the unit's title review that has not been decided yet, if any."""
    query = select(TitleReview).where(
        TitleReview.unit_id == unit_id, TitleReview.status.in_(OPEN_STATUSES)
    )
    return session.scalars(query).first()


def _start_instances(session, version, reviews, paths, notice_term, actor_id) -> None:
    """Start one instance per review, in one batch, and link each to its review."""
    from app.services.effects import apply_effects

    requests = [
        runner.StartRequest(
            business_key=business_key(review),
            data=_start_data(review, notice_term),
            scope_path=paths[review.unit_id],
            unit_id=review.unit_id,
        )
        for review in reviews
    ]
    results = runner.start_instances(
        session, version, requests, actor_id=actor_id, on_effects=apply_effects
    )
    for review, result in zip(reviews, results, strict=True):
        review.instance_id = result.instance.id
        record_event(
            session,
            "title.review_started",
            actor_id=actor_id,
            instance_id=result.instance.id,
            object_type="title_review",
            object_id=review.id,
            unit_id=review.unit_id,
            reason=review.reason,
        )
    notifications.announce_new_tasks(session, results)


def _start_data(review: TitleReview, notice_term: str) -> dict:
    return {
        "title_review_id": review.id,
        "unit_id": review.unit_id,
        "notice_term": notice_term,
        "reminder_lead": REMINDER_LEAD,
        "proposal": None,
        "rectify_days": None,
    }


# The three task forms of the diagram.


def complete_proposal(session, user, task, data, expected_version):
    """Record the county's proposal for the unit's title and send it for approval."""
    from app.services.tasks import run_step

    review = review_of_instance(session, task.instance_id)
    errors = FieldErrors()
    proposal, days = _read_proposal(errors, data)
    reason = text(errors, "reason", data.get("reason"), required=True, max_chars=2000)
    errors.raise_if_any("the proposal cannot be recorded")

    review.proposal = proposal
    review.rectify_days = days
    review.proposal_reason = reason
    review.proposed_by_id = user.id
    review.proposed_at = utcnow()
    review.status = "approving"
    _audit(session, "title.proposed", user, review, proposal=proposal, reason=reason)
    workflow_data = {"proposal": proposal, "rectify_days": days}
    return run_step(session, user, task, workflow_data, expected_version)


def _read_proposal(errors: FieldErrors, data: dict) -> tuple[str, int | None]:
    proposal = choice(errors, "proposal", data.get("proposal"), TITLE_PROPOSALS)
    if proposal != "rectify":
        return proposal, None
    days = number(
        errors,
        "rectify_days",
        data.get("rectify_days"),
        minimum=1,
        maximum=MAX_RECTIFY_DAYS,
    )
    if days is not None and days != int(days):
        errors.add("rectify_days", "enter a whole number of days")
    return proposal, int(days) if days is not None else None


def complete_approval(session, user, task, data, expected_version):
    """Approve the proposal for public notice, or send it back to the county."""
    from app.services.tasks import run_step

    review = review_of_instance(session, task.instance_id)
    errors = FieldErrors()
    decision = choice(errors, "decision", data.get("decision"), APPROVALS)
    opinion = text(errors, "opinion", data.get("opinion"), max_chars=2000)
    if decision == "return" and not opinion:
        errors.add("opinion", "say what the county should change")
    errors.raise_if_any("the approval cannot be recorded")

    review.approval_opinion = opinion
    if decision == "approve":
        review.approved_by_id = user.id
        review.approved_at = utcnow()
        review.status = "notice"
    else:
        review.status = "proposing"
    action = "title.approved" if decision == "approve" else "title.returned"
    _audit(session, action, user, review, decision=decision, opinion=opinion)
    return run_step(session, user, task, {"approval": decision}, expected_version)


def complete_objections(session, user, task, data, expected_version):
    """Decide on the objections: uphold the proposal or change it, then apply it."""
    from app.services.tasks import run_step

    review = review_of_instance(session, task.instance_id)
    errors = FieldErrors()
    verdict = choice(errors, "decision", data.get("decision"), OBJECTION_VERDICTS)
    opinion = text(errors, "opinion", data.get("opinion"), max_chars=2000)
    proposal, days = review.proposal, review.rectify_days
    if verdict == "change":
        proposal, days = _read_proposal(errors, data)
        if not opinion:
            errors.add("opinion", "give the reason for changing the proposal")
    errors.raise_if_any("the decision on the objections cannot be recorded")

    review.proposal, review.rectify_days = proposal, days
    _audit(
        session,
        "title.objections_decided",
        user,
        review,
        decision=verdict,
        proposal=proposal,
        opinion=opinion,
    )
    workflow_data = {"proposal": proposal, "rectify_days": days}
    return run_step(session, user, task, workflow_data, expected_version)


# Objections during the public notice.


def record_objection(
    session: Session,
    actor: User,
    review_id: int,
    objection: str,
    raised_by: str = "",
) -> TitleObjection:
    """Record an objection raised while the review's public notice runs."""
    with transaction(session):
        review = get_review(session, actor, review_id)
        _check_can_record(actor, review)
        errors = FieldErrors()
        body = text(errors, "text", objection, required=True, max_chars=2000)
        who = text(errors, "raised_by", raised_by, max_chars=120)
        errors.raise_if_any("the objection cannot be recorded")

        row = TitleObjection(
            title_review_id=review.id, text=body, raised_by=who, recorded_by_id=actor.id
        )
        session.add(row)
        session.flush()
        count = objection_count(session, review.id)
        runner.set_waiting_data(
            session,
            review.instance_id,
            NOTICE_EVENT,
            {"objection_count": count},
            actor_id=actor.id,
        )
        _audit(session, "title.objection_recorded", actor, review, raised_by=who)
    return row


def objection_count(session: Session, review_id: int) -> int:
    """Return how many objections the review's notice drew."""
    query = select(func.count()).where(TitleObjection.title_review_id == review_id)
    return session.scalar(query)


def can_record_objections(user: User) -> bool:
    """Tell whether the user is office staff, who record objections raised."""
    if user.unit_id is not None:
        return False
    return user.office_id is not None or user.has_role("admin")


def _check_can_record(actor: User, review: TitleReview) -> None:
    if not can_record_objections(actor):
        raise Forbidden("only office staff can record objections to a public notice")
    if review.status != "notice" or review.notice_ends_at is None:
        raise InvalidInput(
            "objections can be recorded only while the public notice runs; "
            "this review is not in its notice period"
        )
    if utcnow() >= as_aware(review.notice_ends_at):
        raise InvalidInput(
            "the public notice has ended; objections can no longer be recorded"
        )


def get_review(session: Session, user: User, review_id: int) -> TitleReview:
    """Return a title review whose unit the user sees, or raise NotFound."""
    review = session.get(TitleReview, review_id)
    if review is None or not scope.sees_path(user, review.unit.path):
        raise NotFound(
            f"title review {review_id} does not exist or is outside your scope"
        )
    return review


def review_of_instance(session: Session, instance_id: int) -> TitleReview:
    """Return the title review an instance runs, or name the broken link."""
    query = select(TitleReview).where(TitleReview.instance_id == instance_id)
    review = session.scalars(query).first()
    if review is None:
        raise EngineError(
            f"process instance {instance_id} runs a title review, but no title "
            "review row belongs to it"
        )
    return review


# Effects the diagram asks for.


def open_notice(session: Session, instance: ProcessInstance, ends_at: str) -> None:
    """Start the public notice of the review an instance runs."""
    review = review_of_instance(session, instance.id)
    review.status = "notice"
    review.notice_starts_at = utcnow()
    review.notice_ends_at = datetime.fromisoformat(ends_at)
    record_event(
        session,
        "title.notice_opened",
        instance_id=instance.id,
        object_type="title_review",
        object_id=review.id,
        ends_at=ends_at,
    )


def apply_decision(
    session: Session,
    instance: ProcessInstance,
    decision: str,
    rectify_days: int | None,
) -> TitleChange:
    """Put a title decision into effect: unit, history, review, audit, liaison."""
    review = review_of_instance(session, instance.id)
    unit = review.unit
    now = utcnow()
    change = TitleChange(
        unit_id=unit.id,
        title_review_id=review.id,
        from_status=unit.title_status,
        from_level=unit.title_level,
        note=review.proposal_reason,
        changed_by_id=_decided_by(session, instance.id),
        changed_at=now,
    )
    _change_unit(unit, decision, now)
    change.to_status, change.to_level = unit.title_status, unit.title_level
    session.add(change)

    review.proposal = decision
    review.rectify_days = rectify_days if decision == "rectify" else None
    review.status, review.outcome, review.decided_at = "decided", decision, now
    session.flush()
    _announce_decision(session, instance, review, change)
    return change


def _announce_decision(session, instance, review: TitleReview, change) -> None:
    """Record the change in the audit trail and tell the unit's liaison."""
    unit = review.unit
    decision = review.outcome
    record_event(
        session,
        "title.changed",
        instance_id=instance.id,
        object_type="unit",
        object_id=unit.id,
        decision=decision,
        from_status=change.from_status,
        to_status=change.to_status,
        title_review_id=review.id,
    )
    title = f"{unit.name}：称号处理决定已生效（{DECISION_NAMES[decision]}）"
    notifications.notify_lane(session, instance, "unit", "title_changed", title)
    logger.info(
        "title of unit %s changed to %s",
        unit.id,
        unit.title_status,
        extra={"instance_id": instance.id, "unit_id": unit.id},
    )


def _change_unit(unit: Unit, decision: str, now: datetime) -> None:
    unit.title_status = STATUS_AFTER[decision]
    if decision != "revoke":
        return
    unit.title_level = None
    today = now.astimezone(ZoneInfo(unit.office.timezone)).date()
    if unit.title_term_end is None or unit.title_term_end > today:
        unit.title_term_end = today


def rectify_due(review: TitleReview) -> datetime | None:
    """Return when a unit ordered to rectify must be done, if the review says so."""
    if review.outcome != "rectify" or not review.decided_at or not review.rectify_days:
        return None
    return as_aware(review.decided_at) + timedelta(days=review.rectify_days)


def _decided_by(session: Session, instance_id: int) -> int | None:
    """Return who completed the instance's last step: the decision's author."""
    query = (
        select(HumanTask.completed_by_id)
        .where(HumanTask.instance_id == instance_id)
        .where(HumanTask.state == "completed")
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _audit(session, action: str, user: User, review: TitleReview, **detail) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        instance_id=review.instance_id,
        object_type="title_review",
        object_id=review.id,
        unit_id=review.unit_id,
        **detail,
    )


def as_aware(moment: datetime) -> datetime:
    """Return a stored time as aware UTC; SQLite returns it without a zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment
