"""The JSON shapes of the API: tasks, forms, instances, tokens and steps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from app.models import ApiToken, Cycle, HumanTask, Unit, User
from app.services import rectification
from app.services.inbox import InboxItem, InboxPage, InstanceView, item_for
from app.services.indicators import IndicatorRule, catalog_for_cycle
from forms.registry import FORM_KEYS
from processes.runner import StepResult

INDICATOR_FORMS = ("unit_submission", "review")
ORDER_FORMS = ("rectification", "verification")


def _field(
    name: str, kind: str, description: str, *, required: bool = True, **more: object
) -> dict:
    return {
        "name": name,
        "type": kind,
        "required": required,
        "description": description,
        **more,
    }


FORM_FIELDS: dict[str, list[dict]] = {
    "unit_submission": [
        _field(
            "responses",
            "object",
            "indicator code → {self_score, explanation} for every indicator the "
            "unit answers (base and bonus, not office_only); self_score from 0 to "
            "the indicator's points; explanation within the indicator's character "
            "limits. Evidence files are uploaded on the submission page before "
            "completing; the evidence rules below say how many each needs.",
            required=True,
        ),
    ],
    "leader_signoff": [
        _field("decision", "string", "approve or return", enum=["approve", "return"]),
        _field("opinion", "string", "required when returning", required=False),
    ],
    "review": [
        _field(
            "decision",
            "string",
            "approve, rectify or fail; a veto item requires fail",
            enum=["approve", "rectify", "fail"],
        ),
        _field(
            "scores",
            "object",
            "indicator code → score from 0 to its points; every base indicator "
            "needs one; deductions have no upper bound",
            required=True,
        ),
        _field("vetoes", "array", "codes of veto items found", required=False),
        _field("opinion", "string", "at most 2000 characters", required=False),
        _field(
            "fail_reason",
            "string",
            "required when failing without a veto item",
            required=False,
        ),
        _field(
            "items",
            "array",
            "when rectifying: at least one {indicator?, description}",
            required=False,
        ),
        _field(
            "rectification_due",
            "string",
            "when rectifying: an ISO 8601 date-time in the future",
            format="date-time",
            required=False,
        ),
    ],
    "rectification": [
        _field(
            "responses",
            "object",
            "rectification item id → what the unit did (required for every item)",
            required=True,
        ),
    ],
    "verification": [
        _field("decision", "string", "passed or redo", enum=["passed", "redo"]),
        _field("opinion", "string", "at most 2000 characters", required=False),
        _field(
            "items",
            "object",
            "rectification item id → {accepted: bool, comment}; unlisted items "
            "follow the decision",
            required=False,
        ),
        _field(
            "rectification_due",
            "string",
            "when redoing: an ISO 8601 date-time in the future",
            format="date-time",
            required=False,
        ),
    ],
    "title_propose": [
        _field(
            "proposal",
            "string",
            "keep, yellow_card, rectify or revoke",
            enum=["keep", "yellow_card", "rectify", "revoke"],
        ),
        _field(
            "rectify_days",
            "integer",
            "when rectifying: whole days from 1 to 365",
            required=False,
        ),
        _field("reason", "string", "at most 2000 characters", required=True),
    ],
    "title_approve": [
        _field("decision", "string", "approve or return", enum=["approve", "return"]),
        _field(
            "opinion",
            "string",
            "required when returning; at most 2000 characters",
            required=False,
        ),
    ],
    "title_objections": [
        _field("decision", "string", "uphold or change", enum=["uphold", "change"]),
        _field(
            "proposal",
            "string",
            "when changing: keep, yellow_card, rectify or revoke",
            enum=["keep", "yellow_card", "rectify", "revoke"],
            required=False,
        ),
        _field(
            "rectify_days",
            "integer",
            "when changing to rectify: whole days from 1 to 365",
            required=False,
        ),
        _field(
            "opinion",
            "string",
            "required when changing; at most 2000 characters",
            required=False,
        ),
    ],
    "public_triage": [
        _field("decision", "string", "accept or reject", enum=["accept", "reject"]),
        _field("reason", "string", "required when rejecting", required=False),
    ],
    "public_verify": [
        _field("confirmed", "string", "yes or no", enum=["yes", "no"]),
        _field("findings", "string", "what the verification found"),
        _field("deduction", "string", "when confirmed: G2 or none", required=False),
        _field("rectify_days", "integer", "when confirmed: 1 to 90", required=False),
        _field(
            "start_title_review", "string", "when confirmed: yes or no", required=False
        ),
    ],
    "public_rectify": [_field("response", "string", "the measures taken")],
    "public_check": [
        _field("decision", "string", "accept or return", enum=["accept", "return"]),
        _field("opinion", "string", "required when returning", required=False),
    ],
    "public_feedback": [
        _field("reply", "string", "the reply published on the tracking page")
    ],
}


def iso(moment: datetime | None) -> str | None:
    """Write an instant in ISO 8601 UTC with a Z suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def number(value: Decimal | None) -> int | float | None:
    """Write a decimal as a JSON number, whole numbers without a fraction."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def person(user: User | None) -> dict | None:
    """Write a user as id and display name."""
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def named(thing: Unit | Cycle | None) -> dict | None:
    """Write a unit or cycle as id and name."""
    return None if thing is None else {"id": thing.id, "name": thing.name}


def task_item(item: InboxItem) -> dict:
    """Write a task as the inbox lists it."""
    task = item.task
    return {
        "id": task.id,
        "title": task.title,
        "form_key": task.form_key,
        "lane": task.lane,
        "round": task.round,
        "state": task.state,
        "unit": named(item.unit),
        "cycle": named(item.cycle),
        "due_at": iso(task.due_at),
        "created_at": iso(task.created_at),
        "claimed_by": person(item.claimed_by),
        "instance_id": task.instance_id,
    }


def task_detail(session: Session, task: HumanTask) -> dict:
    """Write a task with its instructions, instance version and form."""
    return {
        **task_item(item_for(session, task)),
        "instructions": task.instructions,
        "lock_version": task.instance.lock_version,
        "form": form_description(session, task),
    }


def form_description(session: Session, task: HumanTask) -> dict:
    """Describe the data that completes the task's form."""
    info = FORM_KEYS.get(task.form_key)
    form = {
        "key": task.form_key,
        "title": info.title if info else task.form_key,
        "fields": FORM_FIELDS.get(task.form_key, []),
    }
    if task.form_key in INDICATOR_FORMS and task.cycle_id is not None:
        catalog = catalog_for_cycle(session, task.cycle_id)
        form["indicators"] = [indicator(rule) for rule in catalog.indicators]
    if task.form_key in ORDER_FORMS and task.state == "ready":
        form["order"] = order_json(session, task)
    return form


