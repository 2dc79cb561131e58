"""Keep the human_task table equal to the user tasks the engine has waiting.

The inbox reads that table, never a workflow, so after every save the rows of the
saved instances are compared with their workflows: tasks no longer waiting are
cancelled, new ones are added. Many instances are synced with one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import HumanTask, ProcessInstance, utcnow
from processes import engine


@dataclass(frozen=True)
class ReadyTask:
    """A human task waiting after a step, as callers need to route on it."""

    id: int
    bpmn_id: str
    title: str
    lane: str
    form_key: str
    new: bool = False


def sync(
    session: Session, saved: Sequence[tuple[ProcessInstance, SpiffWorkflow]]
) -> dict[int, list[ReadyTask]]:
    """Match the human tasks of saved instances to their workflows, by instance id."""
    rows_by_instance = _waiting_rows(session, [instance.id for instance, _ in saved])
    waiting, stale = {}, []
    for instance, workflow in saved:
        ready = {str(task.id): task for task in engine.ready_user_tasks(workflow)}
        rows = rows_by_instance.get(instance.id, [])
        kept = [
            ReadyTask(r.id, r.bpmn_id, r.title, r.lane, r.form_key, new=False)
            for r in rows
            if r.task_uuid in ready
        ]
        stale += [row.id for row in rows if row.task_uuid not in ready]
        for row in rows:
            ready.pop(row.task_uuid, None)
        created = add(session, instance, workflow, ready.values())
        waiting[instance.id] = (kept, created)

    if stale:
        session.execute(
            update(HumanTask)
            .where(HumanTask.id.in_(stale))
            .values(state="cancelled", completed_at=utcnow())
        )
    session.flush()
    return {
        instance_id: kept + [ready_view(task) for task in created]
        for instance_id, (kept, created) in waiting.items()
    }


def _waiting_rows(session: Session, instance_ids: list[int]) -> dict[int, list]:
    query = select(
        HumanTask.id,
        HumanTask.instance_id,
        HumanTask.task_uuid,
        HumanTask.bpmn_id,
        HumanTask.title,
        HumanTask.lane,
        HumanTask.form_key,
    ).where(HumanTask.instance_id.in_(instance_ids), HumanTask.state == "ready")
    rows: dict[int, list] = {}
    for row in session.execute(query):
        rows.setdefault(row.instance_id, []).append(row)
    return rows


def ready_view(task: HumanTask) -> ReadyTask:
    """Describe a task created by this step."""
    return ReadyTask(
        task.id, task.bpmn_id, task.title, task.lane, task.form_key, new=True
    )


def add(
    session: Session,
    instance: ProcessInstance,
    workflow: SpiffWorkflow,
    tasks: Iterable,
) -> list[HumanTask]:
    """Add a human task row for each waiting engine task given."""
    created = []
    for task in tasks:
        view = engine.describe(workflow, task)
        row = HumanTask(
            task_uuid=view.task_uuid,
            instance_id=instance.id,
            bpmn_id=view.bpmn_id,
            title=view.title,
            lane=view.lane or "",
            form_key=view.form_key or "",
            instructions=view.instructions,
            office_path=instance.scope_path,
            unit_id=instance.unit_id,
            cycle_id=instance.cycle_id,
            round=_round_of(task),
            due_at=view.due_at,
        )
        session.add(row)
        created.append(row)
    return created


def _round_of(task) -> int:
    value = task.data.get("rectification_round")
    return value + 1 if isinstance(value, int) else 1
