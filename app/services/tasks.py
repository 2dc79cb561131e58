"""Human tasks: finding, claiming and completing them with permission checks."""

from __future__ import annotations

import logging

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from app.models import HumanTask, User, record_event, utcnow
from app.services import notifications, scope
from app.services.base import transaction
from app.services.effects import apply_effects
from processes import runner
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)


def get_task(session: Session, user: User, task_id: int) -> HumanTask:
    """Return a human task the user may see, or raise NotFound."""
    return _visible(user, task_id, session.get(HumanTask, task_id))


def _task_with_instance(session: Session, user: User, task_id: int) -> HumanTask:
    """Load a task with its instance's current state in one query."""
    query = (
        select(HumanTask)
        .options(joinedload(HumanTask.instance).options(*runner.instance_options()))
        .where(HumanTask.id == task_id)
        .execution_options(populate_existing=True)
    )
    return _visible(user, task_id, session.scalars(query).first())


def _visible(user: User, task_id: int, task: HumanTask | None) -> HumanTask:
    if task is None or not scope.sees_path(user, task.office_path):
        raise NotFound(f"task {task_id} does not exist or is outside your scope")
    return task


def actionable_tasks(session: Session, user: User) -> list[HumanTask]:
    """Return the ready tasks the user may act on: claimed by them or unclaimed."""
    query = (
        select(HumanTask)
        .where(HumanTask.state == "ready")
        .where(scope.actionable_filter(user))
        .where(
            or_(HumanTask.claimed_by_id.is_(None), HumanTask.claimed_by_id == user.id)
        )
        .order_by(HumanTask.due_at, HumanTask.id)
    )
    return list(session.scalars(query))


def claim(session: Session, user: User, task_id: int) -> HumanTask:
    """Claim a ready task for the user; a task claimed by someone else is refused."""
    with transaction(session):
        task = get_task(session, user, task_id)
        scope.check_can_act(user, task)
        _check_ready(session, task)
        if task.claimed_by_id == user.id:
            return task
        claimed = session.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id)
            .where(HumanTask.state == "ready")
            .where(HumanTask.claimed_by_id.is_(None))
            .values(claimed_by_id=user.id, claimed_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.refresh(task)
            raise Conflict(_taken_message(session, task))
        session.refresh(task)
        _audit(session, "task.claimed", user, task)
    return task


def unclaim(session: Session, user: User, task_id: int) -> HumanTask:
    """Release a claimed task back to its lane."""
    with transaction(session):
        task = get_task(session, user, task_id)
        _check_ready(session, task)
        if task.claimed_by_id is None:
            return task
        if task.claimed_by_id != user.id and not _administers(user, task):
            raise Forbidden(
                "only the person who claimed a task, or an office "
                "administrator in scope, can release it"
            )
        task.claimed_by_id = None
        task.claimed_at = None
        _audit(session, "task.unclaimed", user, task)
    return task


def assign(session: Session, admin: User, task_id: int, assignee_id: int) -> HumanTask:
    """Let an office administrator give a task, claimed or not, to a reviewer."""
    with transaction(session):
        task = get_task(session, admin, task_id)
        if not _administers(admin, task):
            raise Forbidden("only an office administrator in scope can assign tasks")
        _check_ready(session, task)
        assignee = session.get(User, assignee_id)
        if assignee is None or not scope.can_act(assignee, task):
            raise InvalidInput(
                f"the chosen person cannot work the {task.lane} lane of this task"
            )
        previous = task.claimed_by_id
        task.claimed_by_id = assignee.id
        task.claimed_at = utcnow()
        _audit(session, "task.assigned", admin, task)
        notifications.notify_users(
            session,
            [assignee.id],
            "assigned",
            task.title,
            task_id=task.id,
            instance_id=task.instance_id,
        )
        logger.info(
            "task %s assigned to %s (was %s)",
            task.id,
            assignee.id,
            previous,
            extra={"task_id": task.id},
        )
    return task


def complete(
    session: Session,
    user: User,
    task_id: int,
    data: dict,
    *,
    expected_version: int | None = None,
) -> runner.StepResult:
    """Complete a task with its form's data, all in one transaction."""
    from app.services.forms import handler_for

    with transaction(session):
        task = _task_with_instance(session, user, task_id)
        scope.check_can_act(user, task)
        _check_ready(session, task)
        if task.claimed_by_id not in (None, user.id):
            raise Conflict(_taken_message(session, task))
        if not isinstance(data, dict):
            raise InvalidInput("the form data must be an object of field values")
        handler = handler_for(task.form_key)
        result = handler(session, user, task, data, expected_version)
    return result


def run_step(
    session: Session,
    user: User,
    task: HumanTask,
    workflow_data: dict,
    expected_version: int | None,
) -> runner.StepResult:
    """Complete the task in the workflow, apply its effects, announce new tasks."""
    result = runner.complete_task(
        session,
        task,
        data=workflow_data,
        actor_id=user.id,
        expected_version=expected_version,
        on_effects=apply_effects,
    )
    sent_back = task.lane != "unit" and any(
        t.new and t.lane == "unit" for t in result.ready_tasks
    )
    notifications.announce_new_tasks(session, [result], returned=sent_back)
    return result


def _check_ready(session: Session, task: HumanTask) -> None:
    if task.state == "ready":
        return
    if task.state == "completed":
        who = session.get(User, task.completed_by_id) if task.completed_by_id else None
        name = who.display_name if who else "someone else"
        when = (
            task.completed_at.strftime("%Y-%m-%d %H:%M UTC")
            if task.completed_at
            else ""
        )
        raise Conflict(
            f"task “{task.title}” was already completed by {name} {when}".strip()
        )
    raise Conflict(f"task “{task.title}” is no longer waiting ({task.state})")


def _taken_message(session: Session, task: HumanTask) -> str:
    if task.state != "ready":
        return f"task “{task.title}” is no longer waiting ({task.state})"
    holder = session.get(User, task.claimed_by_id) if task.claimed_by_id else None
    name = holder.display_name if holder else "someone else"
    return f"task “{task.title}” is claimed by {name}"


def _administers(user: User, task: HumanTask) -> bool:
    return user.has_role("office_admin") and scope.sees_path(user, task.office_path)


def _audit(session: Session, action: str, user: User, task: HumanTask) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        instance_id=task.instance_id,
        task_uuid=task.task_uuid,
        task=task.bpmn_id,
    )
