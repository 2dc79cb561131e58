"""The steps of a public report's procedure: triage to published result.

Each form's completion writes the domain data into the report row, records what
the reporter may see as a milestone, audits the step and runs the engine with
the small decision the diagram routes on.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Cycle,
    HumanTask,
    Indicator,
    ProcessInstance,
    User,
    record_event,
    utcnow,
)
from app.models.results import UnitDeduction
from app.services import public_photos, tasks, titles
from app.services.base import transaction
from app.services.fields import FieldErrors, choice, number, text
from app.services.public_reports import (
    add_milestone,
    add_photos,
    report_of_instance,
    report_of_task,
)
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

COMPLAINT_CODE = "G2"
DEFAULT_COMPLAINT_POINTS = Decimal(2)
MAX_RECTIFY_DAYS = 90
MAX_OPINION_CHARS = 2000
CREATION_PROCESS = "creation_task"


def complete_triage(session, user, task, data, expected_version):
    """Accept a report for verification, or reject it with a public reason."""
    report = report_of_task(session, task)
    decision, reason = _read_decision(data, "reject", "reason", "the triage")

    report.triage_reason = reason
    if decision == "accept":
        report.status = "verifying"
        add_milestone(session, report, "accepted")
    else:
        report.status, report.outcome = "feedback", "rejected"
        report.public_reply = reason
    _audit(session, user, "public_report.triaged", report, decision=decision)
    return tasks.run_step(session, user, task, {"triage": decision}, expected_version)


def _read_decision(data: dict, refusal: str, field: str, what: str) -> tuple[str, str]:
    """Read an accept-or-refuse decision and its text, required when refusing."""
    errors = FieldErrors()
    decision = choice(errors, "decision", data.get("decision"), ("accept", refusal))
    words = text(
        errors,
        field,
        data.get(field),
        required=decision == refusal,
        max_chars=MAX_OPINION_CHARS,
    )
    errors.raise_if_any(f"{what} cannot be recorded")
    return decision, words


def complete_verification(session, user, task, data, expected_version):
    """Record the county's findings; a confirmed report costs the unit points."""
    report = report_of_task(session, task)
    errors = FieldErrors()
    confirmed = choice(errors, "confirmed", data.get("confirmed"), ("yes", "no"))
    findings = text(
        errors, "findings", data.get("findings"), required=True, max_chars=5000
    )
    deduction, days, review = None, None, False
    if confirmed == "yes":
        deduction, days, review = _read_confirmation(errors, data)
    errors.raise_if_any("the verification cannot be recorded")
    cycle = _deduction_cycle(session, report, deduction)
    if review:
        _check_review(session, user, report)

    report.findings = findings
    if confirmed == "yes":
        _confirm(session, user, report, cycle, days)
    else:
        report.status, report.outcome = "feedback", "unfounded"
        add_milestone(session, report, "unfounded")
    _audit(session, user, "public_report.verified", report, confirmed=confirmed)
    workflow = {"confirmed": confirmed == "yes", "rectify_term": f"P{days or 7}D"}
    result = tasks.run_step(session, user, task, workflow, expected_version)
    if review:
        _start_review(session, user, report)
    return result


def _read_confirmation(errors: FieldErrors, data: dict):
    deduction = choice(
        errors, "deduction", data.get("deduction") or "", (COMPLAINT_CODE, "none")
    )
    days = number(
        errors,
        "rectify_days",
        data.get("rectify_days"),
        minimum=Decimal(1),
        maximum=Decimal(MAX_RECTIFY_DAYS),
    )
    if days is not None and days != days.to_integral_value():
        errors.add("rectify_days", "enter a whole number of days")
    review = str(data.get("start_title_review") or "").lower() in ("1", "y", "yes")
    return deduction, int(days) if days is not None else None, review


def _deduction_cycle(session: Session, report, deduction: str | None):
    """Return the cycle the complaint counts in: the unit's latest issued cycle."""
    if deduction != COMPLAINT_CODE:
        return None
    query = (
        select(Cycle)
        .join(ProcessInstance, ProcessInstance.cycle_id == Cycle.id)
        .where(
            ProcessInstance.unit_id == report.unit_id,
            ProcessInstance.business_key.startswith(f"{CREATION_PROCESS}:"),
        )
        .order_by(Cycle.id.desc())
    )
    cycle = session.scalars(query).first()
    if cycle is None:
        message = "the unit has no assessment cycle to count it in; choose none"
        raise InvalidInput(
            f"the verification cannot be recorded: deduction: {message}",
            details={"errors": {"deduction": message}},
        )
    return cycle


def _check_review(session: Session, user: User, report) -> None:
    """Refuse a title review the titles service would refuse, before any write."""
    problem = None
    if not (user.has_role("office_admin") or user.has_role("admin")):
        problem = "only an office administrator can start a title review"
    elif report.unit.title_status not in titles.HELD_STATUSES:
        problem = "the unit holds no title to review"
    elif titles.open_review(session, report.unit_id) is not None:
        problem = "the unit already has a title review under way"
    if problem:
        raise InvalidInput(
            f"the verification cannot be recorded: start_title_review: {problem}",
            details={"errors": {"start_title_review": problem}},
        )


