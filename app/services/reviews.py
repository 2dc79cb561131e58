"""Reviews by the county, city and province offices: scores, opinion, decision."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select

from app.models import (
    RectificationItem,
    RectificationOrder,
    Review,
    ReviewScore,
    record_event,
)
from app.services.fields import FieldErrors, choice, future_instant, number, text
from app.services.indicators import compute_score
from app.services.submissions import indicator_system_of
from app.services.tasks import run_step

DECISIONS = ("approve", "rectify", "fail")


def complete_review(session, user, task, data, expected_version):
    """Record a level's review and route the task by its decision."""
    system = indicator_system_of(session, task)
    errors = FieldErrors()
    decision = choice(errors, "decision", data.get("decision"), DECISIONS)
    scores = _read_scores(errors, system, data.get("scores"))
    vetoes = _read_vetoes(errors, system, data.get("vetoes", []))
    opinion = text(errors, "opinion", data.get("opinion"), max_chars=2000)
    fail_reason = text(errors, "fail_reason", data.get("fail_reason"), max_chars=2000)
    if vetoes and decision in ("approve", "rectify"):
        errors.add("decision", "a veto item fails the unit; choose fail")
    if decision == "fail" and not (fail_reason or vetoes):
        errors.add("fail_reason", "give the reason the unit fails")
    items, due = [], None
    if decision == "rectify":
        items = _read_items(errors, system, data.get("items"))
        due = future_instant(errors, "rectification_due", data.get("rectification_due"))
    errors.raise_if_any("the review cannot be recorded")

    by_id = {indicator.id: value for indicator, value in scores}
    breakdown = compute_score(system, by_id, {i.id for i in vetoes})
    review = Review(
        instance_id=task.instance_id,
        level=task.lane,
        round=task.round,
        reviewer_id=user.id,
        decision=decision,
        opinion=opinion,
        fail_reason=fail_reason,
        total_score=breakdown.total,
        vetoed=breakdown.vetoed,
    )
    session.add(review)
    session.flush()
    rows = [{"indicator_id": i.id, "score": v, "veto": False} for i, v in scores]
    rows += [{"indicator_id": i.id, "score": Decimal(0), "veto": True} for i in vetoes]
    session.execute(
        insert(ReviewScore), [dict(row, review_id=review.id) for row in rows]
    )
    record_event(
        session,
        "review.recorded",
        actor_id=user.id,
        instance_id=task.instance_id,
        object_type="review",
        object_id=review.id,
        level=task.lane,
        decision=decision,
        total_score=str(breakdown.total),
        opinion=opinion,
    )

    workflow_data = {"decision": decision}
    if decision == "rectify":
        _order(session, task, review, items, due)
        workflow_data.update(
            ordering_level=task.lane, rectification_due=due.isoformat()
        )
    result = run_step(session, user, task, workflow_data, expected_version)
    if decision == "rectify":
        _mark_unissued_order(session, task, result)
    return result


def _read_scores(errors, system, raw) -> list:
    if not isinstance(raw, dict):
        errors.add("scores", "give a score for every indicator")
        return []
    scored = []
    known = {i.code for i in system.scoring_indicators()}
    for code in raw:
        if code not in known:
            errors.add(f"scores.{code}", "not an indicator of this system")
    for indicator in system.scoring_indicators():
        if indicator.kind == "veto":
            continue
        if indicator.code not in raw:
            if indicator.kind == "base":
                errors.add(f"scores.{indicator.code}", "give a score")
            continue
        maximum = None if indicator.kind == "deduction" else indicator.points
        value = number(
            errors,
            f"scores.{indicator.code}",
            raw[indicator.code],
            minimum=Decimal(0),
            maximum=maximum,
        )
        if value is not None:
            scored.append((indicator, value))
    return scored


def _read_vetoes(errors, system, raw) -> list:
    if not isinstance(raw, list):
        errors.add("vetoes", "give a list of veto item codes")
        return []
    vetoes = {i.code: i for i in system.scoring_indicators() if i.kind == "veto"}
    found = []
    for code in raw:
        if code not in vetoes:
            errors.add("vetoes", f"{code!r} is not a veto item of this system")
        else:
            found.append(vetoes[code])
    return found


def _read_items(errors, system, raw) -> list[tuple]:
    if not isinstance(raw, list) or not raw:
        errors.add("items", "name at least one shortcoming to rectify")
        return []
    indicators = {i.code: i for i in system.scoring_indicators()}
    items = []
    for number_, item in enumerate(raw, start=1):
        field = f"items.{number_}"
        if not isinstance(item, dict):
            errors.add(field, "give a description")
            continue
        description = text(
            errors, field, item.get("description"), required=True, max_chars=1000
        )
        code = item.get("indicator")
        if code and code not in indicators:
            errors.add(field, f"{code!r} is not an indicator of this system")
        items.append((indicators.get(code), description))
    return items


def _order(session, task, review, items, due) -> RectificationOrder:
    order = RectificationOrder(
        instance_id=task.instance_id,
        review_id=review.id,
        level=task.lane,
        round=task.round,
        due_at=due,
        items=[
            RectificationItem(indicator_id=i.id if i else None, description=d)
            for i, d in items
        ],
    )
    session.add(order)
    session.flush()
    return order


def _mark_unissued_order(session, task, result) -> None:
    if any(t.form_key == "rectification" for t in result.ready_tasks):
        return
    query = (
        select(RectificationOrder)
        .where(RectificationOrder.instance_id == task.instance_id)
        .order_by(RectificationOrder.id.desc())
    )
    order = session.scalars(query).first()
    order.status = "limit_reached"
