"""Unit submissions: self-scores, explanations and evidence per indicator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    HumanTask,
    Submission,
    SubmissionResponse,
    User,
    record_event,
    utcnow,
)
from app.services import evidence, scope
from app.services.base import transaction
from app.services.fields import FieldErrors, number, text
from app.services.indicators import Catalog, IndicatorRule, catalog_for_cycle
from app.services.tasks import get_task, run_step
from processes.errors import InvalidInput


def indicator_system_of(session: Session, task: HumanTask) -> Catalog:
    """Return the indicator catalog of the task's cycle."""
    return catalog_for_cycle(session, task.cycle_id)


def current_submission(session: Session, task: HumanTask) -> Submission:
    """Return the instance's submission, creating an empty draft the first time."""
    query = select(Submission).where(Submission.instance_id == task.instance_id)
    submission = session.scalars(query).first()
    if submission is None:
        submission = Submission(
            instance_id=task.instance_id, unit_id=task.unit_id, cycle_id=task.cycle_id
        )
        session.add(submission)
        session.flush()
    return submission


def save_draft(
    session: Session, user: User, task_id: int, responses: dict
) -> Submission:
    """Save what the liaison has typed so far; only types and limits are checked."""
    with transaction(session):
        task = _submission_task(session, user, task_id)
        submission = _write_responses(session, task, responses, complete=False)
        record_event(
            session,
            "submission.draft_saved",
            actor_id=user.id,
            instance_id=task.instance_id,
            object_type="submission",
            object_id=submission.id,
        )
    return submission


def attach_evidence(
    session: Session,
    user: User,
    task_id: int,
    indicator_code: str,
    *,
    filename: str,
    content: bytes,
    upload_folder: Path,
    max_bytes: int = evidence.DEFAULT_MAX_BYTES,
):
    """Store an evidence file and attach it to the draft's answer to an indicator."""
    with transaction(session):
        task = _submission_task(session, user, task_id)
        system = indicator_system_of(session, task)
        indicator = _answerable(system, indicator_code)
        submission = current_submission(session, task)
        response = response_for(session, submission, indicator)
        stored = evidence.store_for_task(
            session,
            user,
            task,
            filename=filename,
            content=content,
            upload_folder=upload_folder,
            max_bytes=max_bytes,
            link={"response_id": response.id},
            indicator=indicator.code,
        )
    return stored


def complete_submission(session, user, task, data, expected_version):
    """Check the submission is complete, mark it submitted and pass it on."""
    submission = _write_responses(
        session, task, data.get("responses", {}), complete=True
    )
    submission.status = "submitted"
    submission.submitted_by_id = user.id
    submission.submitted_at = utcnow()
    return run_step(session, user, task, {"submitted": True}, expected_version)


def _submission_task(session: Session, user: User, task_id: int) -> HumanTask:
    task = get_task(session, user, task_id)
    scope.check_can_act(user, task)
    if task.form_key != "unit_submission" or task.state != "ready":
        raise InvalidInput(f"task “{task.title}” does not take a unit submission now")
    return task


def _answerable(system: Catalog, code: str) -> IndicatorRule:
    for indicator in system.scoring_indicators():
        if indicator.code == code:
            if not indicator.answerable_by_unit:
                raise InvalidInput(
                    f"indicator {code} is scored by the office only; units submit "
                    "nothing for it"
                )
            return indicator
    raise InvalidInput(f"indicator {code!r} is not part of {system.name}")


def response_for(session, submission, indicator) -> SubmissionResponse:
    """Return the submission's answer to an indicator, added if it has none yet."""
    for response in submission.responses:
        if response.indicator_id == indicator.id:
            return response
    response = SubmissionResponse(submission=submission, indicator_id=indicator.id)
    session.add(response)
    session.flush()
    return response


def _write_responses(session, task, responses, *, complete: bool) -> Submission:
    if not isinstance(responses, dict):
        raise InvalidInput("responses must map indicator codes to answers")
    system = indicator_system_of(session, task)
    submission = current_submission(session, task)
    answerable = {
        i.code: i for i in system.scoring_indicators() if i.answerable_by_unit
    }
    errors = FieldErrors()
    for code in responses:
        if code not in answerable:
            errors.add(code, "not an indicator this unit answers")

    for code, indicator in answerable.items():
        answer = responses.get(code)
        response = response_for(session, submission, indicator)
        if answer is not None:
            _read_answer(errors, indicator, answer, response)
        if complete:
            _check_complete(errors, indicator, response)
    errors.raise_if_any("the submission cannot be saved")

    submission.self_score = sum(
        (r.self_score for r in submission.responses), Decimal(0)
    )
    submission.updated_at = utcnow()
    return submission


def _read_answer(errors, indicator, answer, response) -> None:
    if not isinstance(answer, dict):
        errors.add(indicator.code, "give self_score and explanation")
        return
    score = number(
        errors,
        f"{indicator.code}.self_score",
        answer.get("self_score"),
        minimum=Decimal(0),
        maximum=indicator.points,
    )
    explanation = text(
        errors,
        f"{indicator.code}.explanation",
        answer.get("explanation", ""),
        max_chars=indicator.max_explanation_chars,
    )
    if score is not None:
        response.self_score = score
    response.explanation = explanation


def _check_complete(errors, indicator, response) -> None:
    code = indicator.code
    claimed = indicator.kind == "base" or (response.self_score or 0) > 0
    if not claimed:
        return
    if not response.explanation:
        errors.add(f"{code}.explanation", "explain the self-score")
    elif len(response.explanation) < indicator.min_explanation_chars:
        errors.add(
            f"{code}.explanation",
            f"at least {indicator.min_explanation_chars} characters "
            f"(now {len(response.explanation)})",
        )
    photos = sum(1 for f in response.evidence if f.kind == "photo")
    documents = sum(1 for f in response.evidence if f.kind == "document")
    if photos < indicator.min_photos:
        errors.add(
            f"{code}.evidence",
            f"needs at least {indicator.min_photos} photos (now {photos})",
        )
    elif documents < indicator.min_documents:
        errors.add(
            f"{code}.evidence",
            f"needs at least {indicator.min_documents} documents (now {documents})",
        )
