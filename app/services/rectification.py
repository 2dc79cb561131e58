"""Rectification: the unit answers each item; the ordering level verifies."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    EvidenceFile,
    HumanTask,
    RectificationItem,
    RectificationOrder,
    User,
    record_event,
    utcnow,
)
from app.services import evidence, scope
from app.services.base import transaction
from app.services.fields import FieldErrors, choice, future_instant, text
from app.services.tasks import get_task, run_step
from processes.errors import EngineError, InvalidInput

VERDICTS = ("passed", "redo")


def open_order(session: Session, instance_id: int) -> RectificationOrder:
    """Return the instance's latest rectification order."""
    query = (
        select(RectificationOrder)
        .where(RectificationOrder.instance_id == instance_id)
        .order_by(RectificationOrder.id.desc())
    )
    order = session.scalars(query).first()
    if order is None:
        raise EngineError("the workflow asks for rectification, but no order exists")
    return order


def attach_item_evidence(
    session: Session,
    user: User,
    task_id: int,
    item_id: int,
    *,
    filename: str,
    content: bytes,
    upload_folder: Path,
    max_bytes: int = evidence.DEFAULT_MAX_BYTES,
) -> EvidenceFile:
    """Store a file as new evidence for one item of the open rectification order."""
    with transaction(session):
        task = _rectification_task(session, user, task_id)
        item = _open_item(session, task, item_id)
        stored = evidence.store_for_task(
            session,
            user,
            task,
            filename=filename,
            content=content,
            upload_folder=upload_folder,
            max_bytes=max_bytes,
            link={"rectification_item_id": item.id},
            rectification_item=item.id,
        )
    return stored


def complete_rectification(session, user, task, data, expected_version):
    """Record the unit's response to every item of the order."""
    order = open_order(session, task.instance_id)
    raw = data.get("responses")
    errors = FieldErrors()
    if not isinstance(raw, dict):
        errors.add("responses", "answer every rectification item")
        raw = {}
    for item in order.items:
        answer = raw.get(str(item.id), raw.get(item.id))
        item.response = text(
            errors, f"responses.{item.id}", answer, required=True, max_chars=2000
        )
        item.responded_at = utcnow()
    errors.raise_if_any("the rectification cannot be submitted")

    order.status = "submitted"
    record_event(
        session,
        "rectification.submitted",
        actor_id=user.id,
        instance_id=task.instance_id,
        object_type="rectification_order",
        object_id=order.id,
    )
    return run_step(session, user, task, {}, expected_version)


def complete_verification(session, user, task, data, expected_version):
    """Accept the rectification, or order another round for the rejected items."""
    order = open_order(session, task.instance_id)
    errors = FieldErrors()
    decision = choice(errors, "decision", data.get("decision"), VERDICTS)
    opinion = text(errors, "opinion", data.get("opinion"), max_chars=2000)
    findings = data.get("items") or {}
    due = None
    if decision == "redo":
        due = future_instant(errors, "rectification_due", data.get("rectification_due"))
    errors.raise_if_any("the verification cannot be recorded")

    rejected = _record_findings(order, findings, decision)
    order.status = "verified" if decision == "passed" else "rejected"
    record_event(
        session,
        "rectification.verified",
        actor_id=user.id,
        instance_id=task.instance_id,
        object_type="rectification_order",
        object_id=order.id,
        decision=decision,
        opinion=opinion,
    )
    workflow_data = {"verification": decision}
    if due is not None:
        workflow_data["rectification_due"] = due.isoformat()
    result = run_step(session, user, task, workflow_data, expected_version)
    if decision == "redo" and any(
        t.form_key == "rectification" for t in result.ready_tasks
    ):
        _reissue(session, order, rejected, due)
    return result


def _rectification_task(session: Session, user: User, task_id: int) -> HumanTask:
    task = get_task(session, user, task_id)
    scope.check_can_act(user, task)
    if task.form_key != "rectification" or task.state != "ready":
        raise InvalidInput(f"task “{task.title}” does not take a rectification now")
    return task


def _open_item(session: Session, task: HumanTask, item_id: int) -> RectificationItem:
    order = open_order(session, task.instance_id)
    for item in order.items:
        if item.id == item_id:
            return item
    raise InvalidInput(
        f"item {item_id} is not part of the rectification order of round {order.round}"
    )


def _record_findings(order, findings: dict, decision: str) -> list[RectificationItem]:
    rejected = []
    for item in order.items:
        finding = findings.get(str(item.id), findings.get(item.id)) or {}
        accepted = finding.get("accepted", decision == "passed")
        item.accepted = bool(accepted)
        item.verifier_comment = str(finding.get("comment", ""))[:2000]
        if not item.accepted:
            rejected.append(item)
    return rejected or list(order.items)


def _reissue(session, order, rejected, due) -> RectificationOrder:
    fresh = RectificationOrder(
        instance_id=order.instance_id,
        review_id=order.review_id,
        level=order.level,
        round=order.round + 1,
        due_at=due,
        items=[
            RectificationItem(indicator_id=i.indicator_id, description=i.description)
            for i in rejected
        ],
    )
    session.add(fresh)
    session.flush()
    return fresh