def _confirm(session: Session, user: User, report, cycle, days: int) -> None:
    report.status, report.outcome = "rectifying", "confirmed"
    report.rectify_days = days
    report.rectification_due = _due_date(days)
    add_milestone(session, report, "confirmed")
    if cycle is not None:
        report.deduction_id = _record_deduction(session, user, report, cycle).id


def _record_deduction(session: Session, user: User, report, cycle) -> UnitDeduction:
    """Record the valid complaint against the unit in the cycle, as scoring counts."""
    indicator = session.scalars(
        select(Indicator).where(
            Indicator.system_id == cycle.indicator_system_id,
            Indicator.code == COMPLAINT_CODE,
            Indicator.kind == "deduction",
        )
    ).first()
    points = (indicator.per_item_points if indicator else None) or (
        DEFAULT_COMPLAINT_POINTS
    )
    record = UnitDeduction(
        unit_id=report.unit_id,
        cycle_id=cycle.id,
        kind="complaint",
        indicator_id=indicator.id if indicator else None,
        count=1,
        points=points,
        description=report.findings[:2000],
        source="public_report",
        source_id=report.id,
        recorded_by_id=user.id,
    )
    session.add(record)
    session.flush()
    _audit(
        session,
        user,
        "deduction.recorded",
        report,
        deduction_id=record.id,
        cycle_id=cycle.id,
        kind="complaint",
        points=str(points),
    )
    return record


def _start_review(session: Session, user: User, report) -> None:
    """Start the title review last: its own commit then closes this whole step."""
    review = titles.start_title_review(session, user, report.unit_id, "complaint")
    report.title_review_id = review.id
    _audit(session, user, "public_report.title_review_started", report)


def _due_date(days: int | None) -> date:
    """Return the date a rectification of this many days (default 7) is due."""
    return (utcnow() + timedelta(days=days or 7)).date()


def complete_rectification(session, user, task, data, expected_version):
    """Record the unit's answer to a confirmed report and send it for checking."""
    report = report_of_task(session, task)
    errors = FieldErrors()
    response = text(
        errors, "response", data.get("response"), required=True, max_chars=5000
    )
    errors.raise_if_any("the rectification cannot be sent")

    report.rectification_response = response
    report.status = "checking"
    _audit(session, user, "public_report.rectified", report)
    return tasks.run_step(session, user, task, {}, expected_version)


def attach_rectification_photo(
    session: Session,
    user: User,
    task_id: int,
    *,
    filename: str,
    content: bytes,
    upload_folder: Path,
    max_bytes: int,
) -> None:
    """Store a photo of the rectification with the report, without its metadata."""
    photo = public_photos.clean_photo(filename, content)
    with transaction(session):
        task = tasks.get_task(session, user, task_id)
        report = report_of_task(session, task)
        add_photos(session, report, [photo], upload_folder, user.id, "rectification")
        _audit(session, user, "public_report.photo_added", report)


def complete_check(session, user, task, data, expected_version):
    """Accept the unit's rectification, or send it back with an opinion."""
    report = report_of_task(session, task)
    decision, opinion = _read_decision(data, "return", "opinion", "the check")

    report.check_opinion = opinion
    if decision == "accept":
        report.status = "feedback"
        add_milestone(session, report, "rectified")
    else:
        report.status = "rectifying"
        report.rectification_due = _due_date(report.rectify_days)
    _audit(session, user, "public_report.checked", report, decision=decision)
    return tasks.run_step(session, user, task, {"check": decision}, expected_version)


def complete_feedback(session, user, task, data, expected_version):
    """Write the reply the reporter reads; the diagram then publishes it."""
    report = report_of_task(session, task)
    errors = FieldErrors()
    reply = text(
        errors, "reply", data.get("reply"), required=True, max_chars=MAX_OPINION_CHARS
    )
    errors.raise_if_any("the reply cannot be sent")

    report.public_reply = reply
    _audit(session, user, "public_report.answered", report)
    return tasks.run_step(session, user, task, {}, expected_version)


def publish_result(session: Session, instance: ProcessInstance) -> None:
    """Publish the report's result on its tracking page, as the diagram asks."""
    report = report_of_instance(session, instance.id)
    report.status = "published"
    report.published_at = utcnow()
    add_milestone(session, report, "published")
    record_event(
        session,
        "public_report.published",
        actor_id=_last_actor(session, instance.id),
        instance_id=instance.id,
        object_type="public_report",
        object_id=report.id,
        outcome=report.outcome,
    )
    logger.info("public report %s published", report.id, extra={"report_id": report.id})


def _last_actor(session: Session, instance_id: int) -> int | None:
    query = (
        select(HumanTask.completed_by_id)
        .where(HumanTask.instance_id == instance_id, HumanTask.state == "completed")
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _audit(session, user: User, action: str, report, **detail) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        instance_id=report.instance_id,
        object_type="public_report",
        object_id=report.id,
        unit_id=report.unit_id,
        **detail,
    )