def indicator(rule: IndicatorRule) -> dict:
    """Write an indicator with its scoring and evidence rules."""
    return {
        "code": rule.code,
        "name": rule.name,
        "kind": rule.kind,
        "points": number(rule.points),
        "office_only": rule.office_only,
        "answerable_by_unit": rule.answerable_by_unit,
        "evidence": {
            "min_photos": rule.min_photos,
            "min_documents": rule.min_documents,
            "min_explanation_chars": rule.min_explanation_chars,
            "max_explanation_chars": rule.max_explanation_chars,
        },
    }


def order_json(session: Session, task: HumanTask) -> dict:
    """Write the instance's open rectification order and its items."""
    order = rectification.open_order(session, task.instance_id)
    codes = {}
    if task.cycle_id is not None:
        catalog = catalog_for_cycle(session, task.cycle_id)
        codes = {rule.id: rule.code for rule in catalog.indicators}
    return {
        "id": order.id,
        "level": order.level,
        "round": order.round,
        "status": order.status,
        "due_at": iso(order.due_at),
        "items": [
            {
                "id": item.id,
                "indicator": codes.get(item.indicator_id),
                "description": item.description,
                "response": item.response,
                "accepted": item.accepted,
                "verifier_comment": item.verifier_comment,
            }
            for item in order.items
        ],
    }


def page_json(page: InboxPage) -> dict:
    """Write one inbox page with its counts."""
    counts = dict(page.counts)
    counts["cycle"] = {str(k): v for k, v in counts.get("cycle", {}).items()}
    return {
        "items": [task_item(item) for item in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "counts": counts,
    }


def step_json(result: StepResult) -> dict:
    """Write what completing a task changed."""
    return {
        "instance_id": result.instance.id,
        "status": result.instance.status,
        "ready_tasks": [
            {
                "id": task.id,
                "bpmn_id": task.bpmn_id,
                "title": task.title,
                "lane": task.lane,
                "form_key": task.form_key,
            }
            for task in result.ready_tasks
        ],
    }


def instance_json(view: InstanceView) -> dict:
    """Write an instance with its active tasks and its timeline."""
    instance = view.instance
    return {
        "id": instance.id,
        "status": instance.status,
        "outcome": instance.outcome,
        "process": {"key": view.process_key, "version": view.process_version},
        "business_key": instance.business_key,
        "unit": named(view.unit),
        "cycle": named(view.cycle),
        "lock_version": instance.lock_version,
        "started_at": iso(instance.started_at),
        "completed_at": iso(instance.completed_at),
        "active_tasks": [task_item(item) for item in view.active_tasks],
        "timeline": [
            {
                "at": iso(entry.event.at),
                "action": entry.event.action,
                "actor": person(entry.actor),
                "detail": entry.event.detail or {},
            }
            for entry in view.timeline
        ],
    }


def token_json(record: ApiToken) -> dict:
    """Write a token's description; the token itself is never stored."""
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": iso(record.created_at),
        "last_used_at": iso(record.last_used_at),
        "revoked_at": iso(record.revoked_at),
    }
